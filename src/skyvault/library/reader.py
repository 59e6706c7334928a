"""Reading block maps back: single blocks, all blocks in order, or a fast parallel restore.

``BlockReader(repo, manifest)``:

* ``block_map()`` -> the flat run of 32-byte blob IDs (``ZERO_ID`` for zero blocks);
* ``read_block(i)`` -> the block's bytes (zeros for a zero block);
* ``iter_blocks()`` -> ``(index, bytes | None)`` in order, ``None`` for zero blocks;
* ``restore(write, progress)`` -> calls ``write(offset, data)`` for every non-zero block, from a few threads,
  fetching each pack once (coalesced byte ranges) and decoding each distinct blob once.
"""

from __future__ import annotations

import contextvars
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.blobstore import BlobStore
from skyvault.library.format import DATA, ID_LEN, ZERO_ID, file_name
from skyvault.library.snapshots import Manifest

RANGE_GAP = 1024 * 1024  # read across gaps up to 1 MiB rather than issue another request
Writer = Callable[[int, bytes], None]
Progress = Callable[[int], None]


class BlockReader:
    def __init__(self, repo: BlobStore, manifest: Manifest) -> None:
        if manifest.content.get("type") != "block_map":
            raise LibraryCorruptError(f"snapshot {manifest.id} is not a block map")
        self.repo = repo
        self.manifest = manifest
        self._map: bytes | None = None

    def block_map(self) -> bytes:
        if self._map is None:
            pages = [self.repo.get_blob(p) for p in self.manifest.page_ids]
            block_map = b"".join(pages)
            if len(block_map) != self.manifest.block_count * ID_LEN:
                raise LibraryCorruptError(
                    f"snapshot {self.manifest.id}: block map has {len(block_map) // ID_LEN} entries, "
                    f"expected {self.manifest.block_count}"
                )
            self._map = block_map
        return self._map

    def blob_id(self, index: int) -> bytes:
        return self.block_map()[index * ID_LEN : (index + 1) * ID_LEN]

    def block_length(self, index: int) -> int:
        m = self.manifest
        return min(m.block_size, m.size - index * m.block_size)

    def read_block(self, index: int) -> bytes:
        if not 0 <= index < self.manifest.block_count:
            raise LibraryError(f"block {index} outside 0..{self.manifest.block_count - 1}")
        blob_id = self.blob_id(index)
        if blob_id == ZERO_ID:
            return bytes(self.block_length(index))
        return self.repo.get_blob(blob_id)

    def iter_blocks(self) -> Iterator[tuple[int, bytes | None]]:
        for index in range(self.manifest.block_count):
            blob_id = self.blob_id(index)
            yield index, None if blob_id == ZERO_ID else self.repo.get_blob(blob_id)

    def _plan(self) -> dict[bytes, dict[bytes, list[int]]]:
        """pack ID -> blob ID -> block indexes using it."""
        index = self.repo.index
        block_map = self.block_map()
        plan: dict[bytes, dict[bytes, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i in range(self.manifest.block_count):
            blob_id = block_map[i * ID_LEN : (i + 1) * ID_LEN]
            if blob_id == ZERO_ID:
                continue
            entry = index.get(blob_id)
            if entry is None:
                raise LibraryCorruptError(f"block {i}: blob {blob_id.hex()} is not in the library (missing data)")
            plan[entry.pack_id][blob_id].append(i)
        return plan

    def restore(self, write: Writer, progress: Progress | None = None, *, threads: int | None = None) -> int:
        """Write every non-zero block; returns the number of bytes written."""
        plan = self._plan()
        block_size = self.manifest.block_size
        written = 0
        lock = threading.Lock()

        def restore_pack(pack_id: bytes, blobs: dict[bytes, list[int]]) -> None:
            nonlocal written
            name = file_name(DATA, pack_id)
            entries = sorted(((self.repo.index.get(b), b) for b in blobs), key=lambda e: e[0].offset)  # type: ignore[union-attr]
            start = 0
            while start < len(entries):
                end = start + 1
                first = entries[start][0]
                assert first is not None
                range_end = first.offset + first.length
                while end < len(entries):
                    nxt = entries[end][0]
                    assert nxt is not None
                    if nxt.offset - range_end > RANGE_GAP:
                        break
                    range_end = max(range_end, nxt.offset + nxt.length)
                    end += 1
                chunk = memoryview(self.repo.read_pack_range(pack_id, first.offset, range_end - first.offset))
                for entry, blob_id in entries[start:end]:
                    assert entry is not None
                    rel = entry.offset - first.offset
                    data = self.repo.decode_blob(blob_id, chunk[rel : rel + entry.length], entry.raw_length, name)
                    done = 0
                    for block in blobs[blob_id]:
                        write(block * block_size, data)
                        done += len(data)
                    with lock:
                        written += done
                    if progress is not None:
                        progress(done)
                start = end

        workers = threads or self.repo.threads
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[None]] = set()
            for pack_id, blobs in plan.items():
                if len(pending) >= workers * 2:  # bounded: at most a few packs in memory
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()
                pending.add(
                    pool.submit(contextvars.copy_context().run, restore_pack, pack_id, blobs)
                )  # S3 reads count for the job
            for f in pending:
                f.result()
        return written
