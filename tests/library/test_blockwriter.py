"""Block maps: round trips, zero blocks, dedup, incremental by changed blocks, parallel out-of-order puts."""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from library.helpers import BLOCK, make_repo, read_all, reopen, write_blocks
from skyvault.errors import LibraryError
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.format import DATA, ZERO_ID
from skyvault.library.reader import BlockReader


def stored_bytes(backend: MemoryBackend) -> int:
    return sum(size for _, size in backend.list(DATA))


def test_roundtrip_with_short_last_block_across_reopen() -> None:
    repo = make_repo()
    data = os.urandom(BLOCK * 7 + 123)
    snapshot = write_blocks(repo, data)
    assert read_all(reopen(repo), snapshot) == data


def test_zero_blocks_are_not_stored() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    before = stored_bytes(backend)
    snapshot = write_blocks(repo, bytes(BLOCK * 64))
    manifest = repo.load_snapshot(snapshot)
    assert manifest.stats["blocks_zero"] == 64 and manifest.stats["blocks_new"] == 0
    reader = BlockReader(repo, manifest)
    assert reader.block_map() == ZERO_ID * 64
    assert stored_bytes(backend) - before < 1024  # only the (compressed) block-map page
    assert read_all(repo, snapshot) == bytes(BLOCK * 64)


def test_identical_blocks_are_stored_once() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    block = os.urandom(BLOCK)
    snapshot = write_blocks(repo, block * 20)
    stats = repo.load_snapshot(snapshot).stats
    assert stats["blocks_new"] == 1 and stats["blocks_deduplicated"] == 19
    assert stored_bytes(backend) < 2 * BLOCK + 1024


def test_incremental_stores_only_changed_blocks() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    data = bytearray(os.urandom(BLOCK * 100))
    first = write_blocks(repo, bytes(data))
    after_first = stored_bytes(backend)
    for block in (3, 50, 99):
        data[block * BLOCK + 10 : block * BLOCK + 20] = os.urandom(10)
    second = write_blocks(repo, bytes(data), parent=repo.load_snapshot(first))
    stats = repo.load_snapshot(second).stats
    assert stats["blocks_new"] == 3 and stats["blocks_unchanged"] == 97
    added = stored_bytes(backend) - after_first
    # three random blocks, the new block-map page (100 IDs of 32 bytes), envelopes and pack headers
    assert 3 * BLOCK + 100 * 32 <= added < 3 * BLOCK + 100 * 32 + 1024
    assert read_all(repo, second) == bytes(data)
    assert read_all(repo, first) != bytes(data)


def test_blocks_not_put_inherit_the_parent() -> None:
    """The EBS path: only changed blocks are put; the rest come from the parent manifest."""
    repo = make_repo()
    data = bytearray(os.urandom(BLOCK * 10))
    first = repo.load_snapshot(write_blocks(repo, bytes(data)))
    writer = repo.open_block_writer(kind="test", source="disk", size=len(data), parent=first)
    new_block = os.urandom(BLOCK)
    writer.put_block(4, new_block)
    writer.mark_zero(7)
    second = writer.commit()
    data[4 * BLOCK : 5 * BLOCK] = new_block
    data[7 * BLOCK : 8 * BLOCK] = bytes(BLOCK)
    assert read_all(repo, second.id) == bytes(data)
    assert second.parent == first.id


def test_parallel_out_of_order_puts() -> None:
    repo = make_repo()
    blocks = [os.urandom(BLOCK) if i % 3 else bytes(BLOCK) for i in range(200)]
    order = list(range(200))
    random.Random(7).shuffle(order)
    writer = repo.open_block_writer(kind="test", source="disk", size=BLOCK * 200)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: writer.put_block(i, memoryview(blocks[i])), order))
    manifest = writer.commit()
    reader = BlockReader(repo, manifest)
    assert [reader.read_block(i) for i in range(200)] == blocks
    got = dict(reader.iter_blocks())
    assert all((got[i] is None) == (i % 3 == 0) for i in range(200))


def test_growing_and_shrinking_disks() -> None:
    repo = make_repo()
    small = os.urandom(BLOCK * 3)
    first = repo.load_snapshot(write_blocks(repo, small))
    grown = small + os.urandom(BLOCK * 2 + 5)
    second = repo.load_snapshot(write_blocks(repo, grown, parent=first))
    assert second.stats["blocks_unchanged"] == 3
    assert read_all(repo, second.id) == grown
    shrunk = grown[: BLOCK + 1]
    assert read_all(repo, write_blocks(repo, shrunk, parent=second)) == shrunk


def test_wrong_block_lengths_and_indexes_are_refused() -> None:
    repo = make_repo()
    writer = repo.open_block_writer(kind="test", source="disk", size=BLOCK * 2 + 10)
    with pytest.raises(LibraryError, match="expected"):
        writer.put_block(0, b"short")
    with pytest.raises(LibraryError, match="outside"):
        writer.put_block(3, b"x")
    writer.put_block(2, b"y" * 10)
    writer.commit()
    with pytest.raises(LibraryError, match="already committed"):
        writer.commit()


def test_packs_are_bounded_by_the_pack_size() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 100))
    sizes = [size for _, size in backend.list(DATA)]
    assert len(sizes) >= 5
    assert max(sizes) < 64 * 1024 + 2 * BLOCK + 4096


def test_blobs_larger_than_the_pack_headroom() -> None:
    repo = make_repo(block_size=3 * 1024 * 1024, pack_size=64 * 1024)
    data = os.urandom(3 * 1024 * 1024 * 2 + 17)
    snapshot = write_blocks(repo, data)
    assert read_all(reopen(repo), snapshot) == data


def test_two_concurrent_writers_share_blobs_safely() -> None:
    """Writers only add content-named files: two backups at once (shared locks) both land; blocks both stored
    concurrently may exist twice, which is harmless (any copy will do; prune can repack)."""
    from skyvault.library.check import check
    from skyvault.library.repository import Repository

    backend = MemoryBackend()
    repo = make_repo(backend)
    common = os.urandom(BLOCK * 30)
    images = {"a": common + os.urandom(BLOCK * 10), "b": common + os.urandom(BLOCK * 10)}
    second = reopen(repo)  # another process: its own index and sink

    def backup(name: str, target: Repository) -> str:
        return write_blocks(target, images[name], source=name)

    with repo.lock(refresh_s=0), second.lock(refresh_s=0), ThreadPoolExecutor(2) as pool:
        futures = {"a": pool.submit(backup, "a", repo), "b": pool.submit(backup, "b", second)}
        ids = {name: future.result() for name, future in futures.items()}
    fresh = reopen(repo)
    assert all(read_all(fresh, ids[name]) == data for name, data in images.items())
    assert check(fresh, read_data=True).ok


def test_a_failed_pack_upload_fails_the_backup_and_writes_no_manifest() -> None:
    from skyvault.errors import LibraryError as Failure
    from skyvault.library.backends.base import Buffer
    from skyvault.library.format import SNAPSHOTS

    class FailingPacks(MemoryBackend):
        def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
            if name.startswith("data/") and self.fail:
                raise Failure("disk full")
            super().put(name, data, if_absent=if_absent)

        fail = False

    backend = FailingPacks()
    repo = make_repo(backend)
    backend.fail = True
    with pytest.raises(Failure, match="disk full"):
        write_blocks(repo, os.urandom(BLOCK * 60))
    assert list(backend.list(SNAPSHOTS)) == []
    backend.fail = False
    snapshot = write_blocks(reopen(repo), os.urandom(BLOCK * 5))  # the library is still usable
    assert len(read_all(reopen(repo), snapshot)) == BLOCK * 5


def test_a_writer_that_never_commits_leaves_no_references_for_the_next_one() -> None:
    """Two writers in one process (EC2: one per volume): the first fails after uploading packs but before its
    index; the second must not deduplicate against those unindexed packs (prune would delete them)."""
    from skyvault.library.check import check
    from skyvault.library.prune import prune

    repo = make_repo()
    data = os.urandom(BLOCK * 60)
    failed = repo.open_block_writer(kind="test", source="a", size=len(data))
    for i in range(failed.block_count):
        failed.put_block(i, data[i * BLOCK : (i + 1) * BLOCK])
    if failed.sink._uploader is not None:
        failed.sink._uploader.shutdown(wait=True)  # the background uploads in flight are done
    assert failed.sink.stats.packs_written >= 2  # packs uploaded, no index file names them
    snapshot = write_blocks(repo, data, source="b")  # same process, same repository
    assert repo.load_snapshot(snapshot).stats["blocks_new"] == 60
    assert check(reopen(repo)).errors == []
    prune(reopen(repo))
    assert read_all(reopen(repo), snapshot) == data


def test_reading_a_block_outside_the_image_is_a_library_error() -> None:
    repo = make_repo()
    reader = BlockReader(repo, repo.load_snapshot(write_blocks(repo, os.urandom(BLOCK * 2))))
    with pytest.raises(LibraryError, match="outside"):
        reader.read_block(2)
