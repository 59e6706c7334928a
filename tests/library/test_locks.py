"""Locks: shared writers coexist, prune excludes them (both orders), stale locks expire, locks refresh."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest

from library.helpers import BLOCK, make_repo, write_blocks
from skyvault.errors import LibraryLockedError
from skyvault.library.backends.base import Buffer
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.format import EXCLUSIVE_LOCK, LOCKS, SNAPSHOTS
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


class Clock:
    """A clock the test moves by hand (no sleeps: what happens at a time is decided by the test)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_refresh_extends_expiry() -> None:
    backend, clock = MemoryBackend(), Clock(time.time())
    held = Lock(backend, exclusive=False, purpose="test", refresh_s=0, expiry_s=300, clock=clock).acquire()
    first = json.loads(backend.get(held.name))["expires"]
    clock.now += 100
    held.refresh()
    assert json.loads(backend.get(held.name))["expires"] == first + 100
    assert live_locks(backend)
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


# -- a lock that cannot be renewed is lost, and its holder stops ---------------------------------------------------
class FlakyBackend(MemoryBackend):
    """Writes of the named files fail (a network outage, throttling) while ``failing`` holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
        if name in self.failing:
            raise OSError(f"cannot write {name}: connection reset")
        super().put(name, data, if_absent=if_absent)


def test_failed_refreshes_lose_the_lock_before_it_expires_and_the_backup_saves_nothing() -> None:
    backend, clock = FlakyBackend(), Clock(time.time())
    repo = make_repo(backend)
    held = repo.lock(purpose="backup", refresh_s=0, expiry_s=1000, clock=clock)
    backend.failing.add(held.name)
    clock.now += 100
    with pytest.raises(OSError):
        held.refresh()  # transient: retried by the refresher, the lock is still ours
    held.check()
    clock.now += 850  # within the safety margin of its expiry, still not renewed
    with pytest.raises(LibraryLockedError, match="could not be renewed"):
        held.refresh()
    assert held.lost.is_set()
    before = {n for n in backend.files if n.startswith(SNAPSHOTS)}
    with pytest.raises(LibraryLockedError, match="lost the shared library lock for backup"):
        write_blocks(repo, os.urandom(BLOCK * 3))  # stops at its first block
    assert {n for n in backend.files if n.startswith(SNAPSHOTS)} == before  # no manifest saved
    held.release()


def test_a_backup_that_loses_its_lock_midway_saves_no_manifest() -> None:
    backend, clock = MemoryBackend(), Clock(time.time())
    repo = make_repo(backend)
    held = repo.lock(purpose="backup", refresh_s=0, expiry_s=1000, clock=clock)
    writer = repo.open_block_writer(kind="test", source="disk", size=BLOCK * 4, parent=None)
    writer.put_block(0, os.urandom(BLOCK))
    clock.now += 2000  # the process stalled past its lock's expiry before the refresher could run
    with pytest.raises(LibraryLockedError, match="expired"):
        writer.commit()
    assert not [n for n in backend.files if n.startswith(SNAPSHOTS)]
    held.release()


def test_a_lock_taken_over_as_stale_is_lost_and_never_recreated() -> None:
    backend, late = MemoryBackend(), Clock(time.time())
    repo = make_repo(backend)
    held = repo.lock(purpose="backup", refresh_s=0, expiry_s=600, clock=late)  # its refresher stalled...
    pruner = Lock(backend, exclusive=True, purpose="prune", refresh_s=0, clock=Clock(late.now + 3600)).acquire()
    assert not backend.exists(held.name)  # ...so a pruner an hour later removed it as stale
    with pytest.raises(LibraryLockedError, match="removed"):
        held.refresh()
    assert not backend.exists(held.name)  # the refresh did not resurrect it behind the pruner's back
    with pytest.raises(LibraryLockedError):
        repo.verify_locks()
    held.release()
    assert backend.exists(EXCLUSIVE_LOCK)  # releasing a lost lock never touches another process's lock
    pruner.release()


# -- taking over a stale exclusive lock is atomic -------------------------------------------------------------------
class InterleavingBackend(MemoryBackend):
    """Runs ``between`` once, right after the first read of the exclusive lock (a second process acts then)."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], None] | None = None

    def get(self, name: str) -> bytes:
        data = super().get(name)
        if name == EXCLUSIVE_LOCK and self.between is not None:
            between, self.between = self.between, None
            between()
        return data


def test_two_processes_cannot_both_take_over_a_stale_exclusive_lock() -> None:
    backend = InterleavingBackend()
    lock(backend, exclusive=True, clock=time.time() - 7200, expiry_s=60)  # a pruner that crashed two hours ago
    holders: list[Lock] = []
    # Process A reads the stale lock; before it acts, process B takes it over completely.
    backend.between = lambda: holders.append(lock(backend, exclusive=True))
    with pytest.raises(LibraryLockedError, match="exclusive lock held by"):
        holders.append(lock(backend, exclusive=True))
    assert len(holders) == 1  # only B holds it...
    assert backend.get(EXCLUSIVE_LOCK) == holders[0]._written  # ...and its lock file is intact
    holders[0].release()
    assert list(backend.list(LOCKS)) == []  # no take-over marker left behind


def test_a_writer_does_not_remove_a_fresh_exclusive_lock_that_replaced_the_stale_one_it_saw() -> None:
    backend = InterleavingBackend()
    lock(backend, exclusive=True, clock=time.time() - 7200, expiry_s=60)
    fresh = json.dumps({"exclusive": True, "host": "other", "pid": 1, "expires": time.time() + 600}).encode()

    def replaced() -> None:  # another host removed the stale lock and took the exclusive lock meanwhile
        backend.delete(EXCLUSIVE_LOCK)
        backend.put(EXCLUSIVE_LOCK, fresh)

    backend.between = replaced
    with pytest.raises(LibraryLockedError, match="exclusive lock held by other"):
        lock(backend, exclusive=False)
    assert backend.get(EXCLUSIVE_LOCK) == fresh
    assert [n for n, _ in backend.list(LOCKS)] == [EXCLUSIVE_LOCK]  # the writer removed only its own lock


def test_a_crashed_removers_marker_does_not_block_take_over() -> None:
    import hashlib

    backend = MemoryBackend()
    lock(backend, exclusive=True, clock=time.time() - 7200, expiry_s=60)
    stale = backend.get(EXCLUSIVE_LOCK)
    digest = hashlib.sha256(EXCLUSIVE_LOCK.encode() + b"\0" + stale).hexdigest()
    marker = f"{LOCKS}/{digest}"
    crashed = json.dumps({"expires": time.time() - 3600, "purpose": "take over", "token": "t"}).encode()
    backend.put(marker, crashed)  # a remover that died holding the marker, an hour ago
    lock(backend, exclusive=True).release()
    assert list(backend.list(LOCKS)) == []
