"""What the snapshots reference: the blob IDs every manifest needs (map pages and blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skyvault.library.format import ID_LEN, ZERO_ID
from skyvault.library.reader import BlockReader
from skyvault.library.snapshots import Manifest

if TYPE_CHECKING:
    from skyvault.library.repository import Repository


@dataclass
class SnapshotRefs:
    manifest: Manifest
    pages: list[bytes]
    blocks: list[tuple[int, bytes]] = field(default_factory=list)  # (block index, blob ID), non-zero only

    @property
    def nonzero_bytes(self) -> int:
        m = self.manifest
        return sum(min(m.block_size, m.size - i * m.block_size) for i, _ in self.blocks)

    def blob_ids(self) -> Iterator[bytes]:
        yield from self.pages
        for _, blob_id in self.blocks:
            yield blob_id


def snapshot_refs(repo: Repository, manifest: Manifest) -> SnapshotRefs:
    """Every blob a manifest needs (raises if its block map cannot be read)."""
    refs = SnapshotRefs(manifest, manifest.page_ids)
    if manifest.content.get("type") == "block_map":
        block_map = BlockReader(repo, manifest).block_map()
        view = memoryview(block_map)
        for i in range(manifest.block_count):
            blob_id = view[i * ID_LEN : (i + 1) * ID_LEN].tobytes()
            if blob_id != ZERO_ID:
                refs.blocks.append((i, blob_id))
    return refs
