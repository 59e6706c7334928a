"""Restore a disk-image recovery point to a file, byte-identical, sparse where blocks are zero.

The file is written as ``PATH.partial`` (truncated to the image size first, so zero blocks stay holes), synced,
then renamed over PATH: an interrupted restore never leaves a half image under the requested name.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skyvault.errors import LibraryError
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest

Progress = Callable[[int], None]


DIRECT_ALIGN = 4096


class _FileWriter:
    """``pwrite`` blocks into the file: whole aligned blocks with O_DIRECT when the file system allows it
    (one copy into an aligned buffer instead of the page cache's copy, and the cache is not flooded with the
    image), anything else through the cache."""

    def __init__(self, path: Path, fd: int, block_size: int) -> None:
        self.fd = fd
        self.block_size = block_size
        self.direct_fd: int | None = None
        self._local = threading.local()
        if block_size % DIRECT_ALIGN == 0 and hasattr(os, "O_DIRECT"):
            try:
                self.direct_fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
            except OSError:
                self.direct_fd = None  # tmpfs and friends: no O_DIRECT

    def write(self, offset: int, data: bytes) -> None:
        direct_fd = self.direct_fd
        if direct_fd is not None and len(data) == self.block_size and offset % DIRECT_ALIGN == 0:
            buffer: mmap.mmap | None = getattr(self._local, "buffer", None)
            if buffer is None:
                buffer = self._local.buffer = mmap.mmap(-1, self.block_size)  # page-aligned
            buffer[:] = data
            try:
                if os.pwrite(direct_fd, buffer, offset) == self.block_size:
                    return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct_fd = None  # refused after all: the cached path below, from now on
        view = memoryview(data)
        while view:
            view = view[os.pwrite(self.fd, view, offset + len(data) - len(view)) :]

    def close(self) -> None:
        if self.direct_fd is not None:
            os.close(self.direct_fd)
            self.direct_fd = None


def restore_image(
    repo: Repository, manifest: Manifest, to_file: Path, *, progress: Progress | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    reader = BlockReader(repo, manifest)
    to_file = to_file.resolve()
    partial = to_file.with_name(to_file.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise LibraryError(f"cannot create {partial}: {exc.strerror}") from exc
    writer = _FileWriter(partial, fd, manifest.block_size)
    try:
        os.ftruncate(fd, manifest.size)
        written = reader.restore(writer.write, progress)
        if progress is not None:
            progress(manifest.size - written)  # zero blocks: holes, nothing to write
        os.fsync(fd)
    except BaseException as exc:
        writer.close()
        os.close(fd)
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LibraryError(f"cannot write {partial}: {exc.strerror}") from exc
        raise
    writer.close()
    os.close(fd)
    try:
        partial.replace(to_file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise LibraryError(f"cannot replace {to_file}: {exc.strerror}") from exc
    duration = time.perf_counter() - started
    return {
        "restored_to": str(to_file),
        "library_snapshot": manifest.id,
        "stats": {
            "bytes_restored": manifest.size,
            "bytes_written": written,
            "duration_s": round(duration, 3),
            "mb_per_s": round(manifest.size / 1e6 / duration, 1) if duration > 0 else None,
        },
    }
