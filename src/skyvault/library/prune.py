"""``library prune``: remove data no snapshot references, safely.

Runs under the exclusive lock (never while a writer holds a lock). Plan: every blob referenced by any
manifest is *used*; if any manifest cannot be read, prune stops before deleting anything. Packs with no used
blob are deleted; packs whose unused bytes exceed ``max_unused`` of their size are repacked (their used blobs
are decrypted, verified and stored again in new packs). Order, so that a crash at any step leaves a valid
library: new packs -> new index files (covering every kept pack) -> delete the old index files -> delete the
packs no index names any more (including packs left unindexed by interrupted backups).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from skyvault.library.backends.local import LocalBackend
from skyvault.library.format import DATA, BlobType, id_of_name, pack_name
from skyvault.library.index import Index, write_index_file
from skyvault.library.packs import PackEntry
from skyvault.library.references import snapshot_refs
from skyvault.library.repository import Repository

Progress = Callable[[int], None]


@dataclass
class PruneReport:
    snapshots: int = 0
    packs_before: int = 0
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    blobs_removed: int = 0
    bytes_before: int = 0
    bytes_freed: int = 0
    index_files_replaced: int = 0
    dry_run: bool = False
    deleted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "deleted"}


def prune(repo: Repository, *, dry_run: bool = False, max_unused: float = 0.2) -> PruneReport:
    """Prune; the caller holds ``repo.lock(exclusive=True)``."""
    report = PruneReport(dry_run=dry_run)
    index = repo.reload_index()
    old_index_files = repo.index_files
    listed = dict(repo.backend.list(DATA))
    report.packs_before = len(listed)
    report.bytes_before = sum(listed.values())

    used: set[bytes] = set()
    manifests = repo.snapshots()
    report.snapshots = len(manifests)
    for manifest in manifests:
        used.update(snapshot_refs(repo, manifest).blob_ids())  # raises on any unreadable manifest: no deletes

    keep: dict[bytes, list[PackEntry]] = {}
    repack: dict[bytes, list[PackEntry]] = {}
    for pack_id, entries in index.packs.items():
        if pack_name(pack_id) not in listed:
            continue
        used_entries = [e for e in entries if e.blob_id in used]
        unused_bytes = sum(e.length for e in entries if e.blob_id not in used)
        if not used_entries:
            continue
        if unused_bytes > max_unused * listed[pack_name(pack_id)]:
            repack[pack_id] = used_entries
        else:
            keep[pack_id] = entries
    doomed = [n for n in listed if id_of_name(n) not in keep]
    report.packs_repacked = len(repack)
    report.packs_deleted = len(doomed)
    report.bytes_freed = sum(listed[n] for n in doomed)
    still_stored = {e.blob_id for entries in keep.values() for e in entries}
    report.blobs_removed = len({b for entries in index.packs.values() for b in (e.blob_id for e in entries)}) - len(
        still_stored | {e.blob_id for entries in repack.values() for e in entries}
    )
    report.deleted = doomed
    if dry_run:
        return report

    new_index = Index()
    for pack_id, entries in keep.items():
        new_index.add_pack(pack_id, entries)
    sink = repo.sink()
    sink.index = new_index
    for entries in repack.values():
        for entry in entries:
            if entry.blob_id in new_index or not sink.claim(entry.blob_id):
                continue
            data = repo.get_blob(entry.blob_id)
            sink.store(entry.blob_id, BlobType(entry.blob_type), data)
    sink.flush()  # new packs, then an index file naming them
    report.packs_written = sink.stats.packs_written
    report.bytes_freed -= sink.stats.bytes_stored
    repo.backend.sync()
    new_files = set()
    if keep:
        new_files.add(write_index_file(repo.backend, repo.sealer, list(keep.items())))
    for name in old_index_files:
        if name not in new_files:
            repo.backend.delete(name)
            report.index_files_replaced += 1
    for name in doomed:
        repo.backend.delete(name)
    if isinstance(repo.backend, LocalBackend):
        repo.backend.remove_temporaries()
    repo.reload_index()
    return report
