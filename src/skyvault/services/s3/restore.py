"""Restore an S3 tree from the library into a bucket (the original or another), under the original or another prefix.

What is written: each object's bytes with its content type/encoding/disposition/language, cache control, expires,
user metadata, tags and storage class; its checksum is sent (``x-amz-checksum-*``, or Content-MD5 from a
single-part ETag) so that S3 itself verifies the bytes it stores are the bytes backed up. Object Lock retention
(when still in the future) and legal holds are applied when the target bucket has Object Lock enabled.

Which objects: a tree without versions restores every entry; a tree with versions restores, per key, the version
that was current at the backup, or with ``as_of`` the newest version modified at or before that time (a delete
marker there means the key did not exist then: nothing is written). History is not replayed: one version per key.

Never overwrites: before anything is written, the target prefix is listed once and compared with the keys to
write; any existing key refuses the restore (with the count) unless ``overwrite`` is given. Without
``overwrite`` every write is also conditional (``If-None-Match: *``), so an object created meanwhile is not
replaced either. Objects larger than ``multipart_threshold`` go up in parts (``part_size``) uploaded in parallel.
"""

from __future__ import annotations

import base64
import contextlib
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from skyvault.errors import AwsError, ConfirmationRequiredError, ConflictError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import TreeEntry, TreeReader
from skyvault.permissions import Feature
from skyvault.services.base import MIB
from skyvault.services.s3.backup import CHECKSUMS, DEFAULT_WORKERS, KIND, declare_s3, iso

if TYPE_CHECKING:
    from skyvault.aws.clients import S3Client

MULTIPART_THRESHOLD = 64 * MIB
RESTORE_PART_SIZE = 16 * MIB
PARTS_AT_ONCE = 4
MAX_PARTS = 10_000
WINDOW = 64
EXAMPLES = 10

_OUTPOST = "arn:${Partition}:s3-outposts:${Region}:${Account}:outpost/*"
_BUCKETS = ("arn:${Partition}:s3:::*", f"{_OUTPOST}/accesspoint/*", f"{_OUTPOST}/bucket/*")
_OBJECTS = ("arn:${Partition}:s3:::*/*", f"{_OUTPOST}/bucket/*/object/*")

declare_s3(operation="ListObjectsV2", feature=Feature.RESTORE, step="check target",
        purpose="List the target prefix once: a restore refuses to overwrite existing objects.",
        actions=("s3:ListBucket", "s3-outposts:ListBucket"), resources=_BUCKETS)  # fmt: skip
declare_s3(operation="GetBucketLocation", feature=Feature.RESTORE, step="check target",
        purpose="Find the target bucket's region.", actions=("s3:GetBucketLocation",),
        resources=_BUCKETS[:1])  # fmt: skip
declare_s3(operation="GetObjectLockConfiguration", feature=Feature.RESTORE,
        step="check target", purpose="Learn whether the target bucket takes Object Lock settings.",
        actions=("s3:GetBucketObjectLockConfiguration",), resources=_BUCKETS[:1])  # fmt: skip
_PUT_ACTIONS = ("s3:PutObject", "s3:PutObjectTagging", "s3-outposts:PutObject", "s3-outposts:PutObjectTagging")
_LOCK_ACTIONS = ("s3:PutObjectRetention", "s3:PutObjectLegalHold")
for _operation, _purpose in (
    ("PutObject", "Write each object with its metadata, tags and checksum (If-None-Match: never over an object)."),
    ("CreateMultipartUpload", "Start a large object's upload with its metadata and tags."),
    ("UploadPart", "Upload a large object's parts, in parallel."),
    ("CompleteMultipartUpload", "Finish a large object (If-None-Match: never over an object)."),
):
    declare_s3(operation=_operation, feature=Feature.RESTORE, step="write objects",
            purpose=_purpose, actions=_PUT_ACTIONS + _LOCK_ACTIONS, resources=_OBJECTS)  # fmt: skip
    declare_s3(operation=_operation, feature=Feature.RESTORE_OVERWRITE,
            step="overwrite objects", purpose=_purpose.split(" (")[0] + " over existing objects (--overwrite --yes).",
            actions=_PUT_ACTIONS + _LOCK_ACTIONS, resources=_OBJECTS)  # fmt: skip
declare_s3(operation="AbortMultipartUpload", feature=Feature.RESTORE, step="write objects",
        purpose="Abandon a large object's upload that failed (no orphan parts are left to bill).",
        actions=("s3:AbortMultipartUpload", "s3-outposts:AbortMultipartUpload"), resources=_OBJECTS)  # fmt: skip


def object_lock_enabled(client: S3Client, bucket: str) -> bool:
    try:
        config = client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except (NotFoundError, AwsError) as exc:
        code = getattr(exc, "code", "")
        if isinstance(exc, NotFoundError) or code in ("ObjectLockConfigurationNotFoundError", "NotImplemented"):
            return False  # no Object Lock (Outposts has none: NotImplemented)
        raise
    return config.get("ObjectLockEnabled") == "Enabled"


@dataclass(frozen=True)
class RestoreTuning:
    workers: int = DEFAULT_WORKERS
    multipart_threshold: int = MULTIPART_THRESHOLD
    part_size: int = RESTORE_PART_SIZE


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str  # replaces the backed-up prefix
    source_prefix: str

    def key(self, source_key: str) -> str:
        return self.prefix + source_key[len(self.source_prefix) :]


def parse_time(text: str) -> datetime:
    """``--as-of``: ISO 8601 (``2026-01-31T12:00:00Z``, a date alone means its start, UTC when no zone)."""
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConflictError(f"not a timestamp: {text!r}", hint="ISO 8601, e.g. 2026-01-31T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def select(reader: TreeReader, *, as_of: datetime | None) -> Iterator[TreeEntry]:
    """The entries to restore, in key order (see the module doc)."""
    cutoff = iso(as_of) if as_of is not None else None
    group: list[TreeEntry] = []

    def pick(entries: list[TreeEntry]) -> TreeEntry | None:
        if "\0" not in entries[0].key:  # a tree without versions: one entry per key
            return entries[0]
        if cutoff is not None:
            before = [e for e in entries if str(e.meta.get("last_modified", "")) <= cutoff]
            chosen = before[-1] if before else None
        else:
            latest = [e for e in entries if e.meta.get("is_latest")]
            chosen = latest[-1] if latest else entries[-1]
        return None if chosen is None or chosen.meta.get("delete_marker") else chosen

    for entry in reader.entries():
        if group and group[0].meta.get("key") != entry.meta.get("key"):
            chosen = pick(group)
            if chosen is not None:
                yield chosen
            group = []
        group.append(entry)
    if group:
        chosen = pick(group)
        if chosen is not None:
            yield chosen


def existing_keys(client: S3Client, bucket: str, prefix: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield str(obj["Key"])


def collisions(wanted: Iterator[str], existing: Iterator[str]) -> tuple[int, list[str]]:
    """How many of ``wanted`` (ascending) exist (``existing``, ascending), and the first few."""
    count, examples = 0, list[str]()
    other = next(existing, None)
    for key in wanted:
        while other is not None and other < key:
            other = next(existing, None)
        if other == key:
            count += 1
            if len(examples) < EXAMPLES:
                examples.append(key)
    return count, examples


def _future(value: str | None) -> bool:
    now = iso(datetime.now().astimezone()) or ""
    return bool(value) and str(value) > now


def put_params(meta: Mapping[str, Any], *, lock: bool, target_outposts: bool) -> dict[str, Any]:
    """The object's headers as PutObject/CreateMultipartUpload parameters."""
    params: dict[str, Any] = {}
    names = {
        "content_type": "ContentType",
        "content_encoding": "ContentEncoding",
        "content_disposition": "ContentDisposition",
        "content_language": "ContentLanguage",
        "cache_control": "CacheControl",
        "website_redirect_location": "WebsiteRedirectLocation",
    }
    for name, param in names.items():
        if meta.get(name):
            params[param] = meta[name]
    if meta.get("expires"):
        # An unparseable Expires header (S3 keeps it as given) is not restorable as a date.
        with contextlib.suppress(TypeError, ValueError):
            params["Expires"] = parsedate_to_datetime(str(meta["expires"]))
    if meta.get("metadata"):
        params["Metadata"] = dict(meta["metadata"])
    if meta.get("tags"):
        params["Tagging"] = urllib.parse.urlencode(dict(meta["tags"]))
    storage_class = str(meta.get("storage_class") or "STANDARD")
    if target_outposts:
        params["StorageClass"] = "OUTPOSTS"
    elif storage_class not in ("STANDARD", "OUTPOSTS"):
        params["StorageClass"] = storage_class
    object_lock = meta.get("object_lock") or {}
    if lock and object_lock:
        if object_lock.get("mode") and _future(object_lock.get("retain_until")):
            params["ObjectLockMode"] = object_lock["mode"]
            params["ObjectLockRetainUntilDate"] = parse_time(str(object_lock["retain_until"]))
        if object_lock.get("legal_hold") == "ON":
            params["ObjectLockLegalHoldStatus"] = "ON"
    return params


def integrity_params(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The original checksum for S3 to verify: a full-object x-amz-checksum-*, else Content-MD5 from the ETag of a
    single-part, non-KMS object (then the ETag is the MD5 of the bytes)."""
    checksum = meta.get("checksum") or {}
    algorithm, value = checksum.get("algorithm"), str(checksum.get("value") or "")
    if algorithm in CHECKSUMS and value and "-" not in value and checksum.get("type") != "COMPOSITE":
        return {"ChecksumAlgorithm": algorithm, f"Checksum{algorithm}": value}
    etag = str(meta.get("etag", "")).strip('"')
    kms = str(meta.get("sse") or "").startswith("aws:kms")  # SSE-KMS (and DSSE-KMS) ETags are not the MD5
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag) and not kms:
        return {"ContentMD5": base64.b64encode(bytes.fromhex(etag)).decode()}
    return {}


class Writer:
    def __init__(
        self,
        repo: Repository,
        reader: TreeReader,
        client: S3Client,
        target: Target,
        *,
        overwrite: bool,
        lock: bool,
        tuning: RestoreTuning,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.repo, self.reader, self.client, self.target = repo, reader, client, target
        self.overwrite, self.lock, self.tuning, self.pool = overwrite, lock, tuning, pool
        self.outposts = target.bucket.startswith("arn:")

    def _condition(self) -> dict[str, Any]:
        return {} if self.overwrite else {"IfNoneMatch": "*"}

    def _refused(self, exc: AwsError, key: str) -> Exception:
        if exc.code == "PreconditionFailed":
            return ConflictError(
                f"s3://{self.target.bucket}/{key} was created while the restore ran; it was not replaced",
                hint="restore again (with --overwrite --yes to replace it)",
            )
        return exc

    def put(self, entry: TreeEntry) -> int:
        key = self.target.key(str(entry.meta["key"]))
        body = b"".join(self.reader.read(entry))
        params = put_params(entry.meta, lock=self.lock, target_outposts=self.outposts)
        try:
            self.client.put_object(Bucket=self.target.bucket, Key=key, Body=body, **params,
                                   **integrity_params(entry.meta), **self._condition())  # fmt: skip
        except AwsError as exc:
            raise self._refused(exc, key) from exc
        return len(body)

    def _part_size(self, size: int) -> int:
        """The configured part size, or larger: S3 takes at most 10,000 parts (a 5 TiB object needs ~525 MiB)."""
        needed = -(-size // MAX_PARTS)
        return max(self.tuning.part_size, -(-needed // MIB) * MIB)

    def _parts(self, entry: TreeEntry) -> Iterator[bytes]:
        part_size = self._part_size(entry.size)
        buffer = bytearray()
        for chunk in self.reader.read(entry):
            buffer += chunk
            while len(buffer) >= part_size:
                yield bytes(buffer[:part_size])
                del buffer[:part_size]
        if buffer or entry.size == 0:
            yield bytes(buffer)

    def multipart(self, entry: TreeEntry) -> int:
        key = self.target.key(str(entry.meta["key"]))
        bucket = self.target.bucket
        params = put_params(entry.meta, lock=self.lock, target_outposts=self.outposts)
        upload = self.client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **params)
        upload_id = upload["UploadId"]

        def send(number: int, data: bytes) -> dict[str, Any]:
            part = self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data,
                                           ChecksumAlgorithm="CRC32")  # fmt: skip
            return {"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part.get("ChecksumCRC32")}

        done: list[dict[str, Any]] = []
        ahead: deque[Future[dict[str, Any]]] = deque()
        written = 0
        try:
            for number, data in enumerate(self._parts(entry), start=1):
                written += len(data)
                ahead.append(self.pool.submit(send, number, data))
                while len(ahead) >= PARTS_AT_ONCE:
                    done.append(ahead.popleft().result())
            while ahead:
                done.append(ahead.popleft().result())
            parts: Any = [{k: v for k, v in p.items() if v is not None} for p in done]
            self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                  MultipartUpload={"Parts": parts}, **self._condition())  # fmt: skip
        except BaseException as exc:
            for future in ahead:
                future.cancel()
            # The original error matters; an unaborted upload is listed by ListMultipartUploads.
            with contextlib.suppress(AwsError, NotFoundError):
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            if isinstance(exc, AwsError):
                raise self._refused(exc, key) from exc
            raise
        return written


def restore_tree(
    repo: Repository,
    manifest: Manifest,
    client: S3Client,
    target: Target,
    *,
    overwrite: bool,
    as_of: datetime | None = None,
    tuning: RestoreTuning | None = None,
    pool: ThreadPoolExecutor,
) -> dict[str, Any]:
    """Restore (see the module doc); refuses before writing anything when objects would be overwritten."""
    started = time.perf_counter()
    tuning = tuning or RestoreTuning()
    if manifest.kind != KIND or manifest.content.get("type") != "tree":
        raise ConflictError(f"library snapshot {manifest.id} is not an S3 tree")
    reader = TreeReader(repo, manifest)
    count, examples = collisions(
        (target.key(str(e.meta["key"])) for e in select(reader, as_of=as_of)),
        existing_keys(client, target.bucket, target.prefix),
    )
    if count and not overwrite:
        raise ConfirmationRequiredError(
            f"{count} object(s) already exist in s3://{target.bucket}/{target.prefix} and would be overwritten "
            f"(e.g. {', '.join(examples)}); nothing was written",
            hint="restore to another --bucket/--prefix, or add --overwrite --yes to replace them",
        )
    lock = False if target.bucket.startswith("arn:") else object_lock_enabled(client, target.bucket)
    writer = Writer(repo, reader, client, target, overwrite=overwrite, lock=lock, tuning=tuning, pool=pool)
    objects = written = 0
    window: deque[Future[int]] = deque()
    for entry in select(reader, as_of=as_of):
        if entry.size > tuning.multipart_threshold:
            while window:
                written += window.popleft().result()
            written += writer.multipart(entry)
        else:
            window.append(pool.submit(writer.put, entry))
            while len(window) > WINDOW:
                written += window.popleft().result()
        objects += 1
    while window:
        written += window.popleft().result()
    duration = time.perf_counter() - started
    return {
        "bucket": target.bucket,
        "prefix": target.prefix,
        "library_snapshot": manifest.id,
        "as_of": iso(as_of) if as_of is not None else None,
        "stats": {
            "objects": objects,
            "bytes": written,
            "overwritten": count,
            "object_lock_applied": lock,
            "duration_s": round(duration, 3),
            "objects_per_s": round(objects / duration, 1) if duration > 0 else None,
        },
    }
