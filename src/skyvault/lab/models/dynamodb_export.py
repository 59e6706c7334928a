"""Lab model: DynamoDB export to S3 (ExportTableToPointInTime) and import from S3 (ImportTable), as AWS writes and
reads them.

What AWS does (DynamoDB Developer Guide, "DynamoDB data export to Amazon S3: how it works",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.HowItWorks.html; "DynamoDB table
export output format", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html;
"Requesting a table export in DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
S3DataExport_Requesting.html; API Reference "ExportTableToPointInTime", "DescribeExport", "ImportTable",
"DescribeImport"; "DynamoDB data import from Amazon S3: how it works", https://docs.aws.amazon.com/amazondynamodb/
latest/developerguide/S3DataImport.HowItWorks.html):

- An export needs point-in-time recovery on the table (else ``PointInTimeRecoveryUnavailableException``); it is
  asynchronous: ``ExportStatus`` is ``IN_PROGRESS``, then ``COMPLETED`` (or ``FAILED`` with a ``FailureCode``, e.g.
  ``S3NoSuchBucket``). The export ARN is ``<table ARN>/export/<ExportId>``; ``ExportTime`` is the point in time
  exported (default: now); ``ItemCount`` and ``BilledSizeBytes`` are reported once it completes, with
  ``ExportManifest``, the S3 key of ``manifest-summary.json``.
- Under ``<S3Prefix>/AWSDynamoDB/<ExportId>/`` it writes ``_started`` (at the start), ``data/<random>.json.gz``
  (several gzipped files; DYNAMODB_JSON: one ``{"Item":{...}}`` per line, typed attribute values),
  ``manifest-files.json`` (one JSON object per line per data file: ``itemCount``, ``md5Checksum``, ``etag``,
  ``dataFileS3Key``), ``manifest-summary.json`` (``version``, ``exportArn``, ``startTime``, ``endTime``,
  ``tableArn``, ``tableId``, ``exportTime``, ``s3Bucket``, ``s3Prefix``, ``s3SseAlgorithm``, ``s3SseKmsKeyId``,
  ``manifestFilesS3Key``, ``billedSizeBytes``, ``itemCount``, ``outputFormat``, ``exportType``), and the ``.md5``
  of each manifest.
- An incremental export (``ExportType=INCREMENTAL_EXPORT``, ``IncrementalExportSpecification``: ``ExportFromTime``,
  ``ExportToTime`` (default: now), ``ExportViewType`` (default ``NEW_AND_OLD_IMAGES``)) covers 15 minutes to 24 hours
  within the PITR window (else ``InvalidExportTimeException``) and writes the same files; each data line is one
  item's net change in the window: ``{"Metadata":{"WriteTimestampMicros":...},"Keys":{...},"NewImage":{...},
  "OldImage":{...}}``, no ``NewImage`` for an item deleted, no ``OldImage`` for one created or with ``NEW_IMAGE``
  ("DynamoDB table export output format", incremental export output). DescribeExport reports its
  ``IncrementalExportSpecification`` instead of an ``ExportTime``.
- An import creates a *new* table (an existing name: ``ResourceInUseException``) that is ``CREATING`` until the
  import completes; ``ImportStatus`` ``IN_PROGRESS`` -> ``COMPLETED`` (or ``FAILED``), with ``ProcessedItemCount``,
  ``ImportedItemCount``, ``ErrorCount`` (lines that could not be imported are counted, not fatal). Its
  ``TableCreationParameters`` take keys, attribute definitions, billing mode, throughput, GSIs and SSE (no LSIs,
  no tags, no TTL, no stream).

What moto 5 does: the export is synchronous, writes one data file under a fresh random folder (not the export's
id), no manifests, a malformed ARN, no ``ExportTime``/``ExportManifest``; the import is synchronous and creates
the table straight away, ACTIVE, replacing nothing but never refusing a taken name before its thread runs.

What the lab does: the above AWS behaviour for full and incremental exports (the table's items are taken at request
time, the files written ``EXPORT_DELAY_S`` later by a thread, ``ITEMS_PER_FILE`` items per data file) and for
imports of
DYNAMODB_JSON (``GZIP`` or ``NONE``) from every object under the prefix (files that are not ``.json``/``.json.gz``
data, such as manifests, are skipped); SSE settings of the import reach the new table.

An incremental export is the difference between the state the lab remembered at an earlier export of the table
(full or incremental: the last few within 24 hours) and the current state, so ``ExportFromTime`` must be such an
export's time and ``ExportToTime`` now (else a ValidationException naming the lab); ``WriteTimestampMicros`` is the
window's end, not each write's time. The 15-minute minimum window is AWS's by default; ``configure`` (the lab's
``model-settings`` route, ``min_incremental_window_s``) shortens it for tests.

Not modelled: ``ExportTime`` in the past (the lab exports the current state), ION and CSV formats, S3 server-side
encryption of the exported objects, the import's CloudWatch Logs, and the caller's S3 permissions that AWS checks
for the service's reads and writes (IAM in the lab sees only the DynamoDB request).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import secrets
import threading
import time
from typing import Any

MIN_WINDOW_S = 15 * 60.0  # AWS: an incremental export covers at least 15 minutes...
MAX_WINDOW_S = 24 * 3600.0  # ... and at most 24 hours
_SNAPSHOTS = "_skyvault_export_snapshots"
_settings: dict[str, float] = {"min_incremental_window_s": MIN_WINDOW_S}
EXPORT_DELAY_S = 0.3
IMPORT_DELAY_S = 0.3
ITEMS_PER_FILE = 500
_CREATING = "_skyvault_importing"
_applied = False


def _export_id() -> str:
    """AWS's form: 13 digits of milliseconds, a dash, 8 hex characters."""
    return f"{int(time.time() * 1000):013d}-{secrets.token_hex(4)}"


class _Export:
    def __init__(self, *, backend_account: str, region: str, table: Any, bucket: str, bucket_owner: str,
                 prefix: str, export_format: str, lines: list[str], billed: int,
                 incremental: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.id = _export_id()
        self.arn = f"{table.table_arn}/export/{self.id}"
        self.table_arn = table.table_arn
        self.table_id = getattr(table, "table_id", None) or hashlib.md5(table.table_arn.encode()).hexdigest()
        self.account = backend_account
        self.region = region
        self.bucket = bucket
        self.bucket_owner = bucket_owner
        self.prefix = prefix
        self.format = export_format
        self.status = "IN_PROGRESS"
        self.start = time.time()
        self.export_time = self.start
        self.incremental = incremental  # ExportFromTime, ExportToTime, ExportViewType of an incremental export
        self.export_type = "INCREMENTAL_EXPORT" if incremental else "FULL_EXPORT"
        self.end: float | None = None
        self.failure: tuple[str, str] | None = None
        self.item_count = 0
        self.billed = 0
        self.manifest_key: str | None = None
        self.lines = lines  # what is exported, prepared at request time (the thread writes it later)
        self.billed_at_end = billed

    def base(self) -> str:
        return f"{self.prefix.rstrip('/')}/AWSDynamoDB/{self.id}" if self.prefix else f"AWSDynamoDB/{self.id}"

    def run(self, s3_backend: Any) -> None:
        time.sleep(EXPORT_DELAY_S)
        try:
            s3_backend.get_bucket(self.bucket)
        except Exception:
            self.failure = ("S3NoSuchBucket", "The specified bucket does not exist")
            self.status, self.end = "FAILED", time.time()
            return
        try:
            self._write(s3_backend)
        except Exception as exc:  # the export fails, as AWS reports a failed export: in its description
            self.failure = ("UNKNOWN", str(exc))
            self.status, self.end = "FAILED", time.time()

    def _write(self, s3_backend: Any) -> None:
        base = self.base()
        s3_backend.put_object(self.bucket, f"{base}/_started", b"")
        entries = []
        for start in range(0, len(self.lines), ITEMS_PER_FILE):
            chunk = self.lines[start : start + ITEMS_PER_FILE]
            body = gzip.compress("".join(line + "\n" for line in chunk).encode())
            key = f"{base}/data/{secrets.token_hex(13)}.json.gz"
            made = s3_backend.put_object(self.bucket, key, body)
            entries.append({"itemCount": len(chunk), "md5Checksum": _b64md5(body),
                            "etag": str(made.etag).strip('"'), "dataFileS3Key": key})  # fmt: skip
        files = "".join(json.dumps(e) + "\n" for e in entries).encode()
        files_key = f"{base}/manifest-files.json"
        s3_backend.put_object(self.bucket, files_key, files)
        s3_backend.put_object(self.bucket, f"{base}/manifest-files.md5", hashlib.md5(files).hexdigest().encode())
        self.item_count = len(self.lines)
        self.billed = self.billed_at_end
        self.end = time.time()
        summary = {
            "version": "2020-06-30", "exportArn": self.arn, "startTime": _iso(self.start), "endTime": _iso(self.end),
            "tableArn": self.table_arn, "tableId": self.table_id, "exportTime": _iso(self.export_time),
            "s3Bucket": self.bucket, "s3Prefix": self.prefix or None, "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None, "manifestFilesS3Key": files_key, "billedSizeBytes": self.billed,
            "itemCount": self.item_count, "outputFormat": self.format, "exportType": self.export_type,
        }  # fmt: skip
        if self.incremental:
            summary.update(exportFromTime=_iso(self.incremental["ExportFromTime"]),
                           exportToTime=_iso(self.incremental["ExportToTime"]),
                           exportViewType=self.incremental["ExportViewType"])  # fmt: skip
        summary_bytes = json.dumps(summary).encode()
        self.manifest_key = f"{base}/manifest-summary.json"
        s3_backend.put_object(self.bucket, self.manifest_key, summary_bytes)
        s3_backend.put_object(self.bucket, f"{base}/manifest-summary.md5",
                              hashlib.md5(summary_bytes).hexdigest().encode())  # fmt: skip
        self.lines = []
        self.status = "COMPLETED"

    def response(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "ExportArn": self.arn, "ExportStatus": self.status, "StartTime": self.start, "TableArn": self.table_arn,
            "TableId": self.table_id, "ExportTime": self.export_time, "S3Bucket": self.bucket,
            "S3BucketOwner": self.bucket_owner, "S3Prefix": self.prefix, "S3SseAlgorithm": "AES256",
            "ExportFormat": self.format, "ExportType": self.export_type,
        }  # fmt: skip
        if self.incremental:
            del described["ExportTime"]
            described["IncrementalExportSpecification"] = dict(self.incremental)
        if self.status != "IN_PROGRESS":
            described.update(EndTime=self.end, ItemCount=self.item_count, BilledSizeBytes=self.billed)
        if self.manifest_key:
            described["ExportManifest"] = self.manifest_key
        if self.failure:
            described.update(FailureCode=self.failure[0], FailureMessage=self.failure[1])
        return described


class _Import:
    def __init__(self, *, arn: str, table_arn: str, table_id: str, source: dict[str, Any], input_format: str,
                 compression: str, creation: dict[str, Any]) -> None:  # fmt: skip
        self.arn, self.table_arn, self.table_id = arn, table_arn, table_id
        self.source, self.format, self.compression, self.creation = source, input_format, compression, creation
        self.status = "IN_PROGRESS"
        self.start = time.time()
        self.end: float | None = None
        self.processed = self.imported = self.errors = self.processed_bytes = 0
        self.failure: tuple[str, str] | None = None

    def run(self, s3_backend: Any, table: Any) -> None:
        time.sleep(IMPORT_DELAY_S)
        try:
            bucket = s3_backend.get_bucket(self.source["S3Bucket"])
        except Exception:
            self.failure = ("S3NoSuchBucket", "The specified bucket does not exist")
            self.status, self.end = "FAILED", time.time()
            setattr(table, _CREATING, False)
            return
        prefix = self.source.get("S3KeyPrefix") or ""
        listed, _, _, _ = s3_backend.list_objects(bucket, prefix=prefix, delimiter=None, marker=None, max_keys=None)
        for key in sorted(listed, key=lambda k: k.name):
            if not key.name.endswith((".json", ".json.gz", ".gz")) or key.name.endswith("manifest-files.json"):
                continue
            body = key.value
            if self.compression == "GZIP":
                try:
                    body = gzip.decompress(body)
                except OSError:
                    self.errors += 1
                    continue
            for raw in body.splitlines():
                if not raw.strip():
                    continue
                self.processed += 1
                self.processed_bytes += len(raw)
                try:
                    table.put_item(json.loads(raw)["Item"])
                    self.imported += 1
                except Exception:  # AWS counts a line it cannot import as an error and goes on
                    self.errors += 1
        self.status, self.end = "COMPLETED", time.time()
        setattr(table, _CREATING, False)

    def response(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "ImportArn": self.arn, "ImportStatus": self.status, "TableArn": self.table_arn, "TableId": self.table_id,
            "S3BucketSource": self.source, "InputFormat": self.format, "InputCompressionType": self.compression,
            "TableCreationParameters": self.creation, "StartTime": self.start, "ProcessedItemCount": self.processed,
            "ProcessedSizeBytes": self.processed_bytes, "ImportedItemCount": self.imported,
            "ErrorCount": self.errors,
        }  # fmt: skip
        if self.end is not None:
            described["EndTime"] = self.end
        if self.failure:
            described.update(FailureCode=self.failure[0], FailureMessage=self.failure[1])
        return described


def configure(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"min_incremental_window_s": S}``: shorten AWS's 15-minute minimum window of an incremental export, so a
    test can export incrementally without waiting (``reset`` restores AWS's)."""
    value = settings.get("min_incremental_window_s")
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError("'min_incremental_window_s' is a number of seconds >= 0")
    _settings["min_incremental_window_s"] = float(value)
    return dict(_settings)


def reset() -> None:
    _settings["min_incremental_window_s"] = MIN_WINDOW_S


def _epoch(value: Any) -> float:
    """A timestamp of the request (moto parses it into a datetime; a number is epoch seconds)."""
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _b64md5(body: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.md5(body).digest()).decode()


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def apply() -> None:
    global _applied
    if _applied:
        return
    responses: Any = importlib.import_module("moto.dynamodb.responses")
    errors: Any = importlib.import_module("moto.dynamodb.exceptions")
    table_module: Any = importlib.import_module("moto.dynamodb.models.table")
    dump: Any = importlib.import_module("moto.dynamodb.models.utilities").dynamo_json_dump
    action_result: Any = importlib.import_module("moto.core.responses").ActionResult
    handler_class = responses.DynamoHandler

    def s3_backend(account: str, region: str) -> Any:
        s3_models: Any = importlib.import_module("moto.s3.models")
        partition = importlib.import_module("moto.utilities.utils").get_partition(region)
        return s3_models.s3_backends[account][partition]

    def invalid_time(message: str) -> Exception:
        error: Exception = errors.DynamodbException(errors.ERROR_TYPE_PREFIX + "InvalidExportTimeException", message)
        return error

    def snapshot(table: Any) -> dict[str, tuple[str, Any]]:
        """The table's items now: canonical key JSON -> (the item's DYNAMODB_JSON, the item)."""
        state = {}
        for found in table.all_items():
            key = {table.hash_key_attr: found.attrs[table.hash_key_attr]}
            if table.range_key_attr:
                key[table.range_key_attr] = found.attrs[table.range_key_attr]
            state[dump(key)] = (dump(found.attrs), found)
        return state

    def changes(table: Any, spec: dict[str, Any], now: float) -> tuple[list[str], int, dict[str, Any]]:
        """The incremental export's lines: one per item changed between the two times (its net change)."""
        since = _epoch(spec["ExportFromTime"])
        until = _epoch(spec.get("ExportToTime") or now)
        view = spec.get("ExportViewType") or "NEW_AND_OLD_IMAGES"
        earliest = float(table.continuous_backups["PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"])
        window = until - since
        if since < earliest - 0.001 or until > now + 0.001:
            raise invalid_time("ExportFromTime and ExportToTime must be within the point in time recovery window")
        if window < _settings["min_incremental_window_s"] or window > MAX_WINDOW_S:
            raise invalid_time("The incremental export period must be between 15 minutes and 24 hours")
        if until < now - 1.0:
            raise errors.MockValidationException("the skyvault lab exports up to now only (ExportToTime: now)")
        before = next((state for at, state in getattr(table, _SNAPSHOTS, []) if abs(at - since) < 0.002), None)
        if before is None:
            raise errors.MockValidationException(
                "the skyvault lab starts an incremental export at an earlier export's time only (ExportFromTime)"
            )
        after = snapshot(table)
        stamp = {"WriteTimestampMicros": {"N": str(int(until * 1_000_000))}}
        lines, billed = [], 0
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            if old is not None and new is not None and old[0] == new[0]:
                continue
            parts = [f'"Metadata":{json.dumps(stamp)}', f'"Keys":{key}']
            if new is not None:
                parts.append(f'"NewImage":{new[0]}')
                billed += new[1].size()
            if old is not None and view == "NEW_AND_OLD_IMAGES":
                parts.append(f'"OldImage":{old[0]}')
            lines.append("{" + ",".join(parts) + "}")
        remember(table, until, after)
        return lines, billed, {"ExportFromTime": since, "ExportToTime": until, "ExportViewType": view}

    def remember(table: Any, at: float, state: dict[str, tuple[str, Any]]) -> None:
        kept = [pair for pair in getattr(table, _SNAPSHOTS, []) if at - pair[0] <= MAX_WINDOW_S][-7:]
        setattr(table, _SNAPSHOTS, [*kept, (at, state)])

    def export_table(self: Any) -> Any:
        body = self.body
        backend = self.dynamodb_backend
        table = next((t for t in backend.tables.values() if t.table_arn == body["TableArn"]), None)
        if table is None:
            raise errors.TableNotFoundException(name=body["TableArn"])
        pitr = table.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        if pitr != "ENABLED":
            raise errors.PointInTimeRecoveryUnavailable(name=table.name)
        now = time.time()
        incremental = None
        if (body.get("ExportType") or "FULL_EXPORT") == "INCREMENTAL_EXPORT":
            spec = body.get("IncrementalExportSpecification") or {}
            if spec.get("ExportFromTime") is None:
                raise errors.MockValidationException("IncrementalExportSpecification.ExportFromTime is required")
            lines, billed, incremental = changes(table, spec, now)
        else:
            state = snapshot(table)
            lines = ['{"Item":' + line + "}" for line, _ in state.values()]
            billed = sum(found.size() for _, found in state.values())
            remember(table, now, state)
        owner = body.get("S3BucketOwner") or backend.account_id
        made = _Export(backend_account=owner, region=backend.region_name, table=table, bucket=body["S3Bucket"],
                       bucket_owner=owner, prefix=body.get("S3Prefix") or "",
                       export_format=body.get("ExportFormat") or "DYNAMODB_JSON", lines=lines, billed=billed,
                       incremental=incremental)  # fmt: skip
        made.start = made.export_time = now
        backend.table_exports[made.arn] = made
        threading.Thread(target=made.run, args=(s3_backend(owner, backend.region_name),), daemon=True).start()
        return action_result({"ExportDescription": made.response()})

    def describe_export(self: Any) -> Any:
        found = self.dynamodb_backend.table_exports.get(self.body["ExportArn"])
        if not isinstance(found, _Export):
            raise errors.ResourceNotFoundException(f"Export not found: {self.body['ExportArn']}")
        return action_result({"ExportDescription": found.response()})

    def list_exports(self: Any) -> Any:
        table_arn = self.body.get("TableArn")
        summaries = [
            {"ExportArn": e.arn, "ExportStatus": e.status, "ExportType": e.export_type}
            for e in self.dynamodb_backend.table_exports.values()
            if isinstance(e, _Export) and (table_arn is None or e.table_arn == table_arn)
        ]
        return action_result({"ExportSummaries": summaries})

    def import_table(self: Any) -> Any:
        body = self.body
        backend = self.dynamodb_backend
        creation = dict(body["TableCreationParameters"])
        name = creation["TableName"]
        if name in backend.tables:
            raise errors.ResourceInUseException(f"Table already exists: {name}")
        if (body.get("InputFormat") or "DYNAMODB_JSON") != "DYNAMODB_JSON":
            raise errors.MockValidationException("the skyvault lab imports DYNAMODB_JSON only")
        billing = creation.get("BillingMode") or "PROVISIONED"
        self._validate_table_creation(
            billing_mode=billing, throughput=creation.get("ProvisionedThroughput"), key_schema=creation["KeySchema"],
            global_indexes=creation.get("GlobalSecondaryIndexes"), local_secondary_indexes=None,
            attr=creation["AttributeDefinitions"], warm_throughput=None,
        )  # fmt: skip
        table = backend.create_table(
            name=name, billing_mode=billing, throughput=creation.get("ProvisionedThroughput"),
            schema=creation["KeySchema"], global_indexes=creation.get("GlobalSecondaryIndexes"), indexes=None,
            attr=creation["AttributeDefinitions"], sse_specification=creation.get("SSESpecification"), streams=None,
            tags=[], deletion_protection_enabled=False, warm_throughput=None,
        )  # fmt: skip
        setattr(table, _CREATING, True)
        made = _Import(
            arn=f"{table.table_arn}/import/{_export_id()}", table_arn=table.table_arn,
            table_id=getattr(table, "table_id", "") or "", source=dict(body["S3BucketSource"]),
            input_format="DYNAMODB_JSON", compression=body.get("InputCompressionType") or "NONE", creation=creation,
        )  # fmt: skip
        backend.table_imports[made.arn] = made
        owner = made.source.get("S3BucketOwner") or backend.account_id
        threading.Thread(target=made.run, args=(s3_backend(owner, backend.region_name), table), daemon=True).start()
        return action_result({"ImportTableDescription": made.response()})

    def describe_import(self: Any) -> Any:
        found = self.dynamodb_backend.table_imports.get(self.body["ImportArn"])
        if not isinstance(found, _Import):
            raise errors.ResourceNotFoundException(f"Import not found: {self.body['ImportArn']}")
        return action_result({"ImportTableDescription": found.response()})

    handler_class.export_table_to_point_in_time = export_table
    handler_class.describe_export = describe_export
    handler_class.list_exports = list_exports
    handler_class.import_table = import_table
    handler_class.describe_import = describe_import

    original_describe = table_module.Table.describe

    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result: dict[str, Any] = original_describe(self, base_key)
        if getattr(self, _CREATING, False):
            result[base_key]["TableStatus"] = "CREATING"
        return result

    table_module.Table.describe = describe
    _applied = True
