"""Library locks with expiry: many writers (shared) or one pruner (exclusive), never both.

Writers append only new, content-named files, so any number can run together; prune deletes, so it needs
the library to itself. Protocol (correct on a strongly consistent store such as S3 or a local disk):

* shared: write ``locks/<random id>``, *then* look for ``locks/exclusive``; if a live one exists, remove
  ours and fail.
* exclusive: create ``locks/exclusive`` with a conditional write (fails if it exists), *then* list the shared
  locks; if a live one exists, remove ours and fail.

Each side writes before it looks, so two contenders cannot both miss each other. A lock is live until its
``expires`` time; the holder refreshes it from a background thread, so only a crashed holder's lock goes stale,
and a stale lock is ignored and removed. A lock taken on this host by a process that no longer exists is
stale at once (as in restic), so a killed backup does not block prune for the expiry period.
"""

from __future__ import annotations

import contextlib
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

    def _document(self) -> bytes:
        now = self.clock()
        doc = {
            "exclusive": self.exclusive,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "purpose": self.purpose,
            "created": now,
            "expires": now + self.expiry_s,
        }
        return json.dumps(doc).encode()

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.backend.get(name))
        except NotFoundError:
            return None
        except ValueError:
            return {"expires": 0}  # unreadable (half-written by a crashed holder on a non-atomic store): stale
        return doc if isinstance(doc, dict) else {"expires": 0}

    def _live(self, doc: dict[str, Any] | None) -> bool:
        return doc is not None and is_live(doc, self.clock)

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

    def _acquire_shared(self) -> None:
        self.backend.put(self.name, self._document())
        holder = self._read(EXCLUSIVE_LOCK)
        if self._live(holder):
            assert holder is not None
            self.backend.delete(self.name)
            raise LibraryLockedError(f"the library is locked: {_describe(holder)}", hint="retry when it finishes")
        if holder is not None:
            self.backend.delete(EXCLUSIVE_LOCK)  # stale: its holder died without releasing it

    def _acquire_exclusive(self) -> None:
        for _attempt in range(2):
            try:
                self.backend.put(self.name, self._document(), if_absent=True)
                break
            except ConflictError:
                holder = self._read(EXCLUSIVE_LOCK)
                if self._live(holder):
                    assert holder is not None
                    raise LibraryLockedError(
                        f"the library is locked: {_describe(holder)}", hint="retry when it finishes"
                    ) from None
                self.backend.delete(EXCLUSIVE_LOCK)
        else:
            raise LibraryLockedError("the library is locked: could not take the exclusive lock")
        for name, _size in list(self.backend.list(LOCKS)):
            if name == EXCLUSIVE_LOCK:
                continue
            holder = self._read(name)
            if self._live(holder):
                assert holder is not None
                self.backend.delete(self.name)
                raise LibraryLockedError(
                    f"the library is in use: {_describe(holder)}", hint="retry when the backup finishes"
                )
            self.backend.delete(name)

    def refresh(self) -> None:
        if self.held:
            self.backend.put(self.name, self._document())

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            with contextlib.suppress(Exception):  # a missed refresh is retried; expiry leaves ample margin
                self.refresh()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.held:
            self.held = False
            self.backend.delete(self.name)

    def __enter__(self) -> Lock:
        return self if self.held else self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


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
