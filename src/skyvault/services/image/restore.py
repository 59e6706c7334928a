"""Restore a disk-image recovery point to a file (byte-identical, sparse where blocks are zero) or a block device.

A file is written as a temporary file created exclusively in the target's folder (a fresh random name, never
through a link, never truncating anything), truncated to the image size first (zero blocks stay holes), synced,
then renamed over PATH: an interrupted restore never leaves a half image under the requested name. A block
device is written in place (that is how a disk is restored), zero blocks included. Anything else (a character
device such as /dev/full, a directory, a FIFO) is refused. An existing target is replaced only when
``overwrite`` is given (the CLI's ``--yes``).
"""

from __future__ import annotations

import errno
import mmap
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from skyvault.errors import ConfirmationRequiredError, ConflictError, LibraryError, NotFoundError
from skyvault.library.format import ZERO_ID
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest

Progress = Callable[[int], None]


DIRECT_ALIGN = 4096


class _FileWriter:
    """``pwrite`` blocks into the file: whole aligned blocks with O_DIRECT when the file system allows it
    (one copy into an aligned buffer instead of the page cache's copy, and the cache is not flooded with the
    image), anything else through the cache."""

    def __init__(self, fd: int, block_size: int) -> None:
        self.fd = fd
        self.block_size = block_size
        self.direct_fd: int | None = None
        self._local = threading.local()
        if block_size % DIRECT_ALIGN == 0 and hasattr(os, "O_DIRECT"):
            try:
                # The same open file, not the path again: the name may have been swapped for a link meanwhile.
                self.direct_fd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_DIRECT)
            except OSError:
                self.direct_fd = None  # tmpfs and friends: no O_DIRECT (or no /proc)

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


class TargetKind(StrEnum):
    NEW = "new file"
    FILE = "existing file"
    DEVICE = "block device"


def _describe(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def target_kind(mode: int) -> TargetKind | None:
    """What restore does with an existing target of this mode: replace a file, write a block device in place."""
    if stat.S_ISREG(mode):
        return TargetKind.FILE
    if stat.S_ISBLK(mode):
        return TargetKind.DEVICE
    return None


def examine_target(to_file: Path, *, overwrite: bool) -> tuple[Path, TargetKind]:
    """Where a restore to ``to_file`` writes and how; refuses what it must not touch, before anything is written.

    The path is resolved (the user's own links are followed: the target is what the path names)."""
    try:
        path = to_file.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        raise ConflictError(f"cannot restore to {to_file}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise NotFoundError(f"cannot restore to {path}: no folder {path.parent}") from None
        return path, TargetKind.NEW
    except OSError as exc:
        raise ConflictError(f"cannot restore to {to_file}: {exc.strerror}") from None
    kind = target_kind(mode)
    if kind is None:
        raise ConflictError(
            f"cannot restore to {path}: it is a {_describe(mode)}; a disk image is restored to a regular file or "
            "onto a block device",
            hint="choose another --to-file",
        )
    if not overwrite:
        raise ConfirmationRequiredError(
            f"{path} exists ({kind.value}); restoring would replace its contents; nothing was changed",
            hint="add --yes to replace it, or choose another --to-file",
        )
    return path, kind


def _create_temporary(folder: Path, name: str) -> tuple[Path, int]:
    """A new file with a random name in ``folder``: O_EXCL and O_NOFOLLOW, so nothing is followed or truncated."""
    for _ in range(100):
        candidate = folder / f".{name[:100]}.{secrets.token_hex(8)}.partial"
        try:
            return candidate, os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise LibraryError(f"cannot create a temporary file in {folder}: {exc.strerror}") from exc
    raise LibraryError(f"cannot create a temporary file in {folder}: every name tried exists")


def _write_zero_blocks(fd: int, reader: BlockReader) -> int:
    """A device is not sparse: blocks of zeros must be written (a file's holes read as zeros already)."""
    block_map = reader.block_map()
    id_len = len(ZERO_ID)
    written = 0
    zeros = bytes(reader.manifest.block_size)
    for index in range(reader.manifest.block_count):
        if block_map[index * id_len : (index + 1) * id_len] == ZERO_ID:
            length = reader.block_length(index)
            view = memoryview(zeros)[:length]
            offset = index * reader.manifest.block_size
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done
            written += length
    return written


def restore_image(
    repo: Repository,
    manifest: Manifest,
    to_file: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    reader = BlockReader(repo, manifest)
    path, kind = examine_target(to_file, overwrite=overwrite)
    if kind is TargetKind.DEVICE:
        written = _restore_to_device(reader, path, progress)
    else:
        written = _restore_to_file(reader, path, progress)
    duration = time.perf_counter() - started
    return {
        "restored_to": str(path),
        "library_snapshot": manifest.id,
        "stats": {
            "bytes_restored": manifest.size,
            "bytes_written": written,
            "duration_s": round(duration, 3),
            "mb_per_s": round(manifest.size / 1e6 / duration, 1) if duration > 0 else None,
        },
    }


def _restore_to_file(reader: BlockReader, path: Path, progress: Progress | None) -> int:
    manifest = reader.manifest
    partial, fd = _create_temporary(path.parent, path.name)
    writer = _FileWriter(fd, manifest.block_size)
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
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise LibraryError(f"cannot replace {path}: {exc.strerror}") from exc
    return written


def _restore_to_device(reader: BlockReader, path: Path, progress: Progress | None) -> int:
    manifest = reader.manifest
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConflictError(f"cannot open {path} for writing: {exc.strerror}") from exc
    if target_kind(os.fstat(fd).st_mode) is not TargetKind.DEVICE:  # swapped since it was examined
        os.close(fd)
        raise ConflictError(f"{path} changed while the restore started; nothing was written")
    writer = _FileWriter(fd, manifest.block_size)
    try:
        capacity = os.lseek(fd, 0, os.SEEK_END)
        if capacity < manifest.size:
            raise ConflictError(
                f"{path} holds {capacity:,} bytes; the image needs {manifest.size:,}; nothing was written"
            )
        written = reader.restore(writer.write, progress)
        written += _write_zero_blocks(fd, reader)
        if progress is not None:
            progress(manifest.size - written)
        os.fsync(fd)
    except OSError as exc:
        raise LibraryError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        writer.close()
        os.close(fd)
    return written
