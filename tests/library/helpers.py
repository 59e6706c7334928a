"""Small, fast library settings for tests: cheap scrypt, tiny blocks and packs (many packs from little data)."""

from __future__ import annotations

from skyvault.library.backends.base import Backend
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository

PASSPHRASE = "correct horse battery staple"
FAST_SCRYPT = ScryptParams(n=2**10, r=8, p=1)
BLOCK = 4096
PACK = 64 * 1024


def make_repo(backend: Backend | None = None, *, block_size: int = BLOCK, pack_size: int = PACK) -> Repository:
    return Repository.init(
        backend or MemoryBackend(),
        passphrase=PASSPHRASE,
        scrypt=FAST_SCRYPT,
        block_size=block_size,
        pack_size=pack_size,
        compression_level=1,
    )


def reopen(repo: Repository) -> Repository:
    return Repository.open(repo.backend, passphrase=PASSPHRASE)


def write_blocks(repo: Repository, data: bytes, *, source: str = "disk", parent: object = None) -> str:
    """Back up ``data`` block by block (in order); returns the snapshot ID."""
    from skyvault.library.snapshots import Manifest

    assert parent is None or isinstance(parent, Manifest)
    writer = repo.open_block_writer(kind="test", source=source, size=len(data), parent=parent)
    bs = writer.block_size
    for i in range(writer.block_count):
        writer.put_block(i, data[i * bs : (i + 1) * bs])
    return writer.commit().id


def read_all(repo: Repository, snapshot_id: str) -> bytes:
    from skyvault.library.reader import BlockReader

    reader = BlockReader(repo, repo.load_snapshot(snapshot_id))
    return b"".join(reader.read_block(i) for i in range(reader.manifest.block_count))
