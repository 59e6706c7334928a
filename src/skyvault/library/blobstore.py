"""What the block-map writer and reader need of a library: its settings, key, index, packs, blobs and snapshots.

``Repository`` is the one implementation. ``BlockWriter`` and ``BlockReader`` are typed against this protocol
rather than the repository, so the repository can hand them out while neither module imports the other.
"""

from __future__ import annotations

from typing import Protocol

from skyvault.library.backends.base import Backend
from skyvault.library.crypto import Sealer
from skyvault.library.format import RepoConfig
from skyvault.library.index import Index
from skyvault.library.packer import BlobSink
from skyvault.library.snapshots import Manifest


class BlobStore(Protocol):
    @property
    def config(self) -> RepoConfig: ...

    @property
    def sealer(self) -> Sealer: ...

    @property
    def backend(self) -> Backend: ...

    @property
    def threads(self) -> int: ...

    @property
    def index(self) -> Index: ...

    def sink(self, *, builders: int | None = None) -> BlobSink: ...

    def decode_blob(self, blob_id: bytes, envelope: bytes | memoryview, raw_length: int, where: str) -> bytes:
        """Decrypt, authenticate and decompress one blob envelope."""
        ...

    def get_blob(self, blob_id: bytes) -> bytes: ...

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes:
        """Bytes of a pack the index names (a missing or short pack is damage: ``LibraryCorruptError``)."""
        ...

    def check_locks(self) -> None:
        """Raise ``LibraryLockedError`` if a lock this library took was lost (no I/O)."""
        ...

    def save_snapshot(self, manifest: Manifest) -> str:
        """Store the manifest; sets and returns its snapshot ID."""
        ...
