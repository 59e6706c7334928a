"""Memory is bounded: backing up a 4x larger image does not need more memory (beyond the index and block map)."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

from library.helpers import make_repo
from skyvault.library.backends import LocalBackend
from skyvault.services.image import backup_image

MiB = 1024 * 1024


def peak_bytes_for(tmp: Path, size: int) -> int:
    image = tmp / f"disk-{size}.img"
    rng = random.Random(size)
    with image.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(rng.randbytes(MiB))
    repo = make_repo(LocalBackend(tmp / f"lib-{size}", fsync=False), block_size=64 * 1024, pack_size=MiB)
    _ = repo.index
    tracemalloc.start()
    try:
        backup_image(repo, image)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_peak_memory_does_not_grow_with_image_size(tmp_path: Path) -> None:
    small = peak_bytes_for(tmp_path, 8 * MiB)
    large = peak_bytes_for(tmp_path, 32 * MiB)
    # 384 more blocks: ~100 KiB of index entries and block map; buffers and pack builders are the same.
    assert large - small < 1 * MiB, (small, large)
    # Python-heap allocations only (the pack builders' buffers are mmap'ed, fixed at ~2 MiB each here):
    # block buffers, compressed payloads in flight, index entries.
    assert large < 4 * MiB
