"""Restore a disk-image recovery point to a file, byte-identical, sparse where blocks are zero.

The file is written as ``PATH.partial`` (truncated to the image size first, so zero blocks stay holes), synced,
then renamed over PATH: an interrupted restore never leaves a half image under the requested name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from skyvault.engine.restore import RestoreRequest, register_restorer
from skyvault.errors import LibraryError
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest

Progress = Callable[[int], None]


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
    try:
        os.ftruncate(fd, manifest.size)

        def write(offset: int, data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.pwrite(fd, view, offset + len(data) - len(view)) :]

        written = reader.restore(write, progress)
        if progress is not None:
            progress(manifest.size - written)  # zero blocks: holes, nothing to write
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    os.close(fd)
    partial.replace(to_file)
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


class RepositoryOpener(Protocol):
    """Opens a configured library by name (None: the default); the CLI supplies it (it owns passphrases)."""

    def __call__(self, context: Any, library: str | None) -> Repository: ...


class ProgressFactory(Protocol):
    """Makes a progress callback for ``total`` bytes (the CLI's progress bar); used as a context manager."""

    def __call__(self, context: Any, description: str, total: int, /) -> AbstractContextManager[Progress]: ...


def register(open_repository: RepositoryOpener, progress: ProgressFactory | None = None) -> None:
    """Register the restorer for recovery points of kind "image"."""

    def restorer(request: RestoreRequest) -> dict[str, Any]:
        point = request.point
        if request.to_file is None:
            raise LibraryError("restoring a disk image needs --to-file PATH")
        if not point.library_snapshot:
            raise LibraryError(f"recovery point {point.id} has no library copy")
        repo = open_repository(request.context, point.library)
        try:
            manifest = repo.load_snapshot(point.library_snapshot)
            reporting = progress(request.context, "restoring", manifest.size) if progress else nullcontext(None)
            with reporting as advance:
                result = restore_image(repo, manifest, request.to_file, progress=advance)
        finally:
            repo.close()
        return {"recovery_point": point.id, **result}

    register_restorer("image", restorer)
