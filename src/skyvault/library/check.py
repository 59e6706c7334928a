"""``library check``: verify structure, and with ``read_data`` every byte.

Structure: every key, index and snapshot file hashes to its name (so a file copied over another is found);
every index file decrypts; every pack an index names exists and is large enough; every snapshot decrypts, its
block map (or every node of its tree, in key order) reads, and every blob it references is indexed; a snapshot
this skyvault does not understand (newer version or content type) is an error, never skipped. Packs no index
names (left by an interrupted backup) are warnings, not errors, and so is damage found in them by ``read_data``: nothing
references them and prune removes them.
``read_data``: every pack is downloaded, its BLAKE3 hash must equal its name, its header must agree with the
index, and every blob must decrypt, decompress and hash back to its ID. Every problem names the file/blob.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from skyvault.errors import LibraryError, SkyvaultError
from skyvault.library.crypto import content_id, parse_key_file, verify_content_name
from skyvault.library.format import DATA, KEYS, id_of_name, pack_name
from skyvault.library.index import Index, read_index_file
from skyvault.library.locks import live_locks
from skyvault.library.packs import PackEntry, parse_pack_header
from skyvault.library.references import snapshot_refs
from skyvault.library.repository import Repository

Progress = Callable[[int], None]


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    packs: int = 0
    index_files: int = 0
    snapshots: int = 0
    blobs: int = 0
    bytes_read: int = 0
    locks: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "packs": self.packs,
            "index_files": self.index_files,
            "snapshots": self.snapshots,
            "blobs": self.blobs,
            "bytes_read": self.bytes_read,
            "live_locks": self.locks,
        }


def check(repo: Repository, *, read_data: bool = False, progress: Progress | None = None) -> CheckReport:
    report = CheckReport()
    backend = repo.backend
    # Listed in the reverse of the order writers add files (pack -> index -> snapshot), so a backup running
    # beside check (both take shared locks) cannot make a snapshot name unlisted index entries, or an index
    # name an unlisted pack.
    snapshot_ids = repo.snapshot_ids()
    index = Index()
    index_names = [name for name, _ in backend.list("index")]
    for name in index_names:
        try:
            for pack_id, entries in read_index_file(backend, repo.sealer, name):
                index.add_pack(pack_id, entries)
        except SkyvaultError as exc:
            report.errors.append(f"{name}: cannot read index: {exc.message}")
    report.index_files = len(index_names)
    report.blobs = len(index)
    report.locks = len(live_locks(backend))
    for name, _size in backend.list(KEYS):
        try:
            data = backend.get(name)
            verify_content_name(name, data)
            parse_key_file(data, name)
        except SkyvaultError as exc:
            report.errors.append(f"{name}: {exc.message}")
    repo.set_index(index, index_names)  # block maps are read through the index being checked
    listed = dict(backend.list(DATA))

    indexed = index.packs
    missing_packs: set[bytes] = set()
    for pack_id, entries in indexed.items():
        name = pack_name(pack_id)
        if name not in listed:
            report.errors.append(f"{name}: named by the index but missing")
            missing_packs.add(pack_id)
            continue
        end = max((e.offset + e.length for e in entries), default=0)
        if end > listed[name]:
            report.errors.append(f"{name}: {listed[name]} bytes, but the index places a blob up to byte {end}")
    unindexed = [n for n in listed if id_of_name(n) not in indexed]
    for name in unindexed:
        report.warnings.append(f"{name}: not in any index (left by an interrupted backup; prune removes it)")
    report.packs = len(listed)

    def absent(blob_id: bytes) -> bool:
        entry = index.get(blob_id)
        return entry is None or entry.pack_id in missing_packs

    for snapshot_id in snapshot_ids:
        report.snapshots += 1
        try:
            manifest = repo.load_snapshot(snapshot_id)
            missing_pages = [p for p in manifest.page_ids if absent(p)]
            for blob_id in missing_pages:
                report.errors.append(f"snapshot {snapshot_id}: block-map page {blob_id.hex()} is missing")
            if missing_pages:
                continue
            refs = snapshot_refs(repo, manifest)
        except SkyvaultError as exc:
            report.errors.append(f"snapshot {snapshot_id}: {exc.message}")
            continue
        missing_blocks: list[tuple[int | str, bytes]] = [(i, b) for i, b in refs.blocks if absent(b)]
        if manifest.content_type == "tree":
            missing_blocks = [("chunk", b) for b in dict.fromkeys(refs.chunks) if absent(b)]
        for i, blob_id in missing_blocks[:20]:
            where = f"block {i}" if isinstance(i, int) else "tree content chunk"
            report.errors.append(f"snapshot {snapshot_id}: {where}: blob {blob_id.hex()} is missing")
        if len(missing_blocks) > 20:
            report.errors.append(f"snapshot {snapshot_id}: ... and {len(missing_blocks) - 20} more missing blobs")

    if read_data:
        names = [n for n in listed if id_of_name(n) in indexed] + unindexed
        with ThreadPoolExecutor(max_workers=repo.threads) as pool:
            for name, (problems, size) in zip(
                names, pool.map(lambda n: _read_pack(repo, n, indexed.get(id_of_name(n))), names), strict=True
            ):
                # An unindexed pack holds nothing any snapshot uses (a power loss may have left it damaged,
                # as the local backend fsyncs packs only before an index names them): prune removes it.
                (report.errors if id_of_name(name) in indexed else report.warnings).extend(problems)
                report.bytes_read += size
                if progress is not None:
                    progress(size)
    return report


def _read_pack(repo: Repository, name: str, indexed: list[PackEntry] | None) -> tuple[list[str], int]:
    """Verify one pack end to end; returns the problems found (each naming the pack and blob)."""
    try:
        data = repo.backend.get(name)
    except SkyvaultError as exc:
        return [f"{name}: cannot read: {exc.message}"], 0
    problems: list[str] = []
    if content_id(data) != id_of_name(name):
        problems.append(f"{name}: content does not match its name (corrupt pack)")
    try:
        entries = parse_pack_header(repo.sealer, data, len(data), name)
    except LibraryError as exc:
        return [*problems, f"{name}: unreadable header: {exc.message}"], len(data)
    if indexed is not None and sorted(entries) != sorted(indexed):
        problems.append(f"{name}: header does not match the index")
    view = memoryview(data)
    for entry in entries:
        where = f"{name}"
        try:
            plain = repo.decode_blob(
                entry.blob_id, view[entry.offset : entry.offset + entry.length], entry.raw_length, where
            )
        except LibraryError as exc:
            problems.append(exc.message)
            continue
        if repo.sealer.blob_id(plain) != entry.blob_id:
            problems.append(f"blob {entry.blob_id.hex()} in {name}: content does not hash to its ID")
    return problems, len(data)
