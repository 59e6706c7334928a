"""Object trees: many keyed entries (S3 objects, DynamoDB items), each with metadata and content, in one snapshot.

API (single-threaded; entries in ascending key order)::

    writer = repo.open_tree_writer("s3", "bucket/prefix", parent=previous_manifest)
    entry = writer.add(key, meta, content)        # content: bytes, or an iterable of bytes (streamed)
    writer.add_entry(unchanged_entry)             # reuse an entry (e.g. from the parent) without reading its data
    manifest = writer.commit(meta={...}, tags={...})

    reader = TreeReader(repo, manifest)
    reader.entries(prefix="")                     # ascending key order, streamed node by node
    reader.get(key)                               # -> TreeEntry | None, reads one node per level
    reader.read(entry)                            # the content, chunk by chunk, each authenticated

**Content.** Contents of at most ``INLINE_MAX`` bytes are kept inside the tree node (``TreeEntry.inline``): a
million small items or objects are a few thousand TREE blobs, not a million blobs and index entries. Larger
contents are cut with content-defined chunking (FastCDC, min/avg/max ``CHUNK_MIN``/``CHUNK_AVG``/``CHUNK_MAX``)
into DATA blobs, deduplicated against the whole library: an insert in the middle of an object changes the
chunks around the insert, not every later one. Content is streamed: about two ``CHUNK_MAX`` of it (plus one
piece of the caller's iterable) is buffered for cutting, and one chunk per worker thread (``repo.threads``) is
being hashed, compressed and encrypted meanwhile: memory does not grow with the object.

**Nodes.** The entries, serialised in key order, are cut into leaf nodes of about ``NODE_AVG`` bytes (at least
``NODE_MIN``, forced at ``NODE_MAX``) at entry boundaries chosen by a keyed hash of the entry's key, so an
inserted or changed entry changes one leaf and the leaves after it are cut (and stored) as before. Nodes of each
level are indexed the same way by the level above (first key, child blob ID), up to a single root; the manifest
names the root. Writing keeps one open node per level in memory; reading keeps one node per level.

Every blob a tree names is verified to be indexed before its manifest is written (as for block maps): reused
chunks when they are added (the shared lock keeps prune away until the manifest is saved, and ``save_snapshot``
verifies the lock), new ones after the final flush.
"""

from __future__ import annotations

import contextvars
import json
import socket
import struct
import threading
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

try:  # the Cython build (~1.3 GB/s); the package's pure-Python twin cuts identically, ~100x slower
    from fastcdc.fastcdc_cy import fastcdc_cy as _fastcdc  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - wheels exist for the platforms skyvault supports
    from fastcdc.fastcdc_py import fastcdc_py as _fastcdc  # type: ignore[import-untyped]

from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.blobstore import BlobStore
from skyvault.library.format import ID_LEN, TREE_LAYOUT_VERSION, BlobType
from skyvault.library.snapshots import Manifest

# -- parameters (recorded in every tree manifest; changing them changes no reader) ---------------------------------
CHUNK_MIN = 256 * 1024
CHUNK_AVG = 1024 * 1024
CHUNK_MAX = 4 * 1024 * 1024
INLINE_MAX = 4096  # contents up to this size live in the tree node
NODE_MIN = 16 * 1024
NODE_AVG = 64 * 1024
NODE_MAX = 1024 * 1024  # a node is cut at the first entry past this (one huge entry may make it larger)
CHUNK_LIST_PAGE = 4096  # an entry of more chunks keeps its chunk IDs in MAP blobs of 4096 IDs (> ~4 GiB)
MAX_KEY_BYTES = 64 * 1024
MAX_META_BYTES = 4 * 1024 * 1024
NODE_FORMAT = 1
_CUT_SPREAD = NODE_AVG - NODE_MIN  # past NODE_MIN, an entry of n bytes ends a node with probability n / spread

_NODE_HEAD = struct.Struct("<2sBBI")  # magic, node format, level (0 = leaf), record count
_NODE_MAGIC = b"ST"
_U32 = struct.Struct("<I")
_SIZE_FORM = struct.Struct("<QB")
_TWO_U32 = struct.Struct("<II")
_DIRECT, _INLINE, _INDIRECT = 0, 1, 2
_BYTES = (bytes, bytearray, memoryview)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class TreeEntry:
    """One object or item. ``inline`` holds the content of a small entry (``chunks`` is then empty).

    An entry read from a tree keeps its stored record (``stored``: everything after the key: metadata, size, content
    or chunk IDs), so ``TreeWriter.add_entry`` writes an unchanged entry again without re-serialising it (an unchanged
    bucket or table re-adds every entry). ``stored`` is not an init field: ``dataclasses.replace`` (a changed entry)
    drops it. Treat ``meta`` as read-only (copy it to change it): an entry's record is its state when read."""

    key: str
    meta: dict[str, Any]
    size: int
    chunks: tuple[bytes, ...] = ()
    inline: bytes = field(default=b"", repr=False)
    stored: bytes = field(default=b"", init=False, repr=False, compare=False)


def _content_pieces(
    content: bytes | bytearray | memoryview | Iterable[bytes],
) -> Iterator[bytes | bytearray | memoryview]:
    if isinstance(content, _BYTES):
        yield memoryview(content).cast("B") if isinstance(content, memoryview) else content
        return
    for piece in content:
        if not isinstance(piece, _BYTES):
            raise TypeError(f"content pieces must be bytes, not {type(piece).__name__}")
        yield piece


def _encode_key(key: str) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"a tree key is a str, not {type(key).__name__}")
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"tree key {key!r} is not valid Unicode text: {exc}") from None
    if len(raw) > MAX_KEY_BYTES:
        raise ValueError(f"tree key of {len(raw)} bytes exceeds {MAX_KEY_BYTES}")
    return raw


def _encode_meta(meta: Mapping[str, Any]) -> bytes:
    try:
        data = _ENCODER.encode(meta if isinstance(meta, dict) else dict(meta)).encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
        raise ValueError(f"tree entry metadata is not JSON-safe: {exc}") from None
    if len(data) > MAX_META_BYTES:
        raise ValueError(f"tree entry metadata of {len(data)} bytes exceeds {MAX_META_BYTES}")
    return data


class _Level:
    """The open node of one level of the tree being written."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.buf = bytearray()
        self.count = 0
        self.first_key = b""
        self.emitted = 0
        self.last_child = b""  # inner levels: the child of the last record (to collapse a one-child root)


class TreeWriter:
    def __init__(self, repo: BlobStore, *, kind: str, source: str, parent: Manifest | None = None) -> None:
        if parent is not None and parent.content_type != "tree":
            raise LibraryError(f"parent snapshot {parent.id} is a {parent.content_type}, not a tree")
        self.repo = repo
        self.kind = kind
        self.source = source
        self.parent = parent
        self.sink = repo.sink()
        self.stats: dict[str, int] = {
            "entries": 0,
            "bytes": 0,  # logical content bytes
            "new_bytes": 0,  # bytes added to the library (stored: compressed, encrypted), nodes included
            "new_bytes_raw": 0,  # plaintext bytes of the new blobs
            "chunks": 0,
            "new_chunks": 0,
            "inline_entries": 0,
            "reused_entries": 0,
            "nodes": 0,
            "new_nodes": 0,
        }
        self._levels: list[_Level] = [_Level(0)]
        self._last_key: bytes | None = None
        self._last_text = ""
        self._unverified: list[bytes] = []  # blobs not yet indexed when referenced: verified after the flush
        self._workers = max(1, repo.threads)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._committed = False

    # -- entries -------------------------------------------------------------------------------------------
    def _check_order(self, key: str) -> bytes:
        if self._committed:
            raise LibraryError("this tree writer has already committed")
        raw = _encode_key(key)
        if self._last_key is not None and raw <= self._last_key:
            raise ValueError(f"tree keys must be added in strictly ascending order: {key!r} after {self._last_text!r}")
        return raw

    def add(
        self, key: str, meta: Mapping[str, Any], content: bytes | bytearray | memoryview | Iterable[bytes]
    ) -> TreeEntry:
        """Store one entry; the content is streamed (bounded memory) and chunked. Returns the entry as stored."""
        raw_key = self._check_order(key)
        meta_raw = _encode_meta(meta)
        self.repo.check_locks()
        if isinstance(content, _BYTES) and len(content) > INLINE_MAX:
            whole = memoryview(content).cast("B")
            size, chunks = self._store_chunks(bytearray(), iter(()), whole)
            entry = TreeEntry(key, _DECODER.decode(meta_raw.decode()), size, tuple(chunks))
            self._append(raw_key, meta_raw, entry)
            return entry
        pieces = _content_pieces(content)
        head = bytearray()
        for piece in pieces:
            head += piece
            if len(head) > INLINE_MAX:
                break
        if len(head) <= INLINE_MAX:
            entry = TreeEntry(key, _DECODER.decode(meta_raw.decode()), len(head), (), bytes(head))
            self.stats["inline_entries"] += 1
        else:
            size, chunks = self._store_chunks(head, pieces)
            entry = TreeEntry(key, _DECODER.decode(meta_raw.decode()), size, tuple(chunks))
        self._append(raw_key, meta_raw, entry)
        return entry

    def add_entry(self, entry: TreeEntry) -> None:
        """Reuse an entry (e.g. the parent's, for an unchanged object) without reading or storing its content.
        Its chunks must be in the library (``LibraryCorruptError`` otherwise)."""
        raw_key = self._check_order(entry.key)
        meta_raw = None if entry.stored else _encode_meta(entry.meta)  # a record read from a tree is written as is
        if entry.size < 0:
            raise ValueError(f"tree entry {entry.key!r}: negative size")
        if entry.chunks and entry.inline:
            raise ValueError(f"tree entry {entry.key!r} has both chunks and inline content")
        if not entry.chunks and len(entry.inline) != entry.size:
            raise ValueError(f"tree entry {entry.key!r}: {entry.size} bytes but no chunks")
        if len(entry.inline) > INLINE_MAX:
            raise ValueError(f"tree entry {entry.key!r}: inline content over {INLINE_MAX} bytes")
        index = self.repo.index
        for chunk in entry.chunks:
            if len(chunk) != ID_LEN:
                raise ValueError(f"tree entry {entry.key!r}: a chunk ID is not {ID_LEN} bytes")
            if chunk not in index:
                if not self.sink.holds(chunk):
                    raise LibraryCorruptError(
                        f"tree entry {entry.key!r}: chunk {chunk.hex()} is not in the library (pruned or lost)"
                    )
                self._unverified.append(chunk)
        self.repo.check_locks()
        self.stats["reused_entries"] += 1
        self.stats["chunks"] += len(entry.chunks)
        if not entry.chunks:
            self.stats["inline_entries"] += 1
        self._append(raw_key, meta_raw, entry)

    def _store_chunks(
        self, head: bytearray, pieces: Iterator[bytes | bytearray | memoryview], whole: memoryview | None = None
    ) -> tuple[int, list[bytes]]:
        """Cut the stream (this thread) while a few worker threads hash, compress and encrypt the chunks already
        cut; at most ``threads`` chunks are in flight, so memory stays bounded whatever the object size.
        ``whole``: content the caller already holds in memory, cut in place (no copy)."""
        chunks: list[bytes] = []
        inflight: deque[Future[bytes]] = deque()

        def store(chunk: bytes | memoryview) -> None:
            if self._workers == 1:
                chunks.append(self._store_chunk(chunk))
                return
            inflight.append(self._pool().submit(contextvars.copy_context().run, self._store_chunk, chunk))
            while len(inflight) > self._workers:
                chunks.append(inflight.popleft().result())

        size = 0
        try:
            if whole is not None:
                for start, length in _cut_points(whole, final=True):
                    store(whole[start : start + length])
                    size = start + length
            buf = head
            done = whole is not None
            while not done:
                for piece in pieces:
                    buf += piece
                    if len(buf) >= 2 * CHUNK_MAX:
                        break
                else:
                    done = True
                consumed = 0
                with memoryview(buf) as view:
                    for start, length in _cut_points(view, final=done):
                        store(bytes(view[start : start + length]))  # the buffer moves on: workers get a copy
                        consumed = start + length
                size += consumed
                del buf[:consumed]  # in place: one buffer of about 2 * CHUNK_MAX for the whole stream
                self.repo.check_locks()
            while inflight:
                chunks.append(inflight.popleft().result())
        finally:
            for future in inflight:  # a failure: let the others finish before the caller moves on
                future.cancel()
            for future in inflight:
                if not future.cancelled():
                    future.exception()
        return size, chunks

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="tree-store")
        return self._executor

    def _store_chunk(self, data: bytes | memoryview) -> bytes:
        blob_id = self.repo.sealer.blob_id(data)
        stored = self.sink.claim(blob_id)
        if stored:
            self.sink.store(blob_id, BlobType.DATA, data)
        with self._lock:
            self.stats["chunks"] += 1
            if stored:
                self.stats["new_chunks"] += 1
                self._unverified.append(blob_id)
            elif blob_id not in self.repo.index:
                self._unverified.append(blob_id)  # being stored by this writer, not indexed yet
        return blob_id

    def _append(self, raw_key: bytes, meta_raw: bytes | None, entry: TreeEntry) -> None:
        """Add the entry's record; ``meta_raw`` None: the record it was read with (``entry.stored``), as is."""
        record = bytearray(_U32.pack(len(raw_key)))
        record += raw_key
        if meta_raw is None:
            record += entry.stored
        else:
            record += _U32.pack(len(meta_raw))
            record += meta_raw
            if not entry.chunks:
                record += _SIZE_FORM.pack(entry.size, _INLINE)
                record += entry.inline
            elif len(entry.chunks) <= CHUNK_LIST_PAGE:
                record += _SIZE_FORM.pack(entry.size, _DIRECT)
                record += _U32.pack(len(entry.chunks))
                record += b"".join(entry.chunks)
            else:
                pages = [
                    self._put_node_blob(BlobType.MAP, b"".join(entry.chunks[i : i + CHUNK_LIST_PAGE]))
                    for i in range(0, len(entry.chunks), CHUNK_LIST_PAGE)
                ]
                record += _SIZE_FORM.pack(entry.size, _INDIRECT)
                record += _TWO_U32.pack(len(entry.chunks), len(pages))
                record += b"".join(pages)
        self._last_key = raw_key
        self._last_text = entry.key
        self.stats["entries"] += 1
        self.stats["bytes"] += entry.size
        self._add_record(0, raw_key, record)

    # -- nodes ---------------------------------------------------------------------------------------------
    def _put_node_blob(self, blob_type: BlobType, data: bytes) -> bytes:
        blob_id = self.repo.sealer.blob_id(data)
        if self.sink.claim(blob_id):
            self.sink.store(blob_id, blob_type, data)
            if blob_type == BlobType.TREE:
                self.stats["new_nodes"] += 1
        self._unverified.append(blob_id)  # always verified after the flush (as block-map pages are)
        return blob_id

    def _cut_here(self, level: _Level, raw_key: bytes, record_len: int) -> bool:
        size = len(level.buf)
        if level.level > 0 and level.count < 2:
            return False  # every inner node has at least two children: the levels converge, whatever the keys
        if size >= NODE_MAX:
            return True
        if size < NODE_MIN:
            return False
        # A keyed hash (nothing about keys leaks through node sizes to someone without the key), per level.
        digest = self.repo.sealer.blob_id(b"skyvault-tree-cut" + bytes((level.level,)) + raw_key)
        return int.from_bytes(digest[:8], "little") * _CUT_SPREAD < record_len << 64

    def _add_record(self, level_no: int, raw_key: bytes, record: bytes | bytearray) -> None:
        level = self._levels[level_no]
        if level.count == 0:
            level.first_key = raw_key
        level.buf += record
        level.count += 1
        if self._cut_here(level, raw_key, len(record)):
            self._emit(level, push=True)

    def _emit(self, level: _Level, *, push: bool) -> bytes:
        node = _NODE_HEAD.pack(_NODE_MAGIC, NODE_FORMAT, level.level, level.count) + bytes(level.buf)
        node_id = self._put_node_blob(BlobType.TREE, node)
        self.stats["nodes"] += 1
        first_key = level.first_key
        level.buf = bytearray()
        level.count = 0
        level.first_key = b""
        level.emitted += 1
        if push:
            if len(self._levels) == level.level + 1:
                self._levels.append(_Level(level.level + 1))
            parent = self._levels[level.level + 1]
            parent.last_child = node_id
            self._add_record(level.level + 1, first_key, _U32.pack(len(first_key)) + first_key + node_id)
        return node_id

    def _finish(self) -> tuple[bytes, int]:
        """Close every open node bottom-up; returns (root node ID, height)."""
        level_no = 0
        while True:
            level = self._levels[level_no]
            if level_no == len(self._levels) - 1 and level.emitted == 0:
                if level_no > 0 and level.count == 1:  # a root with one child: the child is the root
                    return level.last_child, level_no
                return self._emit(level, push=False), level_no + 1
            if level.count:
                self._emit(level, push=True)
            level_no += 1

    def commit(self, *, meta: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> Manifest:
        if self._committed:
            raise LibraryError("this tree writer has already committed")
        self.repo.check_locks()
        root, height = self._finish()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        self.sink.flush()
        index = self.repo.index
        for blob_id in self._unverified:
            if blob_id not in index:
                raise LibraryCorruptError(f"tree blob {blob_id.hex()} is not in the library after the flush")
        self.stats["new_bytes"] = self.sink.stats.bytes_stored
        self.stats["new_bytes_raw"] = self.sink.stats.bytes_new_raw
        manifest = Manifest(
            kind=self.kind,
            source=self.source,
            time=datetime.now(UTC).isoformat(timespec="microseconds"),
            host=socket.gethostname(),
            parent=self.parent.id if self.parent else None,
            meta=meta or {},
            stats=dict(self.stats),
            tags=tags or {},
            version=TREE_LAYOUT_VERSION,
            content={
                "type": "tree",
                "root": root.hex(),
                "height": height,
                "entries": self.stats["entries"],
                "size": self.stats["bytes"],
                "node_format": NODE_FORMAT,
                "chunker": {"name": "fastcdc", "min": CHUNK_MIN, "avg": CHUNK_AVG, "max": CHUNK_MAX},
                "inline_max": INLINE_MAX,
            },
        )
        self.repo.save_snapshot(manifest)
        self._committed = True
        self._unverified = []
        return manifest


def _cut_points(view: memoryview, *, final: bool) -> Iterator[tuple[int, int]]:
    """FastCDC chunks of ``view``; unless ``final``, only those whose cut saw a full ``CHUNK_MAX`` lookahead (so
    cutting a stream piece by piece gives exactly the chunks of cutting it whole)."""
    total = len(view)
    if total == 0:
        return
    for chunk in _fastcdc(view, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX):
        start, length = int(chunk.offset), int(chunk.length)
        if not final and total - start < CHUNK_MAX:
            return
        yield start, length


# -- reading -------------------------------------------------------------------------------------------------------
@dataclass
class _Node:
    level: int
    keys: list[bytes]
    children: list[bytes]  # inner nodes
    entries: list[TreeEntry]  # leaves
    chunk_pages: list[bytes]  # leaves: MAP blobs holding chunk lists of very large entries


class TreeReader:
    CACHE_NODES = 16

    def __init__(self, repo: BlobStore, manifest: Manifest) -> None:
        if manifest.content_type != "tree":
            raise LibraryError(f"snapshot {manifest.id} is a {manifest.content_type}, not a tree")
        self.repo = repo
        self.manifest = manifest
        try:
            self.root = bytes.fromhex(manifest.content["root"])
            self.height = int(manifest.content["height"])
        except (KeyError, ValueError, TypeError):
            raise LibraryCorruptError(f"snapshot {manifest.id}: malformed tree content") from None
        if len(self.root) != ID_LEN or self.height < 1:
            raise LibraryCorruptError(f"snapshot {manifest.id}: malformed tree content")
        self._cache: OrderedDict[bytes, _Node] = OrderedDict()

    # -- nodes ---------------------------------------------------------------------------------------------
    def node(self, node_id: bytes, level: int) -> _Node:
        cached = self._cache.get(node_id)
        if cached is not None and cached.level == level:
            self._cache.move_to_end(node_id)
            return cached
        node = self._parse(node_id, self.repo.get_blob(node_id), level)
        self._cache[node_id] = node
        if len(self._cache) > self.CACHE_NODES:
            self._cache.popitem(last=False)
        return node

    def _parse(self, node_id: bytes, data: bytes, level: int) -> _Node:
        where = f"snapshot {self.manifest.id}: tree node {node_id.hex()}"
        try:
            magic, fmt, node_level, count = _NODE_HEAD.unpack_from(data, 0)
            if magic != _NODE_MAGIC or fmt != NODE_FORMAT:
                raise LibraryCorruptError(f"{where}: not a tree node (format {fmt})")
            if node_level != level:
                raise LibraryCorruptError(f"{where}: at level {node_level}, expected {level}")
            node = _Node(level, [], [], [], [])
            pos = _NODE_HEAD.size
            for _ in range(count):
                (key_len,) = _U32.unpack_from(data, pos)
                pos += 4
                raw_key = data[pos : pos + key_len]
                pos += key_len
                if len(raw_key) != key_len:
                    raise struct.error("short key")
                if node.keys and raw_key <= node.keys[-1]:
                    raise LibraryCorruptError(f"{where}: keys out of order")
                node.keys.append(raw_key)
                if level > 0:
                    child = data[pos : pos + ID_LEN]
                    if len(child) != ID_LEN:
                        raise struct.error("short child")
                    node.children.append(child)
                    pos += ID_LEN
                    continue
                entry, pos = self._parse_entry(data, pos, raw_key, node.chunk_pages)
                node.entries.append(entry)
            if pos != len(data):
                raise LibraryCorruptError(f"{where}: trailing bytes")
            if count == 0 and (level > 0 or node_id != self.root):
                raise LibraryCorruptError(f"{where}: empty node")
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, LibraryCorruptError):
                raise
            raise LibraryCorruptError(f"{where}: malformed ({exc})") from None
        return node

    def _parse_entry(self, data: bytes, pos: int, raw_key: bytes, chunk_pages: list[bytes]) -> tuple[TreeEntry, int]:
        entry, end = self._parse_fields(data, pos, raw_key, chunk_pages)
        if not entry.chunks or len(entry.chunks) <= CHUNK_LIST_PAGE:  # not chunk-list pages: add_entry re-checks them
            object.__setattr__(entry, "stored", data[pos:end])
        return entry, end

    def _parse_fields(self, data: bytes, pos: int, raw_key: bytes, chunk_pages: list[bytes]) -> tuple[TreeEntry, int]:
        (meta_len,) = _U32.unpack_from(data, pos)
        pos += 4
        meta = _DECODER.decode(data[pos : pos + meta_len].decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("metadata is not an object")
        pos += meta_len
        size, form = _SIZE_FORM.unpack_from(data, pos)
        pos += _SIZE_FORM.size
        key = raw_key.decode("utf-8")
        if form == _INLINE:
            inline = data[pos : pos + size]
            if len(inline) != size:
                raise ValueError("short inline content")
            return TreeEntry(key, meta, size, (), inline), pos + size
        if form == _DIRECT:
            (n,) = _U32.unpack_from(data, pos)
            pos += 4
            raw = data[pos : pos + n * ID_LEN]
            if len(raw) != n * ID_LEN or n == 0:
                raise ValueError("bad chunk list")
            chunks = tuple(raw[i : i + ID_LEN] for i in range(0, len(raw), ID_LEN))
            return TreeEntry(key, meta, size, chunks), pos + n * ID_LEN
        if form == _INDIRECT:
            n, pages = _TWO_U32.unpack_from(data, pos)
            pos += _TWO_U32.size
            page_ids = [data[pos + i * ID_LEN : pos + (i + 1) * ID_LEN] for i in range(pages)]
            pos += pages * ID_LEN
            if pos > len(data) or pages != -(-n // CHUNK_LIST_PAGE):
                raise ValueError("bad chunk list pages")
            chunk_pages.extend(page_ids)
            raw = b"".join(self.repo.get_blob(p) for p in page_ids)
            if len(raw) != n * ID_LEN:
                raise ValueError("chunk list pages do not hold the chunk count")
            chunks = tuple(raw[i : i + ID_LEN] for i in range(0, len(raw), ID_LEN))
            return TreeEntry(key, meta, size, chunks), pos
        raise ValueError(f"unknown content form {form}")

    # -- walking -------------------------------------------------------------------------------------------
    def entries(self, prefix: str = "") -> Iterator[TreeEntry]:
        """Every entry whose key starts with ``prefix``, in ascending key order (one node per level in memory).
        Verifies the structure it walks (key order across nodes, each child starting at its parent's key)."""
        raw_prefix = _encode_key(prefix)
        path: list[tuple[_Node, int]] = []  # per inner level: the node and the next child to visit
        node_id, level = self.root, self.height - 1
        expect_first: bytes | None = None
        started = False  # False until the walk reaches the first key >= prefix
        last: bytes | None = None
        while True:
            node = self._child(node_id, level, expect_first)
            if level > 0:
                path.append((node, 0 if started else max(bisect_right(node.keys, raw_prefix) - 1, 0)))
            else:
                begin = 0 if started else _lower_bound(node.keys, raw_prefix)
                started = True
                for i in range(begin, len(node.keys)):
                    raw_key = node.keys[i]
                    if last is not None and raw_key <= last:
                        raise LibraryCorruptError(
                            f"snapshot {self.manifest.id}: tree node {node_id.hex()}: keys out of order across nodes"
                        )
                    last = raw_key
                    if not raw_key.startswith(raw_prefix):
                        return  # keys >= prefix that lack it come after every key that has it
                    yield node.entries[i]
            while path:
                parent, nxt = path[-1]
                if nxt < len(parent.children):
                    path[-1] = (parent, nxt + 1)
                    node_id, level, expect_first = parent.children[nxt], parent.level - 1, parent.keys[nxt]
                    break
                path.pop()
            else:
                return

    def _child(self, node_id: bytes, level: int, expect_first: bytes | None) -> _Node:
        node = self.node(node_id, level)
        if expect_first is not None and (not node.keys or node.keys[0] != expect_first):
            raise LibraryCorruptError(
                f"snapshot {self.manifest.id}: tree node {node_id.hex()} does not start at the key its parent names"
            )
        return node

    def get(self, key: str) -> TreeEntry | None:
        raw = _encode_key(key)
        node_id, level = self.root, self.height - 1
        expect_first: bytes | None = None
        while level > 0:
            node = self._child(node_id, level, expect_first)
            i = bisect_right(node.keys, raw) - 1
            if i < 0:
                return None
            node_id, level, expect_first = node.children[i], level - 1, node.keys[i]
        node = self._child(node_id, 0, expect_first)
        i = _lower_bound(node.keys, raw)
        if i < len(node.keys) and node.keys[i] == raw:
            return node.entries[i]
        return None

    def nodes(self) -> Iterator[tuple[bytes, _Node]]:
        """Every node (ID, parsed), depth first in key order: what check and prune walk. Verifies the structure
        (levels, key order within and across nodes, each child starting at the key its parent names)."""
        path: list[tuple[_Node, int]] = []
        node_id, level = self.root, self.height - 1
        expect_first: bytes | None = None
        last: bytes | None = None
        while True:
            node = self._child(node_id, level, expect_first)
            yield node_id, node
            if level > 0:
                path.append((node, 0))
            else:
                for raw_key in node.keys:
                    if last is not None and raw_key <= last:
                        raise LibraryCorruptError(
                            f"snapshot {self.manifest.id}: tree node {node_id.hex()}: keys out of order across nodes"
                        )
                    last = raw_key
            while path:
                parent, nxt = path[-1]
                if nxt < len(parent.children):
                    path[-1] = (parent, nxt + 1)
                    node_id, level, expect_first = parent.children[nxt], parent.level - 1, parent.keys[nxt]
                    break
                path.pop()
            else:
                return

    # -- content -------------------------------------------------------------------------------------------
    def read(self, entry: TreeEntry) -> Iterator[bytes]:
        """The entry's content, chunk by chunk (each chunk authenticated against its ID; a few fetched ahead)."""
        if not entry.chunks:
            if len(entry.inline) != entry.size:
                raise LibraryCorruptError(f"tree entry {entry.key!r}: inline content is not {entry.size} bytes")
            if entry.size:
                yield entry.inline
            return
        total = 0
        for data in self._fetch(entry.chunks):
            total += len(data)
            if total > entry.size:
                break
            yield data
        if total != entry.size:
            raise LibraryCorruptError(
                f"snapshot {self.manifest.id}: tree entry {entry.key!r}: chunks hold {total} bytes, "
                f"expected {entry.size}"
            )

    def _fetch(self, chunks: tuple[bytes, ...]) -> Iterator[bytes]:
        workers = max(1, self.repo.threads)
        if len(chunks) == 1 or workers == 1:
            for chunk in chunks:
                yield self.repo.get_blob(chunk)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tree-read") as pool:
            window: deque[Future[bytes]] = deque()
            pending = iter(chunks)

            def submit() -> None:
                chunk = next(pending, None)
                if chunk is not None:  # in the caller's context: S3 reads count for its job
                    window.append(pool.submit(contextvars.copy_context().run, self.repo.get_blob, chunk))

            for _ in range(workers * 2):
                submit()
            try:
                while window:
                    data = window.popleft().result()
                    submit()
                    yield data
            finally:
                for future in window:
                    future.cancel()


def _lower_bound(keys: list[bytes], raw: bytes) -> int:
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < raw:
            lo = mid + 1
        else:
            hi = mid
    return lo


def tree_refs(repo: BlobStore, manifest: Manifest) -> tuple[list[bytes], list[bytes]]:
    """(node and chunk-list blob IDs, content chunk IDs) of a tree, walking (and verifying) every node."""
    reader = TreeReader(repo, manifest)
    nodes: list[bytes] = []
    chunks: list[bytes] = []
    for node_id, node in reader.nodes():
        nodes.append(node_id)
        nodes.extend(node.chunk_pages)
        for entry in node.entries:
            chunks.extend(entry.chunks)
    return nodes, chunks
