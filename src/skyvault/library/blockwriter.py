"""The block-map writer: disks (EBS volumes read through the EBS direct API, raw disk images).

API (thread-safe; blocks may arrive in any order, from many threads)::

    writer = repo.open_block_writer(kind="ebs", source=volume_arn, size=volume_bytes, parent=previous_manifest)
    writer.put_block(index, data)     # bytes/bytearray/memoryview of block_size bytes (the last may be short)
    writer.mark_zero(index)           # a block known to be zeros (e.g. not listed by ListSnapshotBlocks)
    manifest = writer.commit(meta={...captured config...})   # -> Manifest; manifest.id is the snapshot ID

A block that is never put keeps the parent's content (incremental by changed blocks: the EBS driver puts
only what ListChangedBlocks returns) or, without a parent, is zeros. All-zero blocks are detected and never
stored; a block equal to the parent's is not even looked up; any other block is stored once per library
(deduplicated by its keyed BLAKE3 ID). ``commit`` stores the block map as MAP blobs, flushes the packs, writes
the index, verifies every referenced blob is indexed, and only then writes the manifest.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.blobstore import BlobStore
from skyvault.library.format import ID_LEN, MAX_BLOB_SIZE, ZERO_ID, BlobType
from skyvault.library.reader import BlockReader
from skyvault.library.snapshots import PAGE_ENTRIES, Manifest


@dataclass
class BlockStats:
    blocks_total: int = 0
    blocks_put: int = 0
    blocks_zero: int = 0
    blocks_unchanged: int = 0
    blocks_deduplicated: int = 0
    blocks_new: int = 0
    bytes_read: int = 0
    bytes_new: int = 0
    bytes_stored: int = 0


class BlockWriter:
    def __init__(
        self,
        repo: BlobStore,
        *,
        kind: str,
        source: str,
        size: int,
        parent: Manifest | None = None,
        block_size: int | None = None,
    ) -> None:
        self.repo = repo
        self.kind = kind
        self.source = source
        self.size = size
        if parent is not None and parent.content_type != "block_map":
            raise LibraryError(f"parent snapshot {parent.id} is a {parent.content_type}, not a block map")
        self.block_size = block_size or (parent.block_size if parent else repo.config.block_size)
        if self.block_size > MAX_BLOB_SIZE or self.block_size <= 0:
            raise LibraryError(f"block size {self.block_size} is outside 1..{MAX_BLOB_SIZE}")
        if parent is not None and parent.block_size != self.block_size:
            raise LibraryError(
                f"parent snapshot {parent.id} uses {parent.block_size}-byte blocks, not {self.block_size}"
            )
        self.parent = parent
        self.block_count = -(-size // self.block_size)
        self.map = bytearray(self.block_count * ID_LEN)
        self._parent_map = b""
        if parent is not None:
            parent_map = BlockReader(repo, parent).block_map()
            keep = min(len(parent_map), len(self.map))
            self.map[:keep] = parent_map[:keep]
            self._parent_map = bytes(self.map)
        self.sink = repo.sink()
        self.stats = BlockStats(blocks_total=self.block_count)
        self._lock = threading.Lock()
        self._zero = bytes(self.block_size)
        self._committed = False

    def _expected_length(self, index: int) -> int:
        if not 0 <= index < self.block_count:
            raise LibraryError(f"block {index} is outside the {self.block_count} blocks of {self.source}")
        return min(self.block_size, self.size - index * self.block_size)

    def _is_zero(self, data: bytes | bytearray | memoryview, length: int) -> bool:
        # bytes/bytearray equality is one memcmp; memoryview equality is element-wise (200x slower).
        if isinstance(data, memoryview) and isinstance(data.obj, bytes | bytearray) and len(data.obj) == length:
            data = data.obj
        if isinstance(data, bytes | bytearray):
            return data == self._zero if length == self.block_size else data == bytes(length)
        return bytes(data) == bytes(length)

    def put_block(self, index: int, data: bytes | bytearray | memoryview) -> None:
        self.repo.check_locks()  # a backup whose lock was lost stops here, not only at commit
        length = self._expected_length(index)
        if len(data) != length:
            raise LibraryError(f"block {index} of {self.source} has {len(data)} bytes, expected {length}")
        if self._is_zero(data, length):
            self.mark_zero(index, counted_as_read=length)
            return
        blob_id = self.repo.sealer.blob_id(data)
        pos = index * ID_LEN
        stored = 0
        if self._parent_map and self._parent_map[pos : pos + ID_LEN] == blob_id:
            outcome = "unchanged"
        elif self.sink.claim(blob_id):
            stored = self.sink.store(blob_id, BlobType.DATA, data)
            outcome = "new"
        else:
            outcome = "deduplicated"
        self.map[pos : pos + ID_LEN] = blob_id
        with self._lock:
            s = self.stats
            s.blocks_put += 1
            s.bytes_read += length
            if outcome == "unchanged":
                s.blocks_unchanged += 1
            elif outcome == "new":
                s.blocks_new += 1
                s.bytes_new += length
                s.bytes_stored += stored
            else:
                s.blocks_deduplicated += 1

    def mark_zero(self, index: int, *, counted_as_read: int = 0) -> None:
        self._expected_length(index)
        pos = index * ID_LEN
        self.map[pos : pos + ID_LEN] = ZERO_ID
        with self._lock:
            self.stats.blocks_zero += 1
            self.stats.bytes_read += counted_as_read

    def commit(self, *, meta: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> Manifest:
        if self._committed:
            raise LibraryError("this block writer has already committed")
        page_bytes = PAGE_ENTRIES * ID_LEN
        pages = [
            self.sink.put(BlobType.MAP, bytes(self.map[p : p + page_bytes]))
            for p in range(0, len(self.map), page_bytes)
        ]
        self.sink.flush()
        self._verify_references(pages)
        self.stats.bytes_stored = self.sink.stats.bytes_stored  # blocks plus block-map pages
        manifest = Manifest(
            kind=self.kind,
            source=self.source,
            time=datetime.now(UTC).isoformat(timespec="microseconds"),
            host=socket.gethostname(),
            parent=self.parent.id if self.parent else None,
            meta=meta or {},
            stats=asdict(self.stats),
            tags=tags or {},
            content={
                "type": "block_map",
                "size": self.size,
                "block_size": self.block_size,
                "block_count": self.block_count,
                "page_entries": PAGE_ENTRIES,
                "pages": [p.hex() for p in pages],
            },
        )
        self.repo.save_snapshot(manifest)
        self._committed = True
        return manifest

    def _verify_references(self, pages: list[bytes]) -> None:
        # The manifest must never name a blob that is not durably stored and indexed (crash-safety invariant).
        index = self.repo.index
        view = memoryview(self.map)
        for pos in range(0, len(view), ID_LEN):
            blob_id = view[pos : pos + ID_LEN].tobytes()
            if blob_id != ZERO_ID and blob_id not in index:
                raise LibraryCorruptError(f"block {pos // ID_LEN}: blob {blob_id.hex()} is not in the library")
        for page in pages:
            if page not in index:
                raise LibraryCorruptError(f"block-map page {page.hex()} is not in the library")
