"""The blob sink: deduplicates, compresses and encrypts blobs into packs, uploads packs, writes indexes.

``store`` may be called from many threads at once. The per-byte work (BLAKE3, zstd with one compressor per
thread, AES-GCM straight into the pack buffer) runs in extensions that release the GIL, so a few threads use
all cores. A fixed pool of ``PackBuilder``s bounds memory whatever the number of calling threads: a thread
checks one out only to encrypt into it (and to upload it when full).

Crash ordering: a pack is uploaded before any index names it; ``flush`` uploads the open packs and then writes
one index file for every pack uploaded since the last one, so an index never names a missing pack.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import zstandard

from skyvault.library.backends.base import Backend
from skyvault.library.crypto import Sealer
from skyvault.library.format import BlobType, pack_name
from skyvault.library.index import Index, write_index_file
from skyvault.library.packs import PackBuilder, PackEntry

CHECKPOINT_PACKS = 64  # write an index file at least every 64 packs: a killed run's next run reuses them


@dataclass
class SinkStats:
    blobs_new: int = 0
    blobs_known: int = 0
    bytes_new_raw: int = 0
    bytes_stored: int = 0
    packs_written: int = 0
    index_files_written: int = 0


class BlobSink:
    def __init__(
        self,
        backend: Backend,
        sealer: Sealer,
        index: Index,
        *,
        pack_size: int,
        compression_level: int,
        builders: int = 2,
    ) -> None:
        self.backend = backend
        self.sealer = sealer
        self.index = index
        self.compression_level = compression_level
        self.stats = SinkStats()
        self._free: queue.SimpleQueue[PackBuilder] = queue.SimpleQueue()
        self._builders = [PackBuilder(sealer, pack_size) for _ in range(max(1, builders))]
        for builder in self._builders:
            self._free.put(builder)
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self._unindexed: list[tuple[bytes, list[PackEntry]]] = []
        self._local = threading.local()

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "zstd", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.compression_level)
            self._local.zstd = compressor
        return compressor

    def claim(self, blob_id: bytes) -> bool:
        """True when the caller must store this blob; False when it is in the index or being stored."""
        with self._lock:
            if blob_id in self.index or blob_id in self._claimed:
                self.stats.blobs_known += 1
                return False
            self._claimed.add(blob_id)
            return True

    def store(self, blob_id: bytes, blob_type: BlobType, data: bytes | bytearray | memoryview) -> int:
        """Store a blob the caller has claimed; returns the bytes it adds to the library."""
        try:
            payload: bytes | memoryview = self._compressor().compress(data)
            compressed = True
            if len(payload) >= len(data) - len(data) // 64:
                # incompressible (random, already compressed): store as is, restore skips decompression
                payload, compressed = memoryview(data), False
            builder = self._free.get()
            try:
                stored = builder.add(blob_id, blob_type, payload, compressed=compressed, raw_length=len(data))
                if builder.full:
                    self._upload(builder)
            finally:
                self._free.put(builder)
        except BaseException:
            with self._lock:
                self._claimed.discard(blob_id)
            raise
        with self._lock:
            self.stats.blobs_new += 1
            self.stats.bytes_new_raw += len(data)
            self.stats.bytes_stored += stored
        return stored

    def put(self, blob_type: BlobType, data: bytes | bytearray | memoryview) -> bytes:
        """Hash, then store unless known; returns the blob ID."""
        blob_id = self.sealer.blob_id(data)
        if self.claim(blob_id):
            self.store(blob_id, blob_type, data)
        return blob_id

    def _upload(self, builder: PackBuilder) -> None:
        pack_id, data, entries = builder.finish()
        self.backend.put(pack_name(pack_id), data)
        self.index.add_pack(pack_id, entries)
        checkpoint: list[tuple[bytes, list[PackEntry]]] = []
        with self._lock:
            self._claimed.difference_update(e.blob_id for e in entries)
            self._unindexed.append((pack_id, entries))
            self.stats.packs_written += 1
            if len(self._unindexed) >= CHECKPOINT_PACKS:
                checkpoint, self._unindexed = self._unindexed, []
        builder.reset()
        if checkpoint:
            self._write_index(checkpoint)

    def _write_index(self, packs: list[tuple[bytes, list[PackEntry]]]) -> None:
        self.backend.sync()  # the packs must be durable before an index names them
        write_index_file(self.backend, self.sealer, packs)
        with self._lock:
            self.stats.index_files_written += 1

    def flush(self) -> None:
        """Upload every open pack, then index them: afterwards every stored blob is durable and indexed."""
        taken = [self._free.get() for _ in self._builders]
        try:
            for builder in taken:
                if builder.entries:
                    self._upload(builder)
        finally:
            for builder in taken:
                self._free.put(builder)
        with self._lock:
            pending, self._unindexed = self._unindexed, []
        if pending:
            self._write_index(pending)
