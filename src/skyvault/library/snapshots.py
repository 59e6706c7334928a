"""Snapshot manifests: one per recovery point (``snapshots/<id>``, a file envelope of type SNAPSHOT, JSON).

A manifest names what was backed up (``kind``, ``source``), when, its ``parent`` (the manifest it is
incremental against), the captured configuration (``meta``), stats, and its ``content``:

* ``{"type": "block_map", "size": bytes, "block_size": 524288, "block_count": n, "page_entries": 4096,
  "pages": [hex blob IDs]}``: a disk. The block map is the run of 32-byte blob IDs of blocks 0..n-1 (the all-zero
  ID for a block of zeros, never stored), cut into pages of ``page_entries`` IDs stored as MAP blobs. Pages of
  an unchanged region have the same ID as in the parent, so a 1 TiB volume's incremental manifest stays small.
* ``{"type": "tree", "root": hex blob ID, "height": n, "entries": n, "size": bytes, ...}``: objects or items
  (``trees``): a manifest of version 2 (layout 2), sealed in a snapshot file of version 2.

Readers fail closed: a manifest of a version this skyvault does not know, a content type it does not know, or a
tree in a version-1 manifest is refused (``LibraryError``), never misread: prune stops, check reports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.format import LAYOUT_VERSION, MAX_LAYOUT_VERSION, TREE_LAYOUT_VERSION

PAGE_ENTRIES = 4096
CONTENT_VERSIONS = {"block_map": LAYOUT_VERSION, "tree": TREE_LAYOUT_VERSION}
"""Each content type and the manifest version that introduced it."""


@dataclass
class Manifest:
    kind: str
    source: str
    time: str
    host: str
    content: dict[str, Any]
    parent: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    version: int = LAYOUT_VERSION
    id: str = ""  # the manifest file's ID (not stored inside it)

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc.pop("id")
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, snapshot_id: str) -> Manifest:
        try:
            doc = json.loads(data)
            manifest = cls(**doc, id=snapshot_id)
        except (ValueError, TypeError) as exc:
            raise LibraryCorruptError(f"snapshot {snapshot_id}: malformed manifest: {exc}") from None
        if not isinstance(manifest.version, int) or not 1 <= manifest.version <= MAX_LAYOUT_VERSION:
            raise LibraryError(
                f"snapshot {snapshot_id}: manifest version {manifest.version!r} is not supported (this skyvault reads "
                f"1 to {MAX_LAYOUT_VERSION}; written by a newer skyvault?)",
                hint="upgrade skyvault",
            )
        if not isinstance(manifest.content, dict):
            raise LibraryCorruptError(f"snapshot {snapshot_id}: malformed manifest: content is not an object")
        content_type = manifest.content.get("type")
        introduced = CONTENT_VERSIONS.get(content_type) if isinstance(content_type, str) else None
        if introduced is None or introduced > manifest.version:
            raise LibraryError(
                f"snapshot {snapshot_id}: content type {content_type!r} is not understood by this skyvault in a "
                f"version-{manifest.version} manifest; refusing to read (or prune) it",
                hint="upgrade skyvault",
            )
        return manifest

    @property
    def content_type(self) -> str:
        return str(self.content.get("type"))

    def expect(self, what: str, *, kind: str, size: int | None = None, **meta: str) -> None:
        """Refuse a manifest that is not the one the catalog recorded for ``what`` (a recovery point): its kind,
        size and the given ``meta`` entries must match. Defence in depth beside the name check on load: the
        catalog and the library are written at different times and may be restored from different backups."""
        found = {"kind": self.kind, **({"size": self.size} if size is not None else {})}
        wanted: dict[str, object] = {"kind": kind, **({"size": size} if size is not None else {})}
        for key, value in meta.items():
            found[key] = self.meta.get(key)
            wanted[key] = value
        wrong = [f"{key} {found[key]!r} (expected {wanted[key]!r})" for key in wanted if found[key] != wanted[key]]
        if wrong:
            raise LibraryCorruptError(
                f"library snapshot {self.id} does not belong to {what}: its {', '.join(wrong)}; nothing was restored"
            )

    @property
    def size(self) -> int:
        return int(self.content.get("size", 0))

    @property
    def block_size(self) -> int:
        return int(self.content["block_size"])

    @property
    def block_count(self) -> int:
        return int(self.content["block_count"])

    @property
    def page_ids(self) -> list[bytes]:
        return [bytes.fromhex(p) for p in self.content.get("pages", [])]
