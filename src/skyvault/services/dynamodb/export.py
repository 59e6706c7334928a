"""DynamoDB through S3: ``backup --method export`` (ExportTableToPointInTime, ingested into the library) and
``restore --via import`` (the point's items staged in S3, ImportTable into a new table).

Export (AWS: "DynamoDB data export to Amazon S3: how it works", "DynamoDB table export output format"): the table
needs point-in-time recovery (skyvault never turns it on: the error names the command); the export reads no
capacity. skyvault asks for a full DYNAMODB_JSON export under ``skyvault-dynamodb/<table>/<point>/`` of the bucket
(recorded as an intermediate *before* the request, so a failure or a kill deletes what the export wrote), follows
it with DescribeExport (exponential backoff), reads ``manifest-summary.json`` -> ``manifest-files.json`` -> each
gzipped data file, and writes the items into the library in the tree format of the scan method: segments of
items in canonical form, sorted by key. A scan's segments are DynamoDB's (Scan's ``Segment``); an export's are
skyvault's own, a hash of the partition key, so the same item always lands in the same segment and an unchanged
table re-exported stores only a new manifest. The exported objects are deleted afterwards unless kept.

Incremental: with an earlier export point of the table (at most 24 hours old) skyvault asks for an incremental
export from that point's export time; its lines (``Keys``, ``NewImage``, ``OldImage``) are applied to that point's
tree, segment by segment (unchanged segments reused as they are). AWS refuses windows under 15 minutes or outside
the PITR window: skyvault then exports in full.

Import (AWS: "DynamoDB data import from Amazon S3", API Reference "ImportTable"): ImportTable creates a *new*
table from DYNAMODB_JSON files, using no write capacity. Its TableCreationParameters carry keys, attribute
definitions, billing mode and throughput, GSIs and SSE; they cannot carry local secondary indexes (refused here,
before anything is written: restore without ``--via import``), nor tags, TTL, stream, PITR, deletion protection
or table class, which are applied once the import completed. The staged objects are an intermediate too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError, ConflictError, LibraryCorruptError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import TreeReader
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import TAG_PREFIX
from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb.scan import KIND, SCHEMA_KEY, choose_segments, segment_key
from skyvault.services.dynamodb.schema import TABLE_ARN, key_names

if TYPE_CHECKING:
    from skyvault.aws.clients import DynamoDBClient, S3Client

EXPORT_OBJECTS = "dynamodb-export-objects"  # intermediate: objects an export or an import staging wrote
PREFIX = "skyvault-dynamodb"
SEGMENTING = "partition-key-hash"
EXPORT_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*/export/*"
IMPORT_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*/import/*"
_BUCKET = "arn:${Partition}:s3:::*"
_OBJECTS = f"arn:${{Partition}}:s3:::*/{PREFIX}/*"  # only under skyvault's own prefix
STAGED_FILE_BYTES = 64 * 1024 * 1024
MAX_INCREMENTAL_WINDOW = timedelta(hours=24)  # AWS: an incremental export covers 15 minutes to 24 hours
# What AWS answers an incremental export it will not make (window too short or too long, before the PITR window,
# PITR turned off and on since): skyvault exports in full instead.
INCREMENTAL_REFUSALS = (
    "InvalidExportTimeException",
    "ValidationException",
)  # uncompressed bytes per staged import file
PITR_HINT = (
    "turn it on yourself (it has a cost): aws dynamodb update-continuous-backups --table-name {table} "
    "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true; or back up with --method scan"
)


def _d(operation: str, feature: Feature, step: str, purpose: str, resources: tuple[str, ...], **kw: Any) -> None:
    declare(policy="dynamodb", service=kw.pop("service", "dynamodb"), operation=operation, feature=feature,
            step=step, purpose=purpose, resources=resources, **kw)  # fmt: skip


B, R = Feature.BACKUP, Feature.RESTORE
# The export writes its files as the caller (Developer Guide, "Requesting a table export": s3:AbortMultipartUpload,
# s3:PutObject, s3:PutObjectAcl on the bucket): companions of the request, not calls of skyvault's.
_d("ExportTableToPointInTime", B, "export table", "--method export: export the table (full, or incremental since "
   f"the previous export; DYNAMODB_JSON) under {PREFIX}/<table>/<point>/ of the export bucket; DynamoDB writes "
   "the files with the caller's S3 permissions.",
   (TABLE_ARN, _OBJECTS), actions=("dynamodb:ExportTableToPointInTime", "s3:AbortMultipartUpload", "s3:PutObject",
                                   "s3:PutObjectAcl"))  # fmt: skip
_d("DescribeExport", B, "wait for export", "Follow the export until it is COMPLETED (backoff).", (EXPORT_ARN,))
_d("GetObject", B, "ingest export", "Read the export's manifests and gzipped data files.", (_OBJECTS,),
   service="s3")  # fmt: skip
_d("ListObjectsV2", B, "remove export objects", "List what the export wrote under skyvault's prefix, to delete it.",
   (_BUCKET,), service="s3", actions=("s3:ListBucket",))  # fmt: skip
# DeleteObject is not marked destructive: the exported and staged files carry no tags (DynamoDB writes them), and
# the resource ARN already limits it to skyvault's own prefix (as the library's files are limited to theirs).
_d("DeleteObject", B, "remove export objects", "Delete the exported files once ingested (also after a failure or "
   "a kill: they are recorded as an intermediate).", (_OBJECTS,), service="s3")  # fmt: skip
_d("ListExports", B, "remove export objects", "Before deleting a killed job's export files, check the export is "
   "no longer writing them.", ("*",))  # fmt: skip
_d("DescribeExport", B, "remove export objects", "Find which export writes under the prefix being cleaned.",
   (EXPORT_ARN,))  # fmt: skip
_d("PutObject", R, "stage items", "--via import: write the point's items as gzipped DYNAMODB_JSON under "
   f"{PREFIX}/import/ of the bucket.", (_OBJECTS,), service="s3")  # fmt: skip
# ImportTable reads the files and logs to CloudWatch Logs as the caller (Developer Guide, "Requesting a table import
# in DynamoDB", IAM permissions): companions of the request.
# (The guide scopes the logs actions to log-group:/aws-dynamodb/*; the IAM reference's log group names hold no
# '/', so the templates here name every log group of the account and region.)
_IMPORT_LOGS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents",
                "logs:PutRetentionPolicy")  # fmt: skip
_LOG_GROUPS = ("arn:${Partition}:logs:${Region}:${Account}:log-group:*",
               "arn:${Partition}:logs:${Region}:${Account}:log-group:*:log-stream:*")  # fmt: skip
_d("ImportTable", R, "import table", "--via import: create the new table from the staged files (no write capacity "
   "used); DynamoDB reads them and writes its import log group with the caller's permissions.",
   (TABLE_ARN, _OBJECTS, *_LOG_GROUPS), actions=("dynamodb:ImportTable", "s3:GetObject", *_IMPORT_LOGS))  # fmt: skip
_d("ImportTable", R, "import table", "ImportTable lists the staged files as the caller.", (_BUCKET,),
   actions=("s3:ListBucket",))  # fmt: skip
_d("ImportTable", R, "import table", "ImportTable looks up its log group as the caller (DescribeLogGroups takes no "
   "resource).", ("*",), actions=("logs:DescribeLogGroups",))  # fmt: skip
_d("DescribeImport", R, "import table", "Follow the import until it is COMPLETED (backoff).", (IMPORT_ARN,))
_d("ListObjectsV2", R, "remove staged objects", "List the staged files, to delete them.", (_BUCKET,), service="s3",
   actions=("s3:ListBucket",))  # fmt: skip
_d("DeleteObject", R, "remove staged objects", "Delete the staged files after the import (also after a failure "
   "or a kill: recorded as an intermediate).", (_OBJECTS,), service="s3")  # fmt: skip
_d("TagResource", R, "restore settings", "Give the imported table the source's tags (ImportTable takes none).",
   (TABLE_ARN,), tags_write=True)  # fmt: skip
_d("UpdateTable", R, "restore settings", "Turn the source's stream, deletion protection and table class back on "
   "for an imported table (ImportTable takes none of them).", (TABLE_ARN,))  # fmt: skip


def export_prefix(table: str, point_id: str) -> str:
    return f"{PREFIX}/{table}/{point_id}"


def import_prefix(point_id: str, job_id: str) -> str:
    return f"{PREFIX}/import/{point_id}/{job_id}"


def objects_id(table_arn: str, bucket: str, prefix: str) -> str:
    """The intermediate's id: the table (to find a still-running export) and where the objects are."""
    return f"{table_arn}#objects:s3://{bucket}/{prefix}/"


def _backoff(delay: float) -> float:
    return min(15.0, delay * 2)


# -- export -------------------------------------------------------------------------------------------------------
def require_pitr(schema: dict[str, Any]) -> None:
    """An export needs point-in-time recovery; skyvault never turns it on (it costs, and it is the owner's call)."""
    if not schema.get("pitr"):
        table = str(schema["table_name"])
        raise ConflictError(
            f"table {table} does not have point-in-time recovery: an export needs it, and skyvault does not turn "
            "it on; nothing was exported",
            hint=PITR_HINT.format(table=table),
        )


def start_export(
    client: DynamoDBClient, schema: dict[str, Any], bucket: str, prefix: str, *, since: str | None = None
) -> dict[str, Any]:
    """A full export, or (``since``: the previous export's time, ISO 8601) an incremental one from then to now."""
    table = str(schema["table_name"])
    require_pitr(schema)
    params: dict[str, Any] = {"TableArn": schema["table_arn"], "S3Bucket": bucket, "S3Prefix": prefix,
                              "ExportFormat": "DYNAMODB_JSON", "ExportType": "FULL_EXPORT"}  # fmt: skip
    if since is not None:
        params["ExportType"] = "INCREMENTAL_EXPORT"
        params["IncrementalExportSpecification"] = {
            "ExportFromTime": datetime.fromisoformat(since),
            "ExportViewType": "NEW_AND_OLD_IMAGES",
        }
    try:
        started = client.export_table_to_point_in_time(**params)["ExportDescription"]
    except AwsError as exc:
        if exc.code == "PointInTimeRecoveryUnavailableException":
            raise ConflictError(
                f"table {table}: point-in-time recovery is not enabled (AWS: {exc}); nothing was exported",
                hint=PITR_HINT.format(table=table),
            ) from exc
        raise
    kind = "incremental" if since is not None else "full"
    return {"export_arn": started["ExportArn"], "bucket": bucket, "prefix": prefix, "type": kind, "since": since}


def wait_export(client: DynamoDBClient, arn: str, *, timeout_s: float = 24 * 3600.0,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        described: dict[str, Any] = dict(client.describe_export(ExportArn=arn)["ExportDescription"])
        status = described.get("ExportStatus")
        if status == "COMPLETED":
            # the state the export holds: ExportTime (full), the window's end (incremental)
            export_time = described.get("ExportTime") or (described.get("IncrementalExportSpecification") or {}).get(
                "ExportToTime"
            )
            return {
                "export_arn": arn, "manifest": described["ExportManifest"],
                "items": int(described.get("ItemCount") or 0),
                "billed_bytes": int(described.get("BilledSizeBytes") or 0),
                "export_time": export_time.isoformat() if isinstance(export_time, datetime) else export_time,
                "type": "incremental" if described.get("ExportType") == "INCREMENTAL_EXPORT" else "full",
            }  # fmt: skip
        if status == "FAILED":
            raise AwsError(
                f"export {arn} failed: {described.get('FailureCode')}: {described.get('FailureMessage')}",
                code=str(described.get("FailureCode") or ""), operation="ExportTableToPointInTime",
                hint="check the export bucket exists and that DynamoDB may write to it (bucket policy, KMS key)",
            )  # fmt: skip
        if time.monotonic() > deadline:
            raise ConflictError(f"export {arn} is still {status} after {timeout_s:.0f} s")
        if progress is not None:
            progress(f"export {status}")
        time.sleep(delay)
        delay = _backoff(delay)


def _read_object(s3: S3Client, bucket: str, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def data_files(s3: S3Client, bucket: str, manifest_key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(manifest-summary.json, the entries of manifest-files.json)."""
    summary: dict[str, Any] = json.loads(_read_object(s3, bucket, manifest_key))
    files_key = str(summary["manifestFilesS3Key"])
    lines = _read_object(s3, bucket, files_key).decode().splitlines()
    return summary, [json.loads(line) for line in lines if line.strip()]


def segment_of(item: dict[str, Any], partition_key: str, total: int) -> int:
    """skyvault's segment of an item: a hash of its partition key's canonical form (type and value)."""
    digest = hashlib.sha256(codec.wire_sort_key(item, [partition_key])).digest()
    return (int.from_bytes(digest[:8], "big") * total) >> 64


@dataclass
class ExportIngest:
    manifest: Manifest
    items: int
    checksum: int
    segments: int
    reused_segments: int
    stats: dict[str, Any] = field(default_factory=dict)


def ingest(repo: Repository, s3: S3Client, *, bucket: str, export: dict[str, Any], schema: dict[str, Any],
           source: str, parent: Manifest | None, workers: int, meta: dict[str, Any],
           progress: Callable[[int], None] | None = None) -> ExportIngest:  # fmt: skip
    """The export's items into a library tree: spooled per segment on local disk (bounded memory), each segment
    sorted by key and written, or reused from the parent when it is unchanged."""
    started = time.perf_counter()
    keys = key_names(schema)
    summary, entries = data_files(s3, bucket, str(export["manifest"]))
    parent_meta = (parent.meta or {}) if parent is not None else {}
    previous = int(parent_meta.get("total_segments") or 0) if parent_meta.get("segmenting") == SEGMENTING else 0
    size = int(summary.get("billedSizeBytes") or schema.get("size_bytes") or 0)
    total = choose_segments(size, workers, previous or None)
    count = 0
    with tempfile.TemporaryDirectory(prefix="skyvault-export-") as spool:
        paths = [Path(spool) / f"{i:07d}" for i in range(total)]
        with _Pool(workers) as pool:
            for rows in pool.map(lambda e: _parse_file(s3, bucket, e, keys, total), entries):
                for index, lines in rows.items():
                    with paths[index].open("ab") as out:
                        out.writelines(lines)
                    count += len(lines)
                if progress is not None:
                    progress(count)
        listed = sum(int(e.get("itemCount") or 0) for e in entries)
        if count != listed or count != int(summary.get("itemCount", count)):
            raise LibraryCorruptError(
                f"export {export['export_arn']} lists {listed} items ({summary.get('itemCount')} in its summary), "
                f"its files hold {count}; nothing was stored"
            )
        result = _write_tree(repo, _spooled(paths), total, source=source, schema=schema, parent=parent,
                             meta={**meta, "segmenting": SEGMENTING, "export_arn": export["export_arn"],
                                   "export_time": export.get("export_time")})  # fmt: skip
    duration = time.perf_counter() - started
    result.stats.update(
        duration_s=round(duration, 3), items_per_s=round(result.items / duration, 1) if duration > 0 else None,
        data_files=len(entries), export_billed_bytes=int(summary.get("billedSizeBytes") or 0),
        consumed_read_units=0,
    )  # fmt: skip
    return result


def ingest_incremental(repo: Repository, s3: S3Client, *, bucket: str, export: dict[str, Any],
                       schema: dict[str, Any], source: str, base: Manifest, workers: int, meta: dict[str, Any],
                       progress: Callable[[int], None] | None = None) -> ExportIngest:  # fmt: skip
    """An incremental export applied to the previous export's tree (``base``): each changed item's NewImage put in
    its segment, or the item removed when it has none (deleted); segments without changes are reused as they are.
    The changes are held in memory (one incremental export's worth)."""
    started = time.perf_counter()
    keys = key_names(schema)
    total = int(base.meta["total_segments"])
    summary, entries = data_files(s3, bucket, str(export["manifest"]))
    changes: dict[int, dict[bytes, bytes | None]] = {}
    count = 0
    with _Pool(workers) as pool:
        for rows in pool.map(lambda e: _parse_changes(s3, bucket, e, keys, total), entries):
            for index, found in rows.items():
                changes.setdefault(index, {}).update(found)
                count += len(found)
            if progress is not None:
                progress(count)
    listed = sum(int(e.get("itemCount") or 0) for e in entries)
    if count != listed or count != int(summary.get("itemCount", count)):
        raise LibraryCorruptError(
            f"incremental export {export['export_arn']} lists {listed} changes ({summary.get('itemCount')} in its "
            f"summary), its files hold {count}; nothing was stored"
        )
    reader = TreeReader(repo, base)

    def segment_lines(index: int) -> list[bytes] | None:
        changed = changes.get(index)
        if not changed:
            return None
        entry = reader.get(segment_key(index))
        if entry is None:
            raise LibraryCorruptError(f"the previous export's tree has no {segment_key(index)}")
        rows = {
            codec.wire_sort_key(json.loads(line)["Item"], keys): line for line in codec.split_lines(reader.read(entry))
        }
        for sort_key, line in changed.items():
            if line is None:
                rows.pop(sort_key, None)
            else:
                rows[sort_key] = line
        return [rows[k] for k in sorted(rows)]

    result = _write_tree(repo, segment_lines, total, source=source, schema=schema, parent=base,
                         meta={**meta, "segmenting": SEGMENTING, "export_arn": export["export_arn"],
                               "export_time": export.get("export_time"), "export_type": "incremental"})  # fmt: skip
    duration = time.perf_counter() - started
    result.stats.update(
        duration_s=round(duration, 3), items_per_s=round(result.items / duration, 1) if duration > 0 else None,
        data_files=len(entries), export_billed_bytes=int(summary.get("billedSizeBytes") or 0),
        consumed_read_units=0, changed_items=count,
    )  # fmt: skip
    return result


def _parse_changes(s3: S3Client, bucket: str, entry: dict[str, Any], keys: list[str],
                   total: int) -> dict[int, dict[bytes, bytes | None]]:  # fmt: skip
    """One gzipped file of an incremental export -> per segment: sort key -> the item's new line, or None when the
    item was deleted (no NewImage)."""
    raw = _read_object(s3, bucket, str(entry["dataFileS3Key"]))
    rows: dict[int, dict[bytes, bytes | None]] = {}
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as text:
        for line in text:
            if not line.strip():
                continue
            change = json.loads(line)
            key = change["Keys"]
            new = change.get("NewImage")
            rows.setdefault(segment_of(key, keys[0], total), {})[codec.wire_sort_key(key, keys)] = (
                codec.wire_line(new) if new is not None else None
            )
    return rows


def incremental_since(export_time: str | None, now: datetime | None = None) -> str | None:
    """The previous export's time if an incremental export from it can be asked for (within 24 hours: AWS's
    maximum window), else None (a full export). The 15-minute minimum is left to AWS: a refusal falls back."""
    if not export_time:
        return None
    try:
        then = datetime.fromisoformat(export_time)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return export_time if (now or datetime.now(UTC)) - then <= MAX_INCREMENTAL_WINDOW else None


class _Pool:
    """A small ordered thread map (data files downloaded and parsed in parallel, spooled in order)."""

    def __init__(self, workers: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dynamodb-export")

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def map(self, fn: Callable[[Any], Any], values: list[Any]) -> Iterator[Any]:
        import contextvars

        return self._pool.map(lambda v: contextvars.copy_context().run(fn, v), values)


def _parse_file(
    s3: S3Client, bucket: str, entry: dict[str, Any], keys: list[str], total: int
) -> dict[int, list[bytes]]:
    """One gzipped data file -> ``sort key \\t canonical line`` rows per segment."""
    raw = _read_object(s3, bucket, str(entry["dataFileS3Key"]))
    rows: dict[int, list[bytes]] = {}
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as text:
        for line in text:
            if not line.strip():
                continue
            item = json.loads(line)["Item"]
            rows.setdefault(segment_of(item, keys[0], total), []).append(
                codec.wire_sort_key(item, keys) + b"\t" + codec.wire_line(item)
            )
    return rows


def _spooled(paths: list[Path]) -> Callable[[int], list[bytes] | None]:
    def lines(index: int) -> list[bytes]:
        rows: list[tuple[bytes, bytes]] = []
        path = paths[index]
        if path.exists():
            with path.open("rb") as spooled:
                for row in spooled:
                    sort_key, _, line = row.partition(b"\t")
                    rows.append((sort_key, line))
            path.unlink()
        rows.sort()
        return [line for _, line in rows]

    return lines


def _write_tree(repo: Repository, segment_lines: Callable[[int], list[bytes] | None], total: int, *, source: str,
                schema: dict[str, Any], parent: Manifest | None, meta: dict[str, Any]) -> ExportIngest:  # fmt: skip
    """One tree: segment by segment, ``segment_lines(index)`` its sorted lines (written, or the parent's entry
    reused when equal), or None for "unchanged": the parent's entry as it is."""
    parent_reader = TreeReader(repo, parent) if parent is not None else None
    writer = repo.open_tree_writer(KIND, source, parent=parent)
    item_count = table_sum = reused = 0
    for index in range(total):
        key = segment_key(index)
        lines = segment_lines(index)
        if lines is None:
            kept = parent_reader.get(key) if parent_reader is not None else None
            if kept is None:
                raise LibraryCorruptError(f"the previous export's tree has no {key}")
            writer.add_entry(kept)
            reused += 1
            item_count += int(kept.meta["items"])
            table_sum = (table_sum + int(str(kept.meta["checksum"]), 16)) % codec.MOD
            continue
        digest = hashlib.sha256()
        for line in lines:
            digest.update(line)
        segment_sum = codec.checksum(lines)
        item_count += len(lines)
        table_sum = (table_sum + segment_sum) % codec.MOD
        entry_meta = {"segment": index, "total_segments": total, "items": len(lines), "sha256": digest.hexdigest(),
                      "checksum": f"{segment_sum:032x}"}  # fmt: skip
        old = parent_reader.get(key) if parent_reader is not None else None
        if old is not None and old.meta == entry_meta:
            writer.add_entry(old)
            reused += 1
        else:
            writer.add(key, entry_meta, iter(lines) if lines else b"")
    schema_bytes = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    old_schema = parent_reader.get(SCHEMA_KEY) if parent_reader is not None else None
    schema_meta = {"sha256": hashlib.sha256(schema_bytes).hexdigest()}
    if old_schema is not None and old_schema.meta == schema_meta:
        writer.add_entry(old_schema)
    else:
        writer.add(SCHEMA_KEY, schema_meta, schema_bytes)
    manifest = writer.commit(meta={**meta, "table": schema["table_name"], "items": item_count,
                                   "checksum": f"{table_sum:032x}", "total_segments": total,
                                   "key_attributes": key_names(schema)})  # fmt: skip
    stats: dict[str, Any] = {**manifest.stats, "items": item_count, "segments": total, "reused_segments": reused,
                             "library_snapshot": manifest.id, "parent_snapshot": manifest.parent}  # fmt: skip
    return ExportIngest(manifest, item_count, table_sum, total, reused, stats)


# -- the objects an export or a staging wrote: deleted after the job, or by the cleaner ---------------------------
def delete_objects(s3: S3Client, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` (a folder of skyvault's: ``skyvault-dynamodb/...``); returns how many.
    One DeleteObject per object: an export writes tens to hundreds of files, and IAM checks each one's ARN."""
    if not prefix.startswith(f"{PREFIX}/") or not prefix.endswith("/"):
        raise ConflictError(f"refusing to delete under {prefix!r}: not one of skyvault's export folders")
    deleted = 0
    while True:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        keys = [str(o["Key"]) for o in listed.get("Contents") or []]
        if not keys:
            return deleted
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)
        deleted += len(keys)


def parse_objects_id(item_id: str) -> tuple[str, str, str]:
    table_arn, _, where = item_id.partition("#objects:s3://")
    bucket, _, prefix = where.partition("/")
    return table_arn, bucket, prefix


def remove_objects(factory: ClientFactory, item: Any) -> None:
    """The cleaner: an export still writing under the prefix is waited for (AWS cannot cancel one), then every
    object under it is deleted."""
    table_arn, bucket, prefix = parse_objects_id(str(item.id))
    if "/import/" not in prefix:
        client = factory.client(item.account, item.region, "dynamodb")
        for summary in client.list_exports(TableArn=table_arn).get("ExportSummaries") or []:
            if summary.get("ExportStatus") != "IN_PROGRESS":
                continue
            described = client.describe_export(ExportArn=summary["ExportArn"])["ExportDescription"]
            if described.get("S3Bucket") == bucket and f"{described.get('S3Prefix', '')}/" == prefix:
                wait_export_done(client, summary["ExportArn"])
    s3 = factory.client(item.account, item.region, "s3")
    if delete_objects(s3, bucket, prefix) == 0:
        raise NotFoundError(f"nothing left under s3://{bucket}/{prefix}")


def wait_export_done(client: DynamoDBClient, arn: str) -> None:
    """Until the export stops writing (completed or failed)."""
    try:
        wait_export(client, arn, timeout_s=3600.0)
    except AwsError:
        return  # failed: it writes nothing more


# -- import ---------------------------------------------------------------------------------------------------------
def refuse_unimportable(schema: dict[str, Any], table: str) -> None:
    lsis = [i["name"] for i in schema.get("local_secondary_indexes") or []]
    if lsis:
        raise ConflictError(
            f"table {schema['table_name']} has local secondary indexes ({', '.join(lsis)}): ImportTable cannot "
            f"create them, and they cannot be added to {table} afterwards; nothing was done",
            hint="restore without --via import (BatchWriteItem restores them)",
        )


def import_params(schema: dict[str, Any], table: str, bucket: str, prefix: str, token: str) -> dict[str, Any]:
    """ImportTable's request: keys, the attribute definitions keys and GSIs use, billing, GSIs, SSE."""
    provisioned = schema["billing_mode"] == "PROVISIONED" and schema.get("throughput")
    used = {k["AttributeName"] for k in schema["key_schema"]}
    creation: dict[str, Any] = {
        "TableName": table,
        "KeySchema": schema["key_schema"],
        "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
    }
    if provisioned:
        creation["ProvisionedThroughput"] = {"ReadCapacityUnits": int(schema["throughput"]["read"]),
                                             "WriteCapacityUnits": int(schema["throughput"]["write"])}  # fmt: skip
    gsis = []
    for index in schema.get("global_secondary_indexes") or []:
        gsi: dict[str, Any] = {"IndexName": index["name"], "KeySchema": index["key_schema"],
                               "Projection": index["projection"]}  # fmt: skip
        used.update(k["AttributeName"] for k in index["key_schema"])
        if provisioned:
            throughput = index.get("throughput") or schema["throughput"]
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": int(throughput["read"]),
                                            "WriteCapacityUnits": int(throughput["write"])}  # fmt: skip
        gsis.append(gsi)
    if gsis:
        creation["GlobalSecondaryIndexes"] = gsis
    creation["AttributeDefinitions"] = [a for a in schema["attribute_definitions"] if a["AttributeName"] in used]
    sse = schema.get("sse")
    if sse:
        creation["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("type") or "KMS"}
        if sse.get("kms_key_arn"):
            creation["SSESpecification"]["KMSMasterKeyId"] = sse["kms_key_arn"]
    return {
        "ClientToken": token[:64], "S3BucketSource": {"S3Bucket": bucket, "S3KeyPrefix": prefix},
        "InputFormat": "DYNAMODB_JSON", "InputCompressionType": "GZIP", "TableCreationParameters": creation,
    }  # fmt: skip


def stage(s3: S3Client, bucket: str, prefix: str, lines: Iterator[bytes],
          progress: Callable[[int], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Write the lines as gzipped DYNAMODB_JSON files (the export's line format is ImportTable's input)."""
    count = files = 0
    total = 0
    buffer: list[bytes] = []
    size = 0

    def flush() -> None:
        nonlocal files, buffer, size
        if not buffer:
            return
        s3.put_object(Bucket=bucket, Key=f"{prefix}data-{files:06d}.json.gz", Body=gzip.compress(b"".join(buffer)))
        files += 1
        buffer, size = [], 0

    for line in lines:
        total = (total + codec.line_digest(line)) % codec.MOD
        buffer.append(line)
        size += len(line)
        count += 1
        if size >= STAGED_FILE_BYTES:
            flush()
            if progress is not None:
                progress(count)
    flush()
    return {"items": count, "checksum": f"{total:032x}", "files": files}


def wait_import(client: DynamoDBClient, arn: str, *, timeout_s: float = 24 * 3600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        described: dict[str, Any] = dict(client.describe_import(ImportArn=arn)["ImportTableDescription"])
        status = described.get("ImportStatus")
        if status == "COMPLETED":
            return {"imported_items": int(described.get("ImportedItemCount") or 0),
                    "import_errors": int(described.get("ErrorCount") or 0),
                    "processed_items": int(described.get("ProcessedItemCount") or 0)}  # fmt: skip
        if status in ("FAILED", "CANCELLED"):
            raise AwsError(
                f"import {arn} {status.lower()}: {described.get('FailureCode')}: {described.get('FailureMessage')}",
                code=str(described.get("FailureCode") or ""), operation="ImportTable",
                hint="the import's CloudWatch Logs group /aws-dynamodb/imports says which lines failed",
            )  # fmt: skip
        if time.monotonic() > deadline:
            raise ConflictError(f"import {arn} is still {status} after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = _backoff(delay)


def import_settings(client: DynamoDBClient, schema: dict[str, Any], table: str, table_arn: str) -> None:
    """What ImportTable cannot create: tags, stream, deletion protection, table class (TTL and PITR: by the caller,
    with ``restore.restore_settings``)."""
    tags = [
        {"Key": k, "Value": v} for k, v in sorted((schema.get("tags") or {}).items()) if not k.startswith(TAG_PREFIX)
    ]
    if tags:
        client.tag_resource(ResourceArn=table_arn, Tags=tags)  # type: ignore[arg-type]
    updates: list[dict[str, Any]] = []
    if schema.get("stream"):
        updates.append(
            {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": schema["stream"]["view_type"]}}
        )
    if schema.get("deletion_protection"):
        updates.append({"DeletionProtectionEnabled": True})
    if (schema.get("table_class") or "STANDARD") != "STANDARD":
        updates.append({"TableClass": schema["table_class"]})
    from skyvault.services.dynamodb.schema import wait_active

    for update in updates:  # one change per UpdateTable, as DynamoDB takes them
        client.update_table(TableName=table, **update)
        wait_active(client, table)
