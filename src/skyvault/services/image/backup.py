"""Back up a raw disk image file into the library.

One reader (the calling thread) fills reused block-sized buffers with ``readinto`` (no copies); a few worker
threads hand them to the library's ``BlockWriter`` (zero check, keyed BLAKE3, zstd, AES-GCM: all GIL-free
per-byte work) and return the buffers. Memory is bounded by the buffer pool and the pack builders.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyvault.errors import ConflictError, LibraryError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest

KIND = "image"
Progress = Callable[[int], None]


@dataclass
class ImageBackupResult:
    manifest: Manifest
    stats: dict[str, Any]


def open_image(path: Path) -> tuple[int, int]:
    """Open a disk image for reading: (file descriptor, size). Only a regular file or a block device is accepted,
    checked on the open file itself (a directory has no bytes to back up, a FIFO would wait for a writer
    forever, /proc files have no size); the caller reads from this descriptor and closes it."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; regular files and block
        # devices read the same with it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFoundError(f"no disk image at {path}") from None
    except OSError as exc:
        raise LibraryError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            kind = {stat.S_IFDIR: "directory", stat.S_IFIFO: "FIFO", stat.S_IFCHR: "character device"}.get(
                stat.S_IFMT(mode), "special file"
            )
            raise ConflictError(
                f"cannot back up {path}: it is a {kind}; backup image reads regular files and block devices"
            )
        try:
            return fd, os.lseek(fd, 0, os.SEEK_END)  # works for regular files and block devices alike
        except OSError as exc:
            raise ConflictError(
                f"cannot back up {path}: its size is unknown ({exc.strerror}); not a disk image"
            ) from exc
    except BaseException:
        os.close(fd)
        raise


def image_size(path: Path) -> int:
    fd, size = open_image(path)
    os.close(fd)
    return size


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
    fd, size = open_image(path)
    try:
        return _backup_open_image(repo, path, fd, size, parent, progress, threads, meta, started)
    finally:
        os.close(fd)


def _backup_open_image(
    repo: Repository,
    path: Path,
    fd: int,
    size: int,
    parent: Manifest | None,
    progress: Progress | None,
    threads: int | None,
    meta: dict[str, Any] | None,
    started: float,
) -> ImageBackupResult:
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
        os.lseek(fd, 0, os.SEEK_SET)
        with _reading(path), open(fd, "rb", buffering=0, closefd=False) as handle:
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
