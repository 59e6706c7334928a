"""check finds and names damage; prune frees unreferenced data and never referenced data."""

from __future__ import annotations

import os

import pytest

from library.helpers import BLOCK, make_repo, read_all, reopen, write_blocks
from skyvault.errors import LibraryLockedError
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.check import check
from skyvault.library.format import DATA, SNAPSHOTS
from skyvault.library.index import read_index_file
from skyvault.library.prune import prune
from skyvault.library.reader import BlockReader
from skyvault.library.stats import library_stats


def test_clean_library_checks_ok_with_read_data() -> None:
    repo = make_repo()
    write_blocks(repo, os.urandom(BLOCK * 40) + bytes(BLOCK * 10))
    report = check(reopen(repo), read_data=True)
    assert report.ok, report.errors
    assert report.snapshots == 1 and report.packs >= 2 and report.bytes_read > BLOCK * 40
    assert report.warnings == []


def test_flipped_byte_in_a_pack_is_detected_and_named() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 40))
    name, _size = next(iter(backend.list(DATA)))
    damaged = bytearray(backend.files[name])
    damaged[100] ^= 0x04  # inside the first blob
    backend.files[name] = bytes(damaged)
    assert check(reopen(repo)).ok  # structure alone cannot see it
    report = check(reopen(repo), read_data=True)
    assert not report.ok
    assert any(name in e and "corrupt pack" in e for e in report.errors), report.errors
    entry = read_index_file(backend, repo.sealer, next(iter(backend.list("index")))[0])
    first_blob = {p.hex(): e for p, e in entry}[name.rsplit("/", 1)[1]][0].blob_id.hex()
    assert any(first_blob in e and "authentication failed" in e for e in report.errors), report.errors


def test_missing_pack_and_missing_blob_are_named() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    snapshot = write_blocks(repo, os.urandom(BLOCK * 40))
    name = next(iter(backend.list(DATA)))[0]
    del backend.files[name]
    report = check(reopen(repo))
    assert any(name in e and "missing" in e for e in report.errors)
    assert any(snapshot in e and "is missing" in e for e in report.errors)


def test_unindexed_pack_is_a_warning_and_prune_removes_it() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 10))
    sink = repo.sink()
    sink.put(1, os.urandom(BLOCK))  # type: ignore[arg-type]
    builder = sink._free.get()
    sink._upload(builder)  # a pack uploaded, then the process "died" before its index was written
    report = check(reopen(repo))
    assert report.ok and len(report.warnings) == 1 and "not in any index" in report.warnings[0]
    result = prune(reopen(repo))
    assert result.packs_deleted == 1
    assert check(reopen(repo), read_data=True).warnings == []


def test_damaged_unindexed_pack_is_a_warning_even_with_read_data() -> None:
    """A power loss may leave a pack no index names half-written (packs are fsynced only before indexing)."""
    backend = MemoryBackend()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 10))
    indexed = {n for n, _ in backend.list(DATA)}
    sink = repo.sink()
    sink.put(1, os.urandom(BLOCK))  # type: ignore[arg-type]
    sink._upload(sink._free.get())
    (orphan,) = {n for n, _ in backend.list(DATA)} - indexed
    backend.files[orphan] = backend.files[orphan][: len(backend.files[orphan]) // 2]
    report = check(reopen(repo), read_data=True)
    assert report.ok, report.errors
    assert any(orphan in w and "not in any index" in w for w in report.warnings)
    assert any(orphan in w and "corrupt pack" in w for w in report.warnings)
    assert prune(reopen(repo)).packs_deleted == 1
    assert check(reopen(repo), read_data=True).warnings == []


def test_check_beside_a_running_backup_reports_no_false_errors() -> None:
    """check and backups both take shared locks: a backup landing while check lists files is not damage."""
    from collections.abc import Iterator

    class BackupDuringFirstListing(MemoryBackend):
        backup: object = None

        def list(self, kind: str) -> Iterator[tuple[str, int]]:
            listing = super().list(kind)
            backup, self.backup = self.backup, None
            if callable(backup):
                backup()  # another process's whole backup (packs, index, snapshot) right after this listing
            return listing

    backend = BackupDuringFirstListing()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 20), source="a")
    checker = reopen(repo)
    backend.backup = lambda: write_blocks(reopen(repo), os.urandom(BLOCK * 20), source="b")
    report = check(checker, read_data=True)
    assert backend.backup is None  # the concurrent backup ran
    assert report.errors == [], report.errors
    assert check(reopen(repo), read_data=True).snapshots == 2


def test_prune_keeps_every_referenced_blob_and_frees_the_rest() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    shared = os.urandom(BLOCK * 20)
    only_old = os.urandom(BLOCK * 30)
    old = write_blocks(repo, shared + only_old, source="a")
    new = write_blocks(repo, shared + os.urandom(BLOCK * 5), source="b")
    new_data = read_all(repo, new)
    before = sum(size for _, size in backend.list(DATA))
    assert prune(reopen(repo)).packs_deleted == 0  # everything is referenced
    backend.delete(f"{SNAPSHOTS}/{old}")  # forget the old snapshot
    result = prune(reopen(repo))
    after = sum(size for _, size in backend.list(DATA))
    assert result.bytes_freed > 0 and after < before - BLOCK * 25
    fresh = reopen(repo)
    assert check(fresh, read_data=True).ok
    assert read_all(fresh, new) == new_data
    stats = library_stats(fresh)
    assert stats["snapshots"] == 1 and stats["unique_bytes"] == BLOCK * 25 + len(
        BlockReader(fresh, fresh.load_snapshot(new)).block_map()
    )


def test_prune_dry_run_changes_nothing() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    old = write_blocks(repo, os.urandom(BLOCK * 30))
    backend.delete(f"{SNAPSHOTS}/{old}")
    files = dict(backend.files)
    report = prune(reopen(repo), dry_run=True)
    assert report.packs_deleted > 0 and backend.files == files


def test_prune_refuses_while_a_backup_holds_the_lock() -> None:
    repo = make_repo()
    with repo.lock(purpose="backup", refresh_s=0), pytest.raises(LibraryLockedError):
        repo.lock(exclusive=True, purpose="prune", refresh_s=0)


def test_prune_stops_if_a_manifest_is_unreadable() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    snapshot = write_blocks(repo, os.urandom(BLOCK * 10))
    name = f"{SNAPSHOTS}/{snapshot}"
    backend.files[name] = backend.files[name][:-1] + bytes([backend.files[name][-1] ^ 1])
    files = dict(backend.files)
    with pytest.raises(Exception, match="content does not match its name"):
        prune(reopen(repo))
    assert backend.files == files
