"""In-memory backend for tests: same semantics as the others, nothing persists."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from skyvault.errors import ConflictError, NotFoundError
from skyvault.library.backends.base import Backend, Buffer
from skyvault.library.format import validate_name


class MemoryBackend(Backend):
    def __init__(self) -> None:
        self.location = "memory"
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
        validate_name(name)
        with self._lock:
            if if_absent and name in self.files:
                raise ConflictError(f"{name} already exists")
            self.files[name] = bytes(data)

    def get(self, name: str) -> bytes:
        validate_name(name)
        with self._lock:
            try:
                return self.files[name]
            except KeyError:
                raise NotFoundError(f"library file {name} not found") from None

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        data = self.get(name)
        if offset + length > len(data):
            raise NotFoundError(f"library file {name}: range {offset}+{length} beyond its {len(data)} bytes")
        return data[offset : offset + length]

    def list(self, kind: str) -> Iterator[tuple[str, int]]:
        prefix = kind + "/"
        with self._lock:
            items = [(n, len(d)) for n, d in self.files.items() if n.startswith(prefix)]
        return iter(sorted(items))

    def delete(self, name: str) -> None:
        validate_name(name)
        with self._lock:
            self.files.pop(name, None)

    def exists(self, name: str) -> bool:
        validate_name(name)
        with self._lock:
            return name in self.files
