"""Library locks with expiry: many writers and readers (shared) or one pruner (exclusive), never both.

Writers append only new, content-named files, so any number can run together, and so can readers (restore,
stats, check); prune deletes, so it needs the library to itself. Protocol (correct on a strongly consistent
store such as S3 or a local disk):

* shared: write ``locks/<random id>``, *then* look for ``locks/exclusive``; if a live one exists, remove
  ours and fail.
* exclusive: create ``locks/exclusive`` with a conditional write (fails if it exists), *then* list the shared
  locks; if a live one exists, remove ours and fail.

Each side writes before it looks, so two contenders cannot both miss each other. A lock is live until its
``expires`` time; the holder refreshes it from a background thread, so only a crashed holder's lock goes stale,
and a stale lock is ignored and removed. A lock taken on this host by a process that no longer exists is
stale at once (as in restic), so a killed backup does not block prune for the expiry period.

Removing a stale lock is atomic: the remover first creates a *take-over marker* named after the stale lock and
its exact content (a conditional write: only one remover per stale lock wins), then re-reads the lock and deletes
it only if it still holds that content. Without it, two processes that both saw the same stale exclusive lock
could both take it over (the second deleting the first's fresh lock). Every lock document carries a random token,
so a fresh lock never has a stale one's content. A marker left by a crashed remover is itself a stale lock,
removed the same way.

A holder that cannot renew its lock before it expires has *lost* it: from then on it may not save anything that
refers to data (a prune may have removed what it wrote), so ``check()``/``verify()`` raise ``LibraryLockedError``
and the backup stops, resumable. A refresh never recreates a lock file someone removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from skyvault.errors import ConflictError, LibraryLockedError, NotFoundError
from skyvault.library.backends.base import Backend
from skyvault.library.format import EXCLUSIVE_LOCK, LOCK_EXPIRY_S, LOCK_REFRESH_S, LOCKS

Clock = Callable[[], float]


def _describe(doc: dict[str, Any]) -> str:
    kind = "exclusive" if doc.get("exclusive") else "shared"
    return f"{kind} lock held by {doc.get('host', '?')} pid {doc.get('pid', '?')} for {doc.get('purpose', '?')}"


class Lock:
    def __init__(
        self,
        backend: Backend,
        *,
        exclusive: bool,
        purpose: str,
        expiry_s: float = LOCK_EXPIRY_S,
        refresh_s: float = LOCK_REFRESH_S,
        clock: Clock = time.time,
    ) -> None:
        self.backend = backend
        self.exclusive = exclusive
        self.purpose = purpose
        self.expiry_s = expiry_s
        self.refresh_s = refresh_s
        self.clock = clock
        self.name = EXCLUSIVE_LOCK if exclusive else f"{LOCKS}/{secrets.token_hex(32)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.held = False
        # What we last wrote (a refresh or release touches the file only while it still holds exactly this).
        self._written = b""
        self._expires = 0.0
        self.lost = threading.Event()
        self.lost_reason = ""

    @property
    def margin_s(self) -> float:
        """Renewals stop this long before expiry, so a renewal never races a pruner removing the lock as stale."""
        return min(self.expiry_s / 4, 60.0)

    def _document(self, *, purpose: str | None = None, expiry_s: float | None = None) -> bytes:
        now = self.clock()
        doc = {
            "exclusive": self.exclusive,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "purpose": purpose or self.purpose,
            "created": now,
            "expires": now + (self.expiry_s if expiry_s is None else expiry_s),
            "token": secrets.token_hex(16),
        }
        return json.dumps(doc).encode()

    def _raw(self, name: str) -> bytes | None:
        try:
            return self.backend.get(name)
        except NotFoundError:
            return None

    def _live(self, raw: bytes | None) -> bool:
        return raw is not None and is_live(parse(raw), self.clock)

    def _write_own(self, *, if_absent: bool) -> None:
        document = self._document()
        self.backend.put(self.name, document, if_absent=if_absent)
        self._written, self._expires = document, float(json.loads(document)["expires"])

    def acquire(self) -> Lock:
        if self.exclusive:
            self._acquire_exclusive()
        else:
            self._acquire_shared()
        self.held = True
        if self.refresh_s > 0:
            self._thread = threading.Thread(target=self._refresh_loop, name="library-lock-refresh", daemon=True)
            self._thread.start()
        return self

    def _locked(self, raw: bytes) -> LibraryLockedError:
        return LibraryLockedError(f"the library is locked: {_describe(parse(raw))}", hint="retry when it finishes")

    def _acquire_shared(self) -> None:
        self._write_own(if_absent=False)
        for _attempt in range(3):
            raw = self._raw(EXCLUSIVE_LOCK)
            if raw is None:
                return
            if self._live(raw):
                self._remove_if_unchanged(self.name, self._written)
                raise self._locked(raw)
            if self.remove_stale(EXCLUSIVE_LOCK, raw):
                return  # stale: its holder died without releasing it
        self._remove_if_unchanged(self.name, self._written)
        raise LibraryLockedError("the library is locked: a stale exclusive lock is being removed", hint="retry")

    def _acquire_exclusive(self) -> None:
        for _attempt in range(3):
            try:
                self._write_own(if_absent=True)
                break
            except ConflictError:
                raw = self._raw(EXCLUSIVE_LOCK)
                if raw is not None and self._live(raw):
                    raise self._locked(raw) from None
                if raw is not None:
                    self.remove_stale(EXCLUSIVE_LOCK, raw)  # only one contender removes it; all then retry
        else:
            raise LibraryLockedError("the library is locked: could not take the exclusive lock", hint="retry")
        for name, _size in list(self.backend.list(LOCKS)):
            if name == EXCLUSIVE_LOCK:
                continue
            raw = self._raw(name)
            if raw is None or (not self._live(raw) and self.remove_stale(name, raw)):
                continue
            live = self._raw(name)  # changed under us (refreshed), or another remover is at work
            if live is not None:
                self._remove_if_unchanged(self.name, self._written)
                holder = _describe(parse(live))
                raise LibraryLockedError(f"the library is in use: {holder}", hint="retry when the backup finishes")

    def remove_stale(self, name: str, seen: bytes, depth: int = 0) -> bool:
        """Remove the lock file ``name`` if it still holds ``seen``, with one remover per stale content.

        True when it is gone (removed here, or already gone); False when another remover holds the marker.
        """
        digest = hashlib.sha256(name.encode() + b"\0" + seen).hexdigest()
        marker = f"{LOCKS}/{digest}"
        try:
            self.backend.put(marker, self._document(purpose=f"take over {name}", expiry_s=self.margin_s),
                             if_absent=True)  # fmt: skip
        except ConflictError:
            existing = self._raw(marker)
            if existing is not None and not self._live(existing) and depth < 3:
                self.remove_stale(marker, existing, depth + 1)  # a remover crashed holding the marker
            return self._raw(name) != seen
        try:
            current = self._raw(name)
            if current == seen:
                self.backend.delete(name)
            return current is None or current == seen
        finally:
            self.backend.delete(marker)

    def _remove_if_unchanged(self, name: str, seen: bytes) -> None:
        with contextlib.suppress(NotFoundError):
            if self.backend.get(name) == seen:
                self.backend.delete(name)

    def _lose(self, reason: str) -> LibraryLockedError:
        self.lost_reason = reason
        self.lost.set()
        return self._lost_error()

    def _lost_error(self) -> LibraryLockedError:
        kind = "exclusive" if self.exclusive else "shared"
        return LibraryLockedError(
            f"lost the {kind} library lock for {self.purpose}: {self.lost_reason}; stopped so that nothing is saved "
            "that a prune may have removed data for",
            hint="resume the job ('skyvault jobs resume') or run it again",
        )

    def check(self) -> None:
        """Raise once the lock is lost (no I/O: what the refresher found)."""
        if self.lost.is_set():
            raise self._lost_error()

    def verify(self) -> None:
        """Raise unless the lock file still holds what we wrote and has not expired (one read)."""
        self.check()
        if not self.held:
            return
        if self.clock() >= self._expires:
            raise self._lose("it expired before it was renewed")
        current = self._raw(self.name)
        if current is None:
            raise self._lose("its lock file was removed (taken over as stale)")
        if current != self._written:
            raise self._lose("its lock file was replaced by another process")

    def refresh(self) -> None:
        """Renew the lock; raise ``LibraryLockedError`` once it is lost. A failed write is retried by the caller
        (the refresher) until the lock is too close to its expiry to be renewed safely: then it is lost."""
        if not self.held:
            return
        if self.clock() >= self._expires - self.margin_s:
            self.verify()  # still ours? then it is lost only because it could not be renewed in time
            raise self._lose("it could not be renewed before it expired")
        self.verify()
        self._write_own(if_absent=False)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except LibraryLockedError:
                return  # lost: the holder stops at its next check()
            except Exception:  # transient (network, throttling): retried until the margin before expiry runs out
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.held:
            self.held = False
            if not self.lost.is_set():
                self._remove_if_unchanged(self.name, self._written)  # never another process's lock

    def __enter__(self) -> Lock:
        return self if self.held else self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def parse(raw: bytes) -> dict[str, Any]:
    """A lock document; unreadable (half-written by a crashed holder on a non-atomic store) counts as stale."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return {"expires": 0}
    return doc if isinstance(doc, dict) else {"expires": 0}


def _process_gone(doc: dict[str, Any]) -> bool:
    """A lock taken on this host by a process that no longer exists (killed, crashed) is stale at once."""
    if doc.get("host") != socket.gethostname() or not isinstance(doc.get("pid"), int):
        return False
    try:
        os.kill(doc["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def is_live(doc: dict[str, Any], clock: Clock = time.time) -> bool:
    return float(doc.get("expires", 0)) > clock() and not _process_gone(doc)


def live_locks(backend: Backend, clock: Clock = time.time) -> list[tuple[str, dict[str, Any]]]:
    result = []
    for name, _size in backend.list(LOCKS):
        with contextlib.suppress(NotFoundError, ValueError):
            doc = json.loads(backend.get(name))
            if isinstance(doc, dict) and is_live(doc, clock):
                result.append((name, doc))
    return result
