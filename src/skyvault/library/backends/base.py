"""The backend interface: a flat store of named files (names validated by ``skyvault.library.format``).

Every backend gives the same guarantees, checked by one conformance suite (tests/library/test_backends.py):
``put`` is atomic (a reader sees the whole file or nothing) and, with ``if_absent``, refuses to replace an
existing file (``ConflictError``: S3 conditional writes, ``link(2)`` on local disk); ``get`` of a missing file
raises ``NotFoundError``; ``list`` yields ``(name, size)`` under one kind (``data``, ``index``, ...);
after ``sync`` every earlier ``put`` is durable (writers call it before writing an index that names new packs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

Buffer = bytes | bytearray | memoryview


class Backend(ABC):
    """Where library files live. Implementations must be thread-safe."""

    location: str

    @abstractmethod
    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None: ...

    @abstractmethod
    def get(self, name: str) -> bytes: ...

    @abstractmethod
    def get_range(self, name: str, offset: int, length: int) -> bytes: ...

    @abstractmethod
    def list(self, kind: str) -> Iterator[tuple[str, int]]: ...

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove a file; removing a missing file is not an error (prune may be re-run after a crash)."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    def prepare_new(self) -> None:  # noqa: B027 - optional hook
        """Before ``init``: refuse a location holding files that are not a library's (they would be mistaken
        for one, and ``prune`` would never own them). Backends that cannot hold foreign files skip it."""

    def sync(self) -> None:  # noqa: B027 - optional hook
        """Make every earlier ``put`` durable (a backend may defer that for packs; see LocalBackend)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or handles."""
