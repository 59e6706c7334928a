"""Opening and creating a library; reading blobs and snapshots; writers.

Typical use::

    repo = Repository.open(backend, passphrase="...")           # or kms=lambda key_id: KmsKeyWrapper(...)
    with repo.lock(purpose="backup image"):                     # shared: other writers may run, prune may not
        writer = repo.open_block_writer(kind="image", source=path, size=n, parent=repo.latest("image", path))
        writer.put_block(0, data)  # thread-safe, any order
        writer.mark_zero(1)
        snapshot_id = writer.commit(meta={...})
    data = repo.read_block(repo.load_snapshot(snapshot_id), 0)

See ``blockwriter`` for the block-map writer (EBS and disk images) and ``reader`` for reading back.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import zstandard

from skyvault.errors import (
    AwsError,
    ConflictError,
    LibraryCorruptError,
    LibraryError,
    NotFoundError,
    WrongPassphraseError,
)
from skyvault.library.backends.base import Backend
from skyvault.library.blockwriter import BlockWriter
from skyvault.library.crypto import (
    KeyWrapper,
    MasterKey,
    ScryptParams,
    Sealer,
    content_id,
    file_version,
    kms_key_file,
    open_master_key,
    passphrase_key_file,
    verify_content_name,
)
from skyvault.library.format import (
    CONFIG,
    DEFAULT_BLOCK_SIZE,
    DEFAULT_PACK_SIZE,
    KEYS,
    READABLE_LAYOUTS,
    SNAPSHOTS,
    FileType,
    RepoConfig,
    file_name,
)
from skyvault.library.index import Index, load_index
from skyvault.library.locks import Lock
from skyvault.library.packer import BlobSink
from skyvault.library.reader import BlockReader
from skyvault.library.snapshots import Manifest

if TYPE_CHECKING:
    from skyvault.library.trees import TreeWriter

KmsOpener = Callable[[str], KeyWrapper | None]
"""A KMS key ID (from a key file) -> a wrapper that opens it, or None for a key the caller does not trust."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Repository:
    def __init__(
        self,
        backend: Backend,
        sealer: Sealer,
        config: RepoConfig,
        *,
        compression_level: int = 3,
        threads: int = 2,
        key_name: str = "",
    ) -> None:
        self.backend = backend
        self.sealer = sealer
        self.config = config
        self.compression_level = compression_level
        self.threads = threads
        self.key_name = key_name
        self._index: Index | None = None
        self._index_files: list[str] = []
        self._index_lock = threading.Lock()
        self._local = threading.local()
        self._locks: list[Lock] = []

    # -- create / open -------------------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        backend: Backend,
        *,
        passphrase: str | None = None,
        kms: KeyWrapper | None = None,
        scrypt: ScryptParams | None = None,
        pack_size: int = DEFAULT_PACK_SIZE,
        block_size: int = DEFAULT_BLOCK_SIZE,
        compression_level: int = 3,
    ) -> Repository:
        """Create a library: key file(s) first, then the config (whose presence marks a library)."""
        if not passphrase and kms is None:
            raise LibraryError("a library needs a passphrase or a KMS key to protect its master key")
        if backend.exists(CONFIG):
            raise ConflictError(f"{backend.location} already holds a library", hint="open it instead")
        master = MasterKey.generate()
        sealer = Sealer(master)
        config = RepoConfig(id=secrets.token_hex(16), created=_now(), pack_size=pack_size, block_size=block_size)
        meta = {"created": config.created, "host": socket.gethostname()}
        own_keys = []
        if passphrase:
            own_keys.append(
                cls._put_key(backend, passphrase_key_file(master, passphrase, scrypt or ScryptParams(), meta))
            )
        if kms is not None:
            own_keys.append(cls._put_key(backend, kms_key_file(master, kms, meta)))
        data = sealer.seal_file(FileType.CONFIG, json.dumps(asdict(config)).encode())
        try:
            backend.put(CONFIG, data, if_absent=True)
        except ConflictError:
            for name in own_keys:  # lost the race to a concurrent init: leave no orphan key behind
                backend.delete(name)
            raise
        return cls(backend, sealer, config, compression_level=compression_level)

    @staticmethod
    def _put_key(backend: Backend, data: bytes) -> str:
        name = file_name(KEYS, content_id(data))
        backend.put(name, data)
        return name

    @classmethod
    def open(
        cls,
        backend: Backend,
        *,
        passphrase: str | None = None,
        kms: KmsOpener | None = None,
        compression_level: int = 3,
        threads: int = 2,
    ) -> Repository:
        try:
            raw_config = backend.get(CONFIG)
        except NotFoundError:
            raise NotFoundError(
                f"no library at {backend.location}", hint="create one with 'skyvault library init'"
            ) from None
        key_files, damaged_keys = [], []
        for name, _ in backend.list(KEYS):
            data = backend.get(name)
            try:
                verify_content_name(name, data)
            except LibraryCorruptError:
                damaged_keys.append(name)  # another key file may still open the library
                continue
            key_files.append((name, data))

        def opens_config(key: MasterKey) -> bool:
            try:
                Sealer(key).open_file(FileType.CONFIG, raw_config, CONFIG)
            except LibraryCorruptError:
                return False
            return True

        try:
            master, key_name = open_master_key(key_files, passphrase=passphrase, kms=kms, verify=opens_config)
        except (WrongPassphraseError, LibraryCorruptError) as exc:
            if not damaged_keys:
                raise
            # The key that would have opened may be the damaged one: say so rather than "wrong passphrase".
            raise LibraryCorruptError(
                f"{', '.join(damaged_keys)}: content does not match its name (corrupt key file), and no intact "
                f"key file opens the library ({exc.message})"
            ) from None
        sealer = Sealer(master)
        try:
            doc = json.loads(sealer.open_file(FileType.CONFIG, raw_config, CONFIG))
            config = RepoConfig(**doc)
        except (ValueError, TypeError) as exc:
            raise LibraryCorruptError(f"config: malformed: {exc}") from None
        if config.layout_version not in READABLE_LAYOUTS:
            raise LibraryError(
                f"library layout version {config.layout_version} is not supported (this skyvault reads 1 to "
                f"{READABLE_LAYOUTS.stop - 1})",
                hint="upgrade skyvault",
            )
        return cls(backend, sealer, config, compression_level=compression_level, threads=threads, key_name=key_name)

    def add_key(self, *, passphrase: str | None = None, kms: KeyWrapper | None = None) -> str:
        """Add another way to open the library (a second passphrase, or KMS next to a passphrase)."""
        meta = {"created": _now(), "host": socket.gethostname()}
        if passphrase:
            return self._put_key(self.backend, passphrase_key_file(self.sealer.key, passphrase, ScryptParams(), meta))
        if kms is not None:
            return self._put_key(self.backend, kms_key_file(self.sealer.key, kms, meta))
        raise LibraryError("add_key needs a passphrase or a KMS key")

    # -- locks ---------------------------------------------------------------------------------------------
    def lock(self, *, exclusive: bool = False, purpose: str = "backup", **kwargs: Any) -> Lock:
        held = Lock(self.backend, exclusive=exclusive, purpose=purpose, **kwargs).acquire()
        self._locks = [lock for lock in self._locks if lock.held] + [held]
        return held

    def check_locks(self) -> None:
        """Raise ``LibraryLockedError`` if the refresher found a lock this repository took lost (no I/O)."""
        for held in list(self._locks):
            held.check()

    def verify_locks(self) -> None:
        """Raise ``LibraryLockedError`` if a lock this repository took was lost (expired, or taken over as stale):
        a prune may then have removed data the caller wrote or deduplicated against."""
        for held in list(self._locks):
            if held.held:
                held.verify()

    # -- index ---------------------------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        with self._index_lock:
            if self._index is None:
                self._index, self._index_files = load_index(self.backend, self.sealer, threads=max(2, self.threads))
            return self._index

    def set_index(self, index: Index, files: list[str]) -> None:
        with self._index_lock:
            self._index, self._index_files = index, list(files)

    def reload_index(self) -> Index:
        with self._index_lock:
            self._index = None
        return self.index

    @property
    def index_files(self) -> list[str]:
        _ = self.index
        return list(self._index_files)

    def sink(self, *, builders: int | None = None) -> BlobSink:
        return BlobSink(
            self.backend,
            self.sealer,
            self.index,
            pack_size=self.config.pack_size,
            compression_level=self.compression_level,
            builders=builders or self.threads,
        )

    # -- blobs ---------------------------------------------------------------------------------------------
    def _decompressor(self) -> zstandard.ZstdDecompressor:
        d: zstandard.ZstdDecompressor | None = getattr(self._local, "zstd", None)
        if d is None:
            d = zstandard.ZstdDecompressor()
            self._local.zstd = d
        return d

    def decode_blob(self, blob_id: bytes, envelope: bytes | memoryview, raw_length: int, where: str) -> bytes:
        """Decrypt, authenticate and decompress one blob envelope."""
        _type, compressed, payload = self.sealer.open_blob(blob_id, envelope, where)
        if not compressed:
            data = payload
        else:
            try:
                data = self._decompressor().decompress(payload, max_output_size=raw_length)
            except zstandard.ZstdError as exc:
                raise LibraryCorruptError(f"blob {blob_id.hex()} in {where}: cannot decompress: {exc}") from None
        if len(data) != raw_length:
            raise LibraryCorruptError(f"blob {blob_id.hex()} in {where}: {len(data)} bytes, index says {raw_length}")
        return data

    def get_blob(self, blob_id: bytes) -> bytes:
        entry = self.index.get(blob_id)
        if entry is None:
            raise LibraryCorruptError(f"blob {blob_id.hex()} is not in the index (missing data)")
        name = file_name("data", entry.pack_id)
        envelope = self.read_pack_range(entry.pack_id, entry.offset, entry.length)
        return self.decode_blob(blob_id, envelope, entry.raw_length, name)

    def read_pack_range(self, pack_id: bytes, offset: int, length: int) -> bytes:
        """Bytes of a pack the index names: a missing or short pack is damage to the library (exit 10), not a
        "not found" of what the user asked for."""
        name = file_name("data", pack_id)
        try:
            return self.backend.get_range(name, offset, length)
        except NotFoundError as exc:
            raise LibraryCorruptError(f"{name}: named by the index but missing or truncated ({exc.message})") from None
        except AwsError as exc:
            if exc.code != "InvalidRange":
                raise
            raise LibraryCorruptError(f"{name}: named by the index but truncated ({exc.message})") from None

    # -- snapshots -----------------------------------------------------------------------------------------
    def save_snapshot(self, manifest: Manifest) -> str:
        # A manifest saved after the lock was lost could refer to packs a prune has since removed.
        self.verify_locks()
        # Sealed with the manifest's version: a tree (version 2) is refused by readers that know only layout 1.
        data = self.sealer.seal_file(FileType.SNAPSHOT, manifest.to_json(), version=manifest.version)
        snapshot_id = content_id(data).hex()
        self.backend.put(file_name(SNAPSHOTS, bytes.fromhex(snapshot_id)), data)
        manifest.id = snapshot_id
        return snapshot_id

    def snapshot_ids(self) -> list[str]:
        return [name.rsplit("/", 1)[1] for name, _ in self.backend.list(SNAPSHOTS)]

    def resolve_snapshot(self, text: str) -> str:
        """A full snapshot ID from a unique prefix (at least 8 hex digits)."""
        text = text.lower()
        if len(text) == 64:
            return text
        matches = [s for s in self.snapshot_ids() if s.startswith(text)] if len(text) >= 8 else []
        if len(matches) != 1:
            raise NotFoundError(f"no single library snapshot matches {text!r}")
        return matches[0]

    def load_snapshot(self, snapshot_id: str) -> Manifest:
        snapshot_id = self.resolve_snapshot(snapshot_id)
        name = f"{SNAPSHOTS}/{snapshot_id}"
        try:
            data = self.backend.get(name)
        except NotFoundError:
            raise NotFoundError(f"library snapshot {snapshot_id} not found in {self.backend.location}") from None
        verify_content_name(name, data)
        manifest = Manifest.from_json(self.sealer.open_file(FileType.SNAPSHOT, data, name), snapshot_id)
        if manifest.version != file_version(data):
            raise LibraryCorruptError(
                f"{name}: manifest version {manifest.version} in a file of layout version {file_version(data)}"
            )
        return manifest

    def snapshots(self) -> list[Manifest]:
        manifests = [self.load_snapshot(s) for s in self.snapshot_ids()]
        return sorted(manifests, key=lambda m: (m.time, m.id))

    def latest(self, kind: str, source: str) -> Manifest | None:
        matches = [m for m in self.snapshots() if m.kind == kind and m.source == source]
        return matches[-1] if matches else None

    # -- writers and readers --------------------------------------------------------------------------------
    def open_block_writer(
        self,
        *,
        kind: str,
        source: str,
        size: int,
        parent: Manifest | None = None,
        block_size: int | None = None,
    ) -> BlockWriter:
        return BlockWriter(self, kind=kind, source=source, size=size, parent=parent, block_size=block_size)

    def open_tree_writer(self, kind: str, source: str, parent: Manifest | None = None) -> TreeWriter:
        """A writer of an object tree (S3 objects, DynamoDB items): entries in ascending key order."""
        from skyvault.library.trees import TreeWriter  # fastcdc (which imports click): not for disk images

        return TreeWriter(self, kind=kind, source=source, parent=parent)

    def read_block(self, manifest: Manifest, index: int) -> bytes:
        return BlockReader(self, manifest).read_block(index)

    def close(self) -> None:
        self.backend.close()


def default_threads() -> int:
    return max(2, min(4, os.cpu_count() or 2))
