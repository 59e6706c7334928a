"""The lab's EBS block data on disk: content-addressed 512 KiB files, freed when nothing references them.

The EBS model keeps, per volume and snapshot, only a map ``block index -> SHA-256 digest`` (32 bytes); the bytes
live here, one file per distinct block (``<root>/ab/abcdef...``), so a lab that restores many large volumes does
not hold them in its heap. Identical blocks are stored once (root volumes of instances launched from one AMI).
Freeing is mark and sweep: the model names the digests still referenced by a live volume, snapshot or upload,
and ``sweep`` deletes every other file. The model writes and references a block under its own lock, and sweeps
under it too, so a sweep never sees a block stored but not yet referenced. No moto here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

_current: BlockStore | None = None
_current_lock = threading.Lock()


class BlockStore:
    """Content-addressed block files under ``root`` (which the store owns: it starts empty and may be removed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # A previous lab's blocks are unreachable (the model state died with its process): start empty.
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self._present: set[bytes] = set()
        self._lock = threading.Lock()

    def _path(self, digest: bytes) -> Path:
        name = digest.hex()
        return self.root / name[:2] / name

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (once per content); returns its SHA-256 digest, the key to read it back."""
        digest = hashlib.sha256(data).digest()
        with self._lock:
            if digest in self._present:
                return digest
        path = self._path(digest)
        path.parent.mkdir(exist_ok=True)
        # A unique temporary name, then an atomic rename: a concurrent put of the same block is harmless.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._present.add(digest)
        return digest

    def get(self, digest: bytes) -> bytes:
        """The block stored under ``digest``; ``KeyError`` if it is not (or no longer) stored."""
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise KeyError(digest.hex()) from None

    def sweep(self, live: set[bytes]) -> int:
        """Delete every stored block whose digest is not in ``live``; returns how many were deleted."""
        with self._lock:
            dead = self._present - live
        return self.discard(dead)

    def discard(self, digests: set[bytes]) -> int:
        """Delete these blocks (those stored); returns how many were deleted."""
        with self._lock:
            dead = digests & self._present
            self._present -= dead
        for digest in dead:
            self._path(digest).unlink(missing_ok=True)
        return len(dead)

    def __len__(self) -> int:
        with self._lock:
            return len(self._present)

    def __contains__(self, digest: object) -> bool:
        with self._lock:
            return digest in self._present

    def remove(self) -> None:
        """Delete the store's folder (the lab is stopping: its blocks mean nothing without its state)."""
        with self._lock:
            self._present.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def use_store(root: Path) -> BlockStore:
    """Keep the lab's block data under ``root`` from now on (the server passes a folder of its state dir)."""
    global _current
    with _current_lock:
        _current = BlockStore(root)
        return _current


def current_store() -> BlockStore:
    """The lab's block store; a process that never chose one (a model applied in-process) gets a temp folder."""
    with _current_lock:
        if _current is not None:
            return _current
    return use_store(Path(tempfile.mkdtemp(prefix="skyvault-lab-blocks-")))
