"""Back up one S3 location (a bucket or an Outposts access point, optionally a key prefix) into the library as a tree.

One tree entry per object, or with ``versions`` per object version and delete marker. Tree keys (ascending, as the
tree requires; Python's str order is S3's UTF-8 byte order):

- without versions: the object key itself;
- with versions: ``key + "\\0" + ordinal``, the ordinal a 10-digit zero-padded position counting from the key's
  oldest version (0). S3 keys cannot hold NUL (XML 1.0 cannot carry it), and NUL sorts before every other
  character, so all entries of ``a`` come before ``a/b``, and a key's versions stay oldest first.

Each entry's ``meta`` holds what S3 says about the object (``entry_meta``): ETag, size, last modified, version ID,
storage class, content type/encoding/disposition/language, cache control, expires, user metadata, tags,
checksum, server-side encryption, object lock settings; ``delete_marker`` for a delete marker.

Incremental: with the previous tree of the same location (and the same ``versions`` mode), an object whose ETag,
size and last-modified time (and version ID) are unchanged is re-added with ``add_entry`` from the parent tree,
without any GetObject: an unchanged bucket costs its listing. When its storage class and latest flag are unchanged
too, the parent's entry is written as it was read (its stored record, not re-serialised). Tag-only changes
(PutObjectTagging keeps the ETag and the last-modified time) are not seen by an incremental run; the storage class
is refreshed from the listing.

Reads: objects up to ``large_object`` bytes with one GetObject each, in parallel on a bounded pool (at most
``window`` objects and ``window_bytes`` bytes in flight), and added to the tree in key order; larger objects
with HeadObject, then ranged GETs (``part_size``) pinned with If-Match to the ETag, a few ranges ahead: memory
stays bounded whatever the object size.

Archive storage classes: GLACIER and DEEP_ARCHIVE objects are read only when a restored copy is available
(HeadObject's ``Restore`` header says ``ongoing-request="false"``); INTELLIGENT_TIERING objects in an archive
access tier are found by GetObject's ``InvalidObjectState``. Skipped objects are counted and listed (up to
``SKIPPED_LISTED``) in the result and in the recovery point's stats, never dropped silently.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError, ConflictError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import TreeEntry, TreeReader
from skyvault.permissions import Feature, declare
from skyvault.services.base import MIB, tags_from_list
from skyvault.services.s3.locations import S3Location

if TYPE_CHECKING:
    from skyvault.aws.clients import S3Client

KIND = "s3"
KEY_SEPARATOR = "\0"
ORDINAL_DIGITS = 10
LARGE_OBJECT = 16 * MIB
PART_SIZE = 8 * MIB
WINDOW = 64
WINDOW_BYTES = 64 * MIB
RANGES_AHEAD = 4
SKIPPED_LISTED = 1000
PAGES_AHEAD = 2  # listing pages requested before the backup reaches them (1,000 objects each)
# Requests in flight. A small object costs one request whose time is mostly latency (S3: roughly 100-200 ms to the
# first byte, "Performance guidelines for Amazon S3"), so throughput follows what is in flight: in the lab with
# 100 ms of latency, 1,000 objects took 7.3 s with 16 and 2.9 s with 64 (128: no better on 2 cores); unchanged
# without latency.
DEFAULT_WORKERS = 64
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})

_OUTPOST = "arn:${Partition}:s3-outposts:${Region}:${Account}:outpost/*"
_BUCKETS = ("arn:${Partition}:s3:::*", f"{_OUTPOST}/accesspoint/*", f"{_OUTPOST}/bucket/*")
_OBJECTS = ("arn:${Partition}:s3:::*/*", f"{_OUTPOST}/bucket/*/object/*")


def declare_s3(
    *, operation: str, feature: Feature, step: str, purpose: str, actions: tuple[str, ...], resources: tuple[str, ...]
) -> None:
    """Declare one S3 call twice: its ``s3:`` actions on S3 ARNs in row ``s3``, its ``s3-outposts:`` ones on
    Outposts ARNs in row ``s3-outposts`` (a user without Outposts grants none of those)."""
    for policy in ("s3", "s3-outposts"):
        mine = tuple(a for a in actions if a.split(":", 1)[0] == policy)
        arns = tuple(r for r in resources if r.split(":")[2] == policy)
        if mine:
            where = "" if policy == "s3" else "S3 on Outposts, through an access point: "
            declare(policy=policy, service="s3", operation=operation, feature=feature, step=step,
                    purpose=where + purpose, actions=mine, resources=arns)  # fmt: skip


def _d(operation: str, step: str, purpose: str, actions: tuple[str, ...], resources: tuple[str, ...]) -> None:
    declare_s3(operation=operation, feature=Feature.BACKUP, step=step, purpose=purpose, actions=actions,
               resources=resources)  # fmt: skip


_d("GetBucketLocation", "locate bucket", "Find the bucket's region, to read it there.",
   ("s3:GetBucketLocation",), _BUCKETS[:1])  # fmt: skip
_d("ListObjectsV2", "list objects", "List the objects under the prefix (ETag, size, last modified: the "
   "incremental comparison).", ("s3:ListBucket", "s3-outposts:ListBucket"), _BUCKETS)  # fmt: skip
_d("ListObjectVersions", "list versions", "With --versions: list every version and delete marker.",
   ("s3:ListBucketVersions", "s3-outposts:ListBucketVersions"), (_BUCKETS[0], _BUCKETS[2]))  # fmt: skip
# GetObject and HeadObject return an object's Object Lock headers only to a caller that has s3:GetObjectRetention and
# s3:GetObjectLegalHold (without them S3 leaves the headers out): companions of the reads, not calls of their own.
_READ = ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectLegalHold",
         "s3-outposts:GetObject", "s3-outposts:GetObjectVersion")  # fmt: skip
_d("GetObject", "read objects", "Read each new or changed object (ranged GETs for large ones), with its headers, "
   "checksum and Object Lock settings; a given version with --versions.", _READ, _OBJECTS)  # fmt: skip
_d("HeadObject", "read objects", "Read a large or archived object's headers (checksum, restore status) before "
   "its ranges.", _READ, _OBJECTS)  # fmt: skip
_d("GetObjectTagging", "read objects", "Read the tags of objects that have some (GetObject's tag count).",
   ("s3:GetObjectTagging", "s3:GetObjectVersionTagging", "s3-outposts:GetObjectTagging",
    "s3-outposts:GetObjectVersionTagging"), _OBJECTS)  # fmt: skip


@dataclass(frozen=True)
class Listed:
    """One object or version from the listing."""

    key: str
    size: int
    etag: str
    last_modified: str
    storage_class: str
    version_id: str | None = None
    is_latest: bool = True
    delete_marker: bool = False
    ordinal: int | None = None  # with versions: position from the key's oldest version

    @property
    def tree_key(self) -> str:
        if self.ordinal is None:
            return self.key
        return f"{self.key}{KEY_SEPARATOR}{self.ordinal:0{ORDINAL_DIGITS}d}"


@dataclass
class BackupStats:
    objects: int = 0  # entries that are objects (current or not)
    delete_markers: int = 0
    fetched: int = 0
    reused: int = 0
    bytes: int = 0
    bytes_fetched: int = 0
    skipped: int = 0
    skipped_objects: list[dict[str, Any]] = field(default_factory=list)
    vanished: int = 0

    def skip(self, item: Listed, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_objects) < SKIPPED_LISTED:
            self.skipped_objects.append(
                {"key": item.key, "version_id": item.version_id, "storage_class": item.storage_class, "reason": reason}
            )


@dataclass(frozen=True)
class Tuning:
    """Sizes and parallelism (tests lower them to exercise ranged reads with small objects)."""

    workers: int = DEFAULT_WORKERS
    large_object: int = LARGE_OBJECT
    part_size: int = PART_SIZE
    window: int = WINDOW
    window_bytes: int = WINDOW_BYTES


def iso(value: datetime | str | None) -> str | None:
    """A timestamp as UTC ISO 8601 at second precision (S3's headers carry seconds, its listings milliseconds)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bucket_client(factory: ClientFactory, account: str, location: S3Location, default_region: str) -> S3Client:
    """A client in the bucket's region (an Outposts ARN names it; else GetBucketLocation)."""
    region = location.region
    if region is None:
        probe = factory.client(account, default_region, "s3")
        constraint = probe.get_bucket_location(Bucket=location.bucket).get("LocationConstraint")
        region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint) or str(constraint)
    return factory.client(account, region, "s3")


# -- listing ---------------------------------------------------------------------------------------------------
def read_ahead(pages: Iterable[Any], ahead: int = PAGES_AHEAD) -> Generator[Any, None, None]:
    """The pages, requested by a thread up to ``ahead`` pages before the caller: the next ListObjectsV2 is in flight
    (and parsed) while the caller works through a page, instead of the two taking turns. Memory: ``ahead`` pages.
    The thread runs in the caller's context (its calls count for the caller's job); its error is raised here."""
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def send(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                channel.put((kind, value), timeout=0.2)
                return True
            except queue.Full:
                continue
        return False  # the caller stopped reading

    def produce() -> None:
        try:
            for page in pages:
                if not send("page", page):
                    return
        except BaseException as exc:  # handed to the caller, who raises it
            send("error", exc)
            return
        send("end", None)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(produce,), name="s3-list", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = channel.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value
    finally:
        stop.set()


def list_objects(client: S3Client, location: S3Location) -> Iterator[Listed]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.prefix)
    for page in read_ahead(pages):
        for obj in page.get("Contents", []):
            yield Listed(
                key=obj["Key"],
                size=int(obj.get("Size", 0)),
                etag=str(obj.get("ETag", "")),
                last_modified=iso(obj.get("LastModified")) or "",
                storage_class=str(obj.get("StorageClass", "STANDARD")),
            )


def _version_order(entry: tuple[dict[str, Any], bool]) -> tuple[str, int, int]:
    item, is_marker = entry
    # Oldest first. Same second: the latest last, then versions before delete markers (botocore splits S3's one
    # ordered list into two; within a second the two lists' relative order is not recoverable from them).
    return (iso(item.get("LastModified")) or "", 1 if item.get("IsLatest") else 0, 1 if is_marker else 0)


def _key_versions(key: str, entries: list[tuple[dict[str, Any], bool]]) -> Iterator[Listed]:
    # S3 lists a key's versions newest first; reversing keeps S3's own order where timestamps tie.
    ordered = sorted(reversed(entries), key=_version_order)
    for ordinal, (item, is_marker) in enumerate(ordered):
        yield Listed(
            key=key,
            size=0 if is_marker else int(item.get("Size", 0)),
            etag="" if is_marker else str(item.get("ETag", "")),
            last_modified=iso(item.get("LastModified")) or "",
            storage_class="" if is_marker else str(item.get("StorageClass", "STANDARD")),
            version_id=str(item.get("VersionId") or "null"),
            is_latest=bool(item.get("IsLatest")),
            delete_marker=is_marker,
            ordinal=ordinal,
        )


def list_versions(client: S3Client, location: S3Location) -> Iterator[Listed]:
    """Every version and delete marker, grouped per key (a key's versions may span pages)."""
    current: str | None = None
    pending: list[tuple[dict[str, Any], bool]] = []
    pages = client.get_paginator("list_object_versions").paginate(Bucket=location.bucket, Prefix=location.prefix)
    for page in read_ahead(pages):
        merged: list[tuple[dict[str, Any], bool]] = [(dict(v), False) for v in page.get("Versions", [])]
        merged += [(dict(m), True) for m in page.get("DeleteMarkers", [])]
        merged.sort(key=lambda e: str(e[0]["Key"]))  # stable: each list keeps S3's newest-first order per key
        for item, is_marker in merged:
            key = str(item["Key"])
            if key != current:
                if current is not None:
                    yield from _key_versions(current, pending)
                current, pending = key, []
            pending.append((item, is_marker))
    if current is not None:
        yield from _key_versions(current, pending)


# -- metadata --------------------------------------------------------------------------------------------------
_HEADERS = {
    "ContentType": "content_type",
    "ContentEncoding": "content_encoding",
    "ContentDisposition": "content_disposition",
    "ContentLanguage": "content_language",
    "CacheControl": "cache_control",
    "WebsiteRedirectLocation": "website_redirect_location",
    "ServerSideEncryption": "sse",
    "SSEKMSKeyId": "sse_kms_key_id",
    "BucketKeyEnabled": "bucket_key_enabled",
}
CHECKSUMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


def entry_meta(item: Listed, response: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's metadata from a GetObject/HeadObject response (the response's ETag, size and time: those of
    the bytes read, which may be newer than the listing's)."""
    meta: dict[str, Any] = {
        "key": item.key,
        "version_id": item.version_id if item.version_id is not None else response.get("VersionId"),
        "is_latest": item.is_latest,
        "etag": str(response.get("ETag", item.etag)),
        "size": int(response.get("ContentLength", item.size)) if "ContentRange" not in response else item.size,
        "last_modified": iso(response.get("LastModified")) or item.last_modified,
        "storage_class": str(response.get("StorageClass") or item.storage_class or "STANDARD"),
        "metadata": dict(response.get("Metadata") or {}),
    }
    for header, name in _HEADERS.items():
        if response.get(header) is not None:
            meta[name] = response[header]
    expires = response.get("ExpiresString") or response.get("Expires")
    if expires is not None:
        meta["expires"] = expires if isinstance(expires, str) else expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
    for algorithm in CHECKSUMS:
        value = response.get(f"Checksum{algorithm}")
        if value:
            meta["checksum"] = {"algorithm": algorithm, "value": value, "type": response.get("ChecksumType")}
            break
    lock = {
        "mode": response.get("ObjectLockMode"),
        "retain_until": iso(response.get("ObjectLockRetainUntilDate")),
        "legal_hold": response.get("ObjectLockLegalHoldStatus"),
    }
    if any(lock.values()):
        meta["object_lock"] = lock
    return meta


def marker_meta(item: Listed) -> dict[str, Any]:
    return {
        "key": item.key,
        "version_id": item.version_id,
        "is_latest": item.is_latest,
        "delete_marker": True,
        "last_modified": item.last_modified,
    }


# -- reading ---------------------------------------------------------------------------------------------------
class SkippedError(Exception):
    """This object is not read (archived, or gone since the listing)."""

    def __init__(self, reason: str, *, vanished: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.vanished = vanished


@dataclass
class Fetched:
    item: Listed
    meta: dict[str, Any]
    body: bytes | None  # None: a large object, read in ranges when its turn comes


class Reader:
    """Reads objects of one location: metadata, tags, lock settings and bytes."""

    def __init__(self, client: S3Client, location: S3Location, *, tuning: Tuning) -> None:
        self.client = client
        self.location = location
        self.tuning = tuning

    def _ids(self, item: Listed) -> dict[str, Any]:
        ids: dict[str, Any] = {"Bucket": self.location.bucket, "Key": item.key}
        if item.version_id:  # "null" too: the version written before versioning was enabled, not the current one
            ids["VersionId"] = item.version_id
        return ids

    def _extras(self, item: Listed, meta: dict[str, Any], response: Mapping[str, Any]) -> None:
        ids = self._ids(item)  # without --versions: the current object's tags (s3:GetObjectTagging)
        if int(response.get("TagCount") or 0) > 0:
            meta["tags"] = tags_from_list(self.client.get_object_tagging(**ids).get("TagSet"))

    def _check_archive(self, item: Listed) -> Mapping[str, Any] | None:
        """For an archive class: HeadObject, and SkippedError unless a restored copy is readable."""
        if item.storage_class not in ARCHIVE_CLASSES:
            return None
        head = self._head(item)
        restore = str(head.get("Restore") or "")
        if 'ongoing-request="false"' in restore:
            return head
        why = "restore in progress" if 'ongoing-request="true"' in restore else "not restored"
        raise SkippedError(f"archived in {item.storage_class}, {why}: restore it first (RestoreObject)")

    def _head(self, item: Listed) -> Mapping[str, Any]:
        try:
            return self.client.head_object(**self._ids(item), ChecksumMode="ENABLED")
        except NotFoundError:
            raise SkippedError("deleted since the listing", vanished=True) from None

    def fetch(self, item: Listed) -> Fetched:
        """Metadata and, for an object up to the large threshold, its bytes (run on the pool)."""
        head = self._check_archive(item)
        if item.size > self.tuning.large_object:
            head = head if head is not None else self._head(item)
            if head.get("ArchiveStatus"):
                raise SkippedError(f"in the {head['ArchiveStatus']} tier ({item.storage_class}): restore it first")
            meta = entry_meta(item, head)
            self._extras(item, meta, head)
            return Fetched(item, meta, None)
        try:
            response = self.client.get_object(**self._ids(item), ChecksumMode="ENABLED")
        except NotFoundError:
            raise SkippedError("deleted since the listing", vanished=True) from None
        except AwsError as exc:
            if exc.code == "InvalidObjectState":
                raise SkippedError(f"in an archive access tier ({item.storage_class}): restore it first") from exc
            raise
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        meta = entry_meta(item, response)
        meta["size"] = len(data)
        self._extras(item, meta, response)
        return Fetched(item, meta, data)

    def _range(self, item: Listed, etag: str, start: int, end: int) -> bytes:
        try:
            response = self.client.get_object(**self._ids(item), Range=f"bytes={start}-{end}", IfMatch=etag)
        except AwsError as exc:
            if exc.code == "PreconditionFailed":
                raise ConflictError(
                    f"s3://{self.location.bucket}/{item.key} changed while it was being read; nothing of it was kept",
                    hint="run the backup again",
                ) from exc
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        if len(data) != end - start + 1:
            raise ConflictError(f"s3://{self.location.bucket}/{item.key}: short read at {start}; run the backup again")
        return data

    def ranges(self, pool: ThreadPoolExecutor, fetched: Fetched) -> Iterator[bytes]:
        """A large object's bytes, ``RANGES_AHEAD`` ranged GETs in flight, yielded in order."""
        size = int(fetched.meta["size"])
        etag = str(fetched.meta["etag"])
        part = self.tuning.part_size
        starts = iter(range(0, size, part))
        ahead: deque[Future[bytes]] = deque()

        def refill() -> None:
            while len(ahead) < RANGES_AHEAD:
                start = next(starts, None)
                if start is None:
                    return
                ahead.append(pool.submit(self._range, fetched.item, etag, start, min(size, start + part) - 1))

        refill()
        try:
            while ahead:
                data = ahead.popleft().result()
                refill()
                yield data
        finally:
            for future in ahead:
                future.cancel()


# -- the backup ------------------------------------------------------------------------------------------------
@dataclass
class S3BackupResult:
    manifest: Manifest
    stats: dict[str, Any]


def _parent_entries(repo: Repository, parent: Manifest | None) -> Iterator[TreeEntry]:
    if parent is None:
        return iter(())
    return TreeReader(repo, parent).entries()


class _ParentIndex:
    """The parent tree, walked alongside the listing (both in key order): bounded memory, one pass."""

    def __init__(self, entries: Iterator[TreeEntry]) -> None:
        self._entries = entries
        self._next: TreeEntry | None = next(entries, None)
        self._key: str | None = None
        self._held: list[TreeEntry] = []

    def _advance_to(self, key: str) -> None:
        if self._key == key:
            return
        self._key, self._held = key, []
        while self._next is not None:
            object_key = str(self._next.meta.get("key", self._next.key))
            if object_key < key:
                self._next = next(self._entries, None)
            elif object_key == key:
                self._held.append(self._next)
                self._next = next(self._entries, None)
            else:
                break

    def unchanged(self, item: Listed) -> TreeEntry | None:
        self._advance_to(item.key)
        for entry in self._held:
            meta = entry.meta
            if meta.get("delete_marker"):
                continue
            same = (
                meta.get("etag") == item.etag
                and int(meta.get("size", -1)) == item.size
                and meta.get("last_modified") == item.last_modified
                and (item.version_id is None or meta.get("version_id") == item.version_id)
            )
            if same:
                return entry
        return None


Progress = Callable[[int], None]


def backup_location(
    repo: Repository,
    client: S3Client,
    location: S3Location,
    *,
    versions: bool,
    pool: ThreadPoolExecutor,
    parent: Manifest | None = None,
    tuning: Tuning | None = None,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
) -> S3BackupResult:
    """Write the location's tree (see the module doc) and return its manifest and stats."""
    started = time.perf_counter()
    tuning = tuning or Tuning()
    stats = BackupStats()
    reader = Reader(client, location, tuning=tuning)
    parents = _ParentIndex(_parent_entries(repo, parent))
    writer = repo.open_tree_writer(kind=KIND, source=location.source, parent=parent)
    listing = list_versions(client, location) if versions else list_objects(client, location)
    # In-flight work, in key order: ready entries, or futures of fetches. Added to the tree from the left.
    window: deque[tuple[Listed, TreeEntry | dict[str, Any] | Future[Fetched]]] = deque()
    in_flight_bytes = 0

    def reuse(entry: TreeEntry) -> None:
        writer.add_entry(entry)
        stats.reused += 1
        stats.objects += 1
        stats.bytes += entry.size

    def finish_one() -> None:
        nonlocal in_flight_bytes
        item, work = window.popleft()
        if isinstance(work, TreeEntry):
            reuse(work)
            return
        if isinstance(work, dict):
            writer.add(item.tree_key, work, b"")
            stats.delete_markers += 1
            return
        in_flight_bytes -= min(item.size, tuning.large_object)
        try:
            fetched = work.result()
        except SkippedError as skip:
            if skip.vanished:
                stats.vanished += 1
            else:
                stats.skip(item, skip.reason)
            return
        content: bytes | Iterator[bytes] = fetched.body if fetched.body is not None else reader.ranges(pool, fetched)
        entry = writer.add(item.tree_key, fetched.meta, content)
        stats.fetched += 1
        stats.objects += 1
        stats.bytes += entry.size
        stats.bytes_fetched += entry.size
        if progress is not None:
            progress(entry.size)

    for item in listing:
        if item.delete_marker:
            window.append((item, marker_meta(item)))
        else:
            reused = parents.unchanged(item)
            if reused is not None:
                old = reused.meta
                if (
                    reused.key != item.tree_key
                    or old.get("storage_class") != item.storage_class  # lifecycle transitions keep ETag and time
                    or old.get("is_latest") != item.is_latest
                ):
                    fresh = {**old, "storage_class": item.storage_class, "is_latest": item.is_latest}
                    reused = replace(reused, key=item.tree_key, meta=fresh)  # drops the stored record: re-serialised
                if not window:
                    reuse(reused)  # nothing in flight before it: straight into the tree, its stored record as is
                    continue
                window.append((item, reused))
            else:
                window.append((item, pool.submit(reader.fetch, item)))
                in_flight_bytes += min(item.size, tuning.large_object)
        while window and (len(window) > tuning.window or in_flight_bytes > tuning.window_bytes):
            finish_one()
    while window:
        finish_one()
    summary = {
        "objects": stats.objects,
        "delete_markers": stats.delete_markers,
        "fetched": stats.fetched,
        "reused": stats.reused,
        "object_bytes": stats.bytes,
        "bytes_fetched": stats.bytes_fetched,
        "skipped": stats.skipped,
        "skipped_objects": stats.skipped_objects,
        "vanished": stats.vanished,
    }
    manifest = writer.commit(
        meta={
            "bucket": location.bucket,
            "prefix": location.prefix,
            "versions": versions,
            "key_format": "key" if not versions else "key\\0ordinal",
            **(meta or {}),
        },
        tags={},
    )
    duration = time.perf_counter() - started
    result: dict[str, Any] = {**dict(manifest.stats), **summary}
    result["duration_s"] = round(duration, 3)
    result["objects_per_s"] = round((stats.objects + stats.delete_markers) / duration, 1) if duration > 0 else None
    result["library_snapshot"] = manifest.id
    result["parent_snapshot"] = manifest.parent
    return S3BackupResult(manifest=manifest, stats=result)
