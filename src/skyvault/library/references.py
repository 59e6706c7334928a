"""What the snapshots reference: the blob IDs every manifest needs (map pages and blocks; tree nodes and chunks).

Fails closed: a manifest whose content this skyvault does not understand raises (``Manifest.from_json`` already
refuses unknown versions and types; this refuses anything that slipped past), so prune stops before deleting and
check reports the snapshot, instead of treating an unknown snapshot as referencing nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skyvault.errors import LibraryError
from skyvault.library.format import ID_LEN, ZERO_ID
from skyvault.library.reader import BlockReader
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import tree_refs

if TYPE_CHECKING:
    from skyvault.library.repository import Repository


@dataclass
class SnapshotRefs:
    manifest: Manifest
    pages: list[bytes]  # block-map pages (MAP); for a tree: its nodes (TREE) and chunk-list pages (MAP)
    blocks: list[tuple[int, bytes]] = field(default_factory=list)  # (block index, blob ID), non-zero only
    chunks: list[bytes] = field(default_factory=list)  # a tree's content chunks (DATA), in entry order

    @property
    def nonzero_bytes(self) -> int:
        m = self.manifest
        if m.content_type == "tree":
            return m.size
        return sum(min(m.block_size, m.size - i * m.block_size) for i, _ in self.blocks)

    def blob_ids(self) -> Iterator[bytes]:
        yield from self.pages
        for _, blob_id in self.blocks:
            yield blob_id
        yield from self.chunks


def snapshot_refs(repo: Repository, manifest: Manifest) -> SnapshotRefs:
    """Every blob a manifest needs (raises if its block map or tree cannot be read, or its content is unknown)."""
    kind = manifest.content_type
    if kind == "block_map":
        refs = SnapshotRefs(manifest, manifest.page_ids)
        block_map = BlockReader(repo, manifest).block_map()
        view = memoryview(block_map)
        for i in range(manifest.block_count):
            blob_id = view[i * ID_LEN : (i + 1) * ID_LEN].tobytes()
            if blob_id != ZERO_ID:
                refs.blocks.append((i, blob_id))
        return refs
    if kind == "tree":
        nodes, chunks = tree_refs(repo, manifest)
        return SnapshotRefs(manifest, nodes, chunks=chunks)
    raise LibraryError(f"snapshot {manifest.id}: content type {kind!r} is not understood by this skyvault")
