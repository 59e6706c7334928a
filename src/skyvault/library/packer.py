"""The blob sink: deduplicates, compresses and encrypts blobs into packs, uploads packs, writes indexes.

``store`` may be called from many threads at once. The per-byte work (BLAKE3, zstd with one compressor per
thread, AES-GCM straight into the pack buffer) runs in extensions that release the GIL, so a few threads use
all cores. A fixed pool of ``PackBuilder``s bounds memory whatever the number of calling threads: a thread
checks one out only to encrypt into it. A full pack is written by a background uploader thread while the
writers go on (S3 PUT latency, O_DIRECT disk waits); a failed upload is raised by the next ``store`` or by
``flush``.

Crash ordering: a pack is uploaded before any index names it; ``flush`` uploads the open packs and then writes
one index file for every pack uploaded since the last one, so an index never names a missing pack. Until its
index file is written, a pack is known to this sink only: the shared in-memory index (which other writers of
the same repository deduplicate against, and which a manifest's references are verified against) only ever
holds packs an index file names, so a writer that fails before ``flush`` cannot leave another's manifest
pointing at blobs in unindexed packs (which prune would delete).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
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
        uploads: int = 1,
    ) -> None:
        self.backend = backend
        self.sealer = sealer
        self.index = index
        self.compression_level = compression_level
        self.stats = SinkStats()
        self._free: queue.SimpleQueue[PackBuilder] = queue.SimpleQueue()
        # One builder per writing thread plus one per upload in flight: writers keep compressing while a full
        # pack is written (S3 PUT latency, O_DIRECT disk waits) by the uploader thread(s).
        self._uploads = max(0, uploads)
        self._uploader: ThreadPoolExecutor | None = None
        self._failures: list[BaseException] = []
        self._builders = [PackBuilder(sealer, pack_size) for _ in range(max(1, builders) + self._uploads)]
        for builder in self._builders:
            self._free.put(builder)
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self._unindexed: list[tuple[bytes, list[PackEntry]]] = []
        self._uploaded: set[bytes] = set()  # blobs in this sink's packs that no index file names yet
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
            if blob_id in self.index or blob_id in self._claimed or blob_id in self._uploaded:
                self.stats.blobs_known += 1
                return False
            self._claimed.add(blob_id)
            return True

    def holds(self, blob_id: bytes) -> bool:
        """True when this sink is storing the blob or has stored it in a pack no index file names yet (it will be
        indexed by ``flush``)."""
        with self._lock:
            return blob_id in self._claimed or blob_id in self._uploaded

    def store(self, blob_id: bytes, blob_type: BlobType, data: bytes | bytearray | memoryview) -> int:
        """Store a blob the caller has claimed; returns the bytes it adds to the library."""
        try:
            self._raise_failure()
            payload: bytes | memoryview = self._compressor().compress(data)
            compressed = True
            if len(payload) >= len(data) - len(data) // 64:
                # incompressible (random, already compressed): store as is, restore skips decompression
                payload, compressed = memoryview(data), False
            builder = self._free.get()
            handed_off = False
            try:
                stored = builder.add(blob_id, blob_type, payload, compressed=compressed, raw_length=len(data))
                if builder.full and self._uploads:
                    self._upload_in_background(builder)
                    handed_off = True
                elif builder.full:
                    self._upload(builder)
            finally:
                if not handed_off:
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

    def _upload_in_background(self, builder: PackBuilder) -> None:
        with self._lock:
            if self._uploader is None:
                self._uploader = ThreadPoolExecutor(max_workers=self._uploads, thread_name_prefix="library-upload")
            uploader = self._uploader
        # In the submitter's context: the uploads' S3 calls count for the job that made the blobs.
        uploader.submit(contextvars.copy_context().run, self._upload_and_release, builder)

    def _upload_and_release(self, builder: PackBuilder) -> None:
        try:
            self._upload(builder)
        except BaseException as exc:
            with self._lock:
                self._failures.append(exc)
                self._claimed.difference_update(e.blob_id for e in builder.entries)
            builder.reset()
        finally:
            self._free.put(builder)

    def _raise_failure(self) -> None:
        with self._lock:
            failure = self._failures[0] if self._failures else None
        if failure is not None:
            raise failure

    def _upload(self, builder: PackBuilder) -> None:
        pack_id, data, entries = builder.finish()
        self.backend.put(pack_name(pack_id), data)
        checkpoint: list[tuple[bytes, list[PackEntry]]] = []
        with self._lock:
            self._uploaded.update(e.blob_id for e in entries)
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
        for pack_id, entries in packs:
            self.index.add_pack(pack_id, entries)
        with self._lock:
            self._uploaded.difference_update(e.blob_id for _, entries in packs for e in entries)
            self.stats.index_files_written += 1

    def flush(self) -> None:
        """Upload every open pack, then index them: afterwards every stored blob is durable and indexed."""
        taken = [self._free.get() for _ in self._builders]  # waits for the uploads in flight
        with self._lock:
            uploader, self._uploader = self._uploader, None
        if uploader is not None:
            uploader.shutdown()
        try:
            self._raise_failure()
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
