"""Locks: shared writers coexist, prune excludes them (both orders), stale locks expire, locks refresh."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest

from skyvault.errors import LibraryLockedError
from skyvault.library.backends.base import Buffer
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.format import EXCLUSIVE_LOCK, LOCKS
from skyvault.library.locks import Lock, live_locks


def lock(backend: MemoryBackend, *, exclusive: bool, clock: float | None = None, **kw: float) -> Lock:
    extra = {"clock": (lambda: clock)} if clock is not None else {}
    return Lock(backend, exclusive=exclusive, purpose="test", refresh_s=0, **extra, **kw).acquire()  # type: ignore[arg-type]


def test_shared_locks_coexist_and_are_released() -> None:
    backend = MemoryBackend()
    a, b = lock(backend, exclusive=False), lock(backend, exclusive=False)
    assert len(live_locks(backend)) == 2
    a.release()
    b.release()
    assert list(backend.list(LOCKS)) == []


def test_exclusive_refused_while_a_writer_holds_a_lock() -> None:
    backend = MemoryBackend()
    writer = lock(backend, exclusive=False)
    with pytest.raises(LibraryLockedError, match="in use"):
        lock(backend, exclusive=True)
    assert not backend.exists(EXCLUSIVE_LOCK)  # the loser removed its own lock
    writer.release()
    lock(backend, exclusive=True).release()


def test_writer_refused_while_exclusive_held() -> None:
    backend = MemoryBackend()
    pruner = lock(backend, exclusive=True)
    with pytest.raises(LibraryLockedError, match="exclusive lock held by"):
        lock(backend, exclusive=False)
    with pytest.raises(LibraryLockedError):
        lock(backend, exclusive=True)
    assert [n for n, _ in backend.list(LOCKS)] == [EXCLUSIVE_LOCK]
    pruner.release()


def test_stale_locks_are_ignored_and_removed() -> None:
    backend = MemoryBackend()
    now = time.time()
    lock(backend, exclusive=False, clock=now - 7200, expiry_s=60)  # a crashed writer, two hours ago
    pruner = lock(backend, exclusive=True)
    assert [n for n, _ in backend.list(LOCKS)] == [EXCLUSIVE_LOCK]
    pruner.release()
    lock(backend, exclusive=True, clock=now - 7200, expiry_s=60)  # a crashed pruner
    lock(backend, exclusive=False).release()
    lock(backend, exclusive=True).release()


class WatchedBackend(MemoryBackend):
    """Signals each write of a lock file, so a test waits for the refresh thread instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.lock_writes = 0
        self.refreshed = threading.Event()

    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
        super().put(name, data, if_absent=if_absent)
        if name.startswith(LOCKS):
            self.lock_writes += 1
            if self.lock_writes >= 2:  # the first write is the acquisition
                self.refreshed.set()


def test_refresh_extends_expiry() -> None:
    backend = WatchedBackend()
    ticks = itertools.count(1000.0, 1.0)  # a clock that moves forward on every reading
    held = Lock(
        backend, exclusive=False, purpose="test", refresh_s=0.01, expiry_s=60, clock=lambda: next(ticks)
    ).acquire()
    first = json.loads(backend.get(held.name))["expires"]
    assert backend.refreshed.wait(timeout=30), "the refresh thread never rewrote the lock"
    assert json.loads(backend.get(held.name))["expires"] > first
    held.release()


def test_context_manager() -> None:
    backend = MemoryBackend()
    with Lock(backend, exclusive=True, purpose="t", refresh_s=0):
        assert backend.exists(EXCLUSIVE_LOCK)
    assert not backend.exists(EXCLUSIVE_LOCK)


def test_lock_of_a_dead_local_process_is_stale_at_once() -> None:
    import subprocess
    import sys

    backend = MemoryBackend()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(child.stdout)
    held = lock(backend, exclusive=False)
    doc = json.loads(backend.get(held.name))
    backend.put(held.name, json.dumps({**doc, "pid": dead_pid}).encode())  # as if a killed backup left it
    assert live_locks(backend) == []
    lock(backend, exclusive=True).release()
