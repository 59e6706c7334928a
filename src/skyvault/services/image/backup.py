"""Back up a raw disk image file into the library.

One reader (the calling thread) fills reused block-sized buffers with ``readinto`` (no copies); a few worker
threads hand them to the library's ``BlockWriter`` (zero check, keyed BLAKE3, zstd, AES-GCM: all GIL-free
per-byte work) and return the buffers. Memory is bounded by the buffer pool and the pack builders.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyvault.errors import LibraryError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest

KIND = "image"
Progress = Callable[[int], None]


@dataclass
class ImageBackupResult:
    manifest: Manifest
    stats: dict[str, Any]


def image_size(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise NotFoundError(f"no disk image at {path}") from None
    except OSError as exc:
        raise LibraryError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        return os.lseek(fd, 0, os.SEEK_END)  # works for regular files and block devices alike
    finally:
        os.close(fd)


def backup_image(
    repo: Repository,
    path: Path,
    *,
    parent: Manifest | None = None,
    progress: Progress | None = None,
    threads: int | None = None,
    meta: dict[str, Any] | None = None,
) -> ImageBackupResult:
    started = time.perf_counter()
    path = path.resolve()
    size = image_size(path)
    writer = repo.open_block_writer(kind=KIND, source=str(path), size=size, parent=parent)
    block_size = writer.block_size
    workers = threads or repo.threads
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(workers * 3):
        free.put(bytearray(block_size))
    work: queue.Queue[tuple[int, bytearray, int] | None] = queue.Queue(maxsize=workers * 2)
    failure: list[BaseException] = []

    def worker() -> None:
        while (item := work.get()) is not None:
            index, buffer, length = item
            try:
                if not failure:
                    writer.put_block(index, buffer if length == block_size else bytes(buffer[:length]))
                    if progress is not None:
                        progress(length)
            except BaseException as exc:
                failure.append(exc)
            finally:
                free.put(buffer)

    # Each worker runs in a copy of the caller's context: a job's call counter and step follow it (an S3 library's
    # requests then count for the job).
    pool = [
        threading.Thread(target=copy_context().run, args=(worker,), name=f"image-backup-{i}", daemon=True)
        for i in range(workers)
    ]
    for thread in pool:
        thread.start()
    try:
        with _reading(path), path.open("rb", buffering=0) as handle:
            for index in range(writer.block_count):
                if failure:
                    break
                buffer = free.get()
                length = _read_full(handle, buffer, min(block_size, size - index * block_size))
                if length != min(block_size, size - index * block_size):
                    raise LibraryError(f"{path} shrank while it was being read (block {index})")
                work.put((index, buffer, length))
    finally:
        for _ in pool:
            work.put(None)
        for thread in pool:
            thread.join()
    if failure:
        raise failure[0]
    manifest = writer.commit(meta={"path": str(path), "size": size, **(meta or {})})
    duration = time.perf_counter() - started
    stats: dict[str, Any] = dict(manifest.stats)
    stats["duration_s"] = round(duration, 3)
    stats["mb_per_s"] = round(size / 1e6 / duration, 1) if duration > 0 else None
    stats["library_snapshot"] = manifest.id
    stats["parent_snapshot"] = manifest.parent
    return ImageBackupResult(manifest=manifest, stats=stats)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise LibraryError(f"cannot read {path}: {exc.strerror}") from exc


def _read_full(handle: Any, buffer: bytearray, length: int) -> int:
    view = memoryview(buffer)[:length]
    got = 0
    while got < length:
        n = handle.readinto(view[got:])
        if not n:
            break
        got += n
    return got
