"""Local-disk backend: one file per object under a root directory.

Writes go to a temporary file in the target directory, are fsynced, then renamed into place (or hard-linked
for ``if_absent``, which fails atomically if the name exists), and the directory is fsynced: a crash leaves
either the whole file or none of it. Packs are the exception that keeps backups fast: they are renamed into
place at once and fsynced by a background thread, and ``sync`` (called before any index names them) waits for
those fsyncs. After a power loss a pack that no index names may be damaged: ``check`` reports it as unindexed
and ``prune`` deletes it; an index never names a pack that was not durable.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from skyvault.errors import ConflictError, LibraryError, NotFoundError
from skyvault.library.backends.base import Backend, Buffer
from skyvault.library.format import CONFIG, DATA, KINDS, validate_name

_TMP_PREFIX = ".tmp-"


DIRECT_ALIGN = 4096  # satisfies both 512-byte and 4 KiB logical sectors
DIRECT_MIN = 1024 * 1024


def _page_aligned(view: memoryview) -> bool:
    if view.readonly or not view.contiguous or len(view) == 0:
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) % DIRECT_ALIGN == 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBackend(Backend):
    def __init__(self, root: Path, *, fsync: bool = True, direct: bool = True) -> None:
        self.root = root
        self.location = str(root)
        self._fsync = fsync
        self._made_dirs: set[Path] = set()
        self._direct = direct and hasattr(os, "O_DIRECT")
        self._syncer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._dirty_dirs: set[Path] = set()
        self._lock = threading.Lock()
        # One sync at a time: a second caller must not return while the first still waits for fsyncs of
        # packs the second's index may name.
        self._sync_lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _ensure_dir(self, directory: Path) -> None:
        if directory not in self._made_dirs:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryError(f"cannot create the folder {directory}: {exc.strerror}") from exc
            self._made_dirs.add(directory)

    def prepare_new(self) -> None:
        """Before ``init``: the root must be a folder skyvault may fill (absent, empty, or a library's own
        layout), never a file nor a folder of unrelated files that would then be mistaken for a library."""
        try:
            if self.root.exists() and not self.root.is_dir():
                raise LibraryError(f"cannot create a library at {self.root}: it is not a folder")
            if self.root.is_dir():
                unrelated = sorted(p.name for p in self.root.iterdir() if p.name not in (CONFIG, *KINDS))
                if unrelated:
                    shown = ", ".join(unrelated[:3]) + (", ..." if len(unrelated) > 3 else "")
                    raise ConflictError(
                        f"{self.root} holds files that are not a library's ({shown}); nothing was written",
                        hint="choose an empty or new folder",
                    )
        except OSError as exc:
            raise LibraryError(f"cannot create a library at {self.root}: {exc.strerror}") from exc

    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
        path = self._path(name)
        self._ensure_dir(path.parent)
        tmp = path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            view = memoryview(data)
            is_pack = name.startswith(DATA + "/")
            direct = is_pack and self._direct and len(view) >= DIRECT_MIN and _page_aligned(view)
            if direct and self._write_direct(tmp, view):
                view = view[len(view) - len(view) % DIRECT_ALIGN :]
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                offset = os.lseek(fd, 0, os.SEEK_END)
                while view:
                    written = os.pwrite(fd, view, offset)
                    view = view[written:]
                    offset += written
                deferred = self._fsync and is_pack and not if_absent
                if self._fsync and not deferred:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if if_absent:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ConflictError(f"{name} already exists") from None
                finally:
                    tmp.unlink(missing_ok=True)
            else:
                tmp.replace(path)
            if deferred:
                self._defer_fsync(path)
            elif self._fsync:
                _fsync_dir(path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise LibraryError(f"cannot write {path}: {exc.strerror}") from exc

    def _write_direct(self, tmp: Path, view: memoryview) -> bool:
        """Write the page-aligned part of a pack with O_DIRECT: no copy into the page cache (it costs more CPU
        than encrypting the data, and a backup should not evict the cache). Falls back for good on a file
        system without O_DIRECT (tmpfs): the caller then writes everything through the cache."""
        aligned = len(view) - len(view) % DIRECT_ALIGN
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._direct = False
            return False
        try:
            done = 0
            while done < aligned:
                done += os.write(fd, view[done:aligned])
        except OSError as exc:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            if exc.errno != errno.EINVAL:
                raise
            self._direct = False
            return False
        os.close(fd)
        return True

    def _defer_fsync(self, path: Path) -> None:
        def fsync_file() -> None:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        with self._lock:
            if self._syncer is None:
                self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="library-fsync")
            self._pending.append(self._syncer.submit(fsync_file))
            self._dirty_dirs.add(path.parent)

    def sync(self) -> None:
        with self._sync_lock:
            with self._lock:
                pending, self._pending = self._pending, []
                dirs, self._dirty_dirs = self._dirty_dirs, set()
            for future in pending:
                try:
                    future.result()
                except OSError as exc:
                    raise LibraryError(f"cannot sync a pack to disk: {exc.strerror}") from exc
            for directory in dirs:
                _fsync_dir(directory)

    def close(self) -> None:
        self.sync()
        with self._lock:
            syncer, self._syncer = self._syncer, None
        if syncer is not None:
            syncer.shutdown()

    def get(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"library file {name} not found in {self.root}") from None
        except OSError as exc:
            raise LibraryError(f"cannot read {path}: {exc.strerror}") from exc

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        path = self._path(name)
        try:
            with path.open("rb", buffering=0) as handle:
                data = os.pread(handle.fileno(), length, offset)
        except FileNotFoundError:
            raise NotFoundError(f"library file {name} not found in {self.root}") from None
        except OSError as exc:
            raise LibraryError(f"cannot read {path}: {exc.strerror}") from exc
        if len(data) != length:
            raise NotFoundError(f"library file {name}: range {offset}+{length} beyond its end")
        return data

    def list(self, kind: str) -> Iterator[tuple[str, int]]:
        base = self.root / kind
        try:
            if not base.is_dir():
                return
            dirs = sorted(p for p in base.iterdir() if p.is_dir()) if kind == DATA else [base]
            for directory in dirs:
                with os.scandir(directory) as entries:
                    for entry in sorted(entries, key=lambda e: e.name):
                        if entry.name.startswith(_TMP_PREFIX) or not entry.is_file():
                            continue
                        name = f"{kind}/{directory.name}/{entry.name}" if kind == DATA else f"{kind}/{entry.name}"
                        with contextlib.suppress(LibraryError):
                            yield validate_name(name), entry.stat().st_size
        except OSError as exc:
            raise LibraryError(f"cannot list {base}: {exc.strerror}") from exc

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot delete {path}: {exc.strerror}") from exc

    def exists(self, name: str) -> bool:
        path = self._path(name)
        try:
            return path.is_file()
        except OSError as exc:  # e.g. a name too long for the file system
            raise LibraryError(f"cannot read {path}: {exc.strerror}") from exc

    def remove_temporaries(self) -> int:
        """Delete temporary files left by a crashed writer (prune calls this under the exclusive lock)."""
        removed = 0
        for tmp in self.root.rglob(f"{_TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed
