"""Object trees: round trips, streaming, content-defined dedup, incremental reuse, and every reader failing closed."""

from __future__ import annotations

import dataclasses
import os
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from library.helpers import BLOCK, make_repo, reopen, write_blocks
from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.backends.local import LocalBackend
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.check import check
from skyvault.library.crypto import file_version
from skyvault.library.format import DATA, SNAPSHOTS
from skyvault.library.prune import prune
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.stats import library_stats
from skyvault.library.trees import CHUNK_MAX, CHUNK_MIN, INLINE_MAX, TreeEntry, TreeReader

MiB = 1024 * 1024


def stored(backend: MemoryBackend) -> int:
    return sum(size for _, size in backend.list(DATA))


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for pos in range(0, len(data), size):
        yield data[pos : pos + size]


def content(reader: TreeReader, key: str) -> bytes:
    entry = reader.get(key)
    assert entry is not None, key
    return b"".join(reader.read(entry))


def small_tree(repo: Repository, n: int, *, source: str = "bucket") -> tuple[Manifest, dict[str, bytes]]:
    writer = repo.open_tree_writer("s3", source)
    data = {f"objects/{i:06d}.json": f'{{"n": {i}, "pad": "{"x" * (i % 50)}"}}'.encode() for i in range(n)}
    for key in sorted(data):
        writer.add(key, {"etag": key[-11:-5]}, data[key])
    return writer.commit(meta={"bucket": source}), data


# -- readers fail closed -----------------------------------------------------------------------------------------
def forged_manifest(repo: Repository, content: dict[str, object], *, version: int) -> str:
    manifest = Manifest(kind="s3", source="b", time="2026-01-01T00:00:00+00:00", host="h", content=content)
    manifest.version = version
    return repo.save_snapshot(manifest)


def test_a_tree_in_a_version_1_manifest_is_refused_and_prune_deletes_nothing() -> None:
    """Before layout 2 a manifest of type "tree" was accepted and read as referencing nothing: prune deleted
    the data it named and check passed it."""
    backend = MemoryBackend()
    repo = make_repo(backend)
    write_blocks(repo, os.urandom(BLOCK * 8))
    snapshot = forged_manifest(repo, {"type": "tree", "root": "00" * 32}, version=1)
    with pytest.raises(LibraryError, match="not understood"):
        reopen(repo).load_snapshot(snapshot)
    files = dict(backend.files)
    with pytest.raises(LibraryError, match="not understood"):
        prune(reopen(repo))
    assert backend.files == files
    report = check(reopen(repo))
    assert not report.ok and any(snapshot in e and "not understood" in e for e in report.errors), report.errors
    with pytest.raises(LibraryError):
        library_stats(reopen(repo))


@pytest.mark.parametrize(
    ("content", "version", "message"),
    [
        ({"type": "hologram"}, 2, "content type 'hologram' is not understood"),
        ({"type": "block_map", "pages": []}, 3, "manifest version 3 is not supported"),
        ({"pages": []}, 1, "content type None is not understood"),
    ],
)
def test_unknown_content_type_or_manifest_version_is_refused(
    content: dict[str, object], version: int, message: str
) -> None:
    repo = make_repo()
    data = Manifest(kind="x", source="y", time="t", host="h", content=content, version=version).to_json()
    with pytest.raises(LibraryError, match=message) as caught:
        Manifest.from_json(data, "f" * 64)
    assert caught.value.hint == "upgrade skyvault" or "None" in message
    assert repo.snapshots() == []


def test_a_snapshot_file_of_a_newer_layout_is_refused_with_a_clear_error() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    snapshot = forged_manifest(repo, {"type": "hologram"}, version=2)
    # Re-seal the same manifest as layout 3 (a newer skyvault), named by its content as a writer would.
    name = f"{SNAPSHOTS}/{snapshot}"
    plain = repo.sealer.open_file(3, backend.files[name], name)  # type: ignore[arg-type]
    sealed = bytearray(repo.sealer.seal_file(3, plain, version=2))  # type: ignore[arg-type]
    sealed[2] = 3  # the version byte is associated data: authentication would fail too, but the version is
    from skyvault.library.crypto import content_id  # checked first, so the user learns "newer", not "corrupt"

    backend.delete(name)
    backend.files[f"{SNAPSHOTS}/{content_id(bytes(sealed)).hex()}"] = bytes(sealed)
    with pytest.raises(LibraryError, match="layout version 3 is not supported") as caught:
        reopen(repo).snapshots()
    assert caught.value.hint == "upgrade skyvault"


def test_tree_snapshots_are_layout_2_files_and_block_maps_stay_layout_1() -> None:
    """A layout-1 reader refuses a tree's snapshot file (it checks the envelope's version byte) instead of
    misreading it; libraries without trees keep only layout-1 files (older skyvault still reads them)."""
    backend = MemoryBackend()
    repo = make_repo(backend)
    blocks = write_blocks(repo, os.urandom(BLOCK * 4))
    tree, _ = small_tree(repo, 3)
    assert file_version(backend.files[f"{SNAPSHOTS}/{blocks}"]) == 1
    assert file_version(backend.files[f"{SNAPSHOTS}/{tree.id}"]) == 2
    assert repo.load_snapshot(tree.id).version == 2 and repo.load_snapshot(blocks).version == 1
    assert {file_version(data) for name, data in backend.files.items() if name.startswith("index/")} == {1}


def test_block_and_tree_readers_and_writers_refuse_each_other() -> None:
    repo = make_repo()
    tree, _ = small_tree(repo, 2)
    blocks = repo.load_snapshot(write_blocks(repo, os.urandom(BLOCK)))
    with pytest.raises(LibraryError, match="not a tree"):
        TreeReader(repo, blocks)
    with pytest.raises(LibraryError, match="not a tree"):
        repo.open_tree_writer("s3", "b", parent=blocks)
    with pytest.raises(LibraryCorruptError, match="not a block map"):
        BlockReader(repo, tree)
    with pytest.raises(LibraryError, match="not a block map"):
        repo.open_block_writer(kind="image", source="d", size=BLOCK, parent=tree)


# -- round trips -------------------------------------------------------------------------------------------------
def test_many_small_entries_round_trip_across_reopen() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    manifest, data = small_tree(repo, 5000)
    assert manifest.content["entries"] == 5000 and manifest.content["height"] >= 2
    assert manifest.stats["inline_entries"] == 5000 and manifest.stats["chunks"] == 0
    # A few dozen TREE blobs, not 5000 blobs: small contents live in the nodes.
    assert manifest.stats["nodes"] < 5000 / 20
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    entries = list(reader.entries())
    assert [e.key for e in entries] == sorted(data)
    assert all(b"".join(reader.read(e)) == data[e.key] for e in entries)
    assert entries[17].meta == {"etag": entries[17].key[-11:-5]}
    assert manifest.size == sum(len(v) for v in data.values())


def test_get_and_prefix_listing() -> None:
    repo = make_repo()
    manifest, data = small_tree(repo, 3000)
    reader = TreeReader(repo, manifest)
    assert content(reader, "objects/001234.json") == data["objects/001234.json"]
    assert reader.get("objects/001234.jso") is None
    assert reader.get("") is None and reader.get("a") is None and reader.get("zzz") is None
    assert [e.key for e in reader.entries("objects/0012")] == [f"objects/0012{i:02d}.json" for i in range(100)]
    assert [e.key for e in reader.entries("objects/002999")] == ["objects/002999.json"]
    assert list(reader.entries("objects/1")) == [] and list(reader.entries("zz")) == []
    assert len(list(reader.entries("objects/"))) == 3000


def test_unicode_and_empty_and_boundary_sized_contents() -> None:
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    items = {
        "": b"",  # an empty key is a key
        "a/empty": b"",
        "a/inline-max": os.urandom(INLINE_MAX),
        "a/inline-max+1": os.urandom(INLINE_MAX + 1),
        "a/one-chunk": os.urandom(CHUNK_MIN - 1),
        "Zürich/日本語/🙂": b"unicode",
        "Zürich/日本語/🙂🙂": os.urandom(3 * MiB),
    }
    keys = sorted(items)
    assert keys == sorted(items, key=lambda k: k.encode())  # str order is UTF-8 byte order, as S3 lists keys
    for key in keys:
        added = writer.add(key, {"ключ": key, "n": [1, 2.5, None, True]}, items[key])
        assert added.size == len(items[key])
    manifest = writer.commit()
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    for key in keys:
        entry = reader.get(key)
        assert entry is not None and entry.meta == {"ключ": key, "n": [1, 2.5, None, True]}
        assert b"".join(reader.read(entry)) == items[key]
    assert reader.get("a/empty") == TreeEntry("a/empty", {"ключ": "a/empty", "n": [1, 2.5, None, True]}, 0)
    assert len(reader.get("a/inline-max+1").chunks) == 1  # type: ignore[union-attr]
    assert [e.key for e in reader.entries("Zürich/")] == [k for k in keys if k.startswith("Zürich/")]


def test_empty_tree() -> None:
    repo = make_repo()
    manifest = repo.open_tree_writer("s3", "b").commit()
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    assert list(reader.entries()) == [] and reader.get("x") is None
    assert check(reopen(repo), read_data=True).ok


def test_large_streamed_entry_uses_bounded_memory_and_cuts_as_if_whole(tmp_path: Path) -> None:
    repo = make_repo(LocalBackend(tmp_path, fsync=False), pack_size=8 * MiB)  # packs go to disk, not to memory
    rng = random.Random(7)
    data = rng.randbytes(48 * MiB) + rng.randbytes(48 * MiB)
    writer = repo.open_tree_writer("s3", "b")
    tracemalloc.start()
    try:
        streamed = writer.add("big", {}, pieces(data, 1_000_003))  # odd piece size: cuts straddle pieces
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The cutting buffer (2 chunks) and one chunk per worker thread (measured ~19 MiB), not the 96 MiB object.
    assert peak < (2 + repo.threads + 1) * CHUNK_MAX + 2 * MiB, peak
    whole = writer.add("big2", {}, data)
    assert streamed.chunks == whole.chunks and streamed.size == len(data)
    assert 16 <= len(whole.chunks) <= 256  # 256 KiB .. 4 MiB chunks, about 1 MiB on average
    manifest = writer.commit()
    assert manifest.stats["new_chunks"] == len(whole.chunks) and manifest.stats["chunks"] == 2 * len(whole.chunks)
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    assert content(reader, "big") == data


def test_an_insert_in_the_middle_of_a_large_object_reuses_most_chunks() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend, pack_size=8 * MiB)
    data = random.Random(1).randbytes(32 * MiB)
    first = repo.open_tree_writer("s3", "b")
    first.add("obj", {}, data)
    parent = first.commit()
    before = stored(backend)
    changed = data[: 13 * MiB + 12345] + b"inserted bytes" * 7 + data[13 * MiB + 12345 :]
    second = repo.open_tree_writer("s3", "b", parent=parent)
    second.add("obj", {}, pieces(changed, MiB))
    manifest = second.commit()
    new = stored(backend) - before
    assert new < 0.2 * len(data), (new, manifest.stats)  # about 1-2 chunks of ~1 MiB, not 19 MiB after the insert
    assert manifest.stats["new_chunks"] <= 3 and manifest.stats["new_bytes"] <= new
    assert content(TreeReader(reopen(repo), manifest), "obj") == changed


# -- incremental -------------------------------------------------------------------------------------------------
def test_unchanged_entries_are_reused_and_one_change_rewrites_one_leaf() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    writer = repo.open_tree_writer("s3", "b")
    big = os.urandom(2 * MiB)
    writer.add("a-big", {"etag": "1"}, big)
    for i in range(4000):
        writer.add(f"item/{i:05d}", {"etag": str(i)}, f"value {i}".encode())
    parent = writer.commit()
    same = repo.open_tree_writer("s3", "b", parent=parent)
    for entry in TreeReader(repo, parent).entries():
        same.add_entry(entry)
    unchanged = same.commit()
    assert unchanged.content["root"] == parent.content["root"] and unchanged.stats["new_bytes"] == 0
    assert unchanged.stats["reused_entries"] == 4001

    changed = repo.open_tree_writer("s3", "b", parent=unchanged)
    for entry in TreeReader(repo, unchanged).entries():
        if entry.key == "item/02000":
            changed.add(entry.key, {"etag": "new"}, b"a new value")
        else:
            changed.add_entry(entry)
    manifest = changed.commit()
    assert manifest.stats["new_nodes"] <= manifest.content["height"] + 1, manifest.stats
    assert manifest.stats["new_chunks"] == 0 and manifest.stats["new_bytes"] < 64 * 1024
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    assert content(reader, "item/02000") == b"a new value" and content(reader, "a-big") == big


def test_a_reused_entry_is_written_from_its_stored_record_and_a_changed_copy_is_not() -> None:
    """add_entry writes an entry read from a tree with the bytes it was read with (no re-serialising); a copy made
    with dataclasses.replace drops that record, so its new key or metadata is what gets written."""
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    big = os.urandom(2 * MiB)
    writer.add("a-big", {"etag": "1", "ключ": [1, 2.5, None]}, big)
    writer.add("b-small", {"etag": "2"}, b"small")
    parent = writer.commit()
    entries = list(TreeReader(repo, parent).entries())
    assert all(entry.stored for entry in entries)
    again = repo.open_tree_writer("s3", "b", parent=parent)
    for entry in entries:
        again.add_entry(entry)
    assert again.commit().content["root"] == parent.content["root"]

    changed = dataclasses.replace(entries[1], key="c-small", meta={"etag": "3"})
    assert changed.stored == b""
    moved = dataclasses.replace(entries[0], key="a-moved")
    writer = repo.open_tree_writer("s3", "b", parent=parent)
    writer.add_entry(moved)
    writer.add_entry(changed)
    reader = TreeReader(reopen(repo), writer.commit())
    assert [(e.key, e.meta, e.size) for e in reader.entries()] == [
        ("a-moved", {"etag": "1", "ключ": [1, 2.5, None]}, len(big)),
        ("c-small", {"etag": "3"}, 5),
    ]
    assert content(reader, "a-moved") == big and content(reader, "c-small") == b"small"


def test_an_insert_among_many_small_entries_changes_few_leaves() -> None:
    repo = make_repo()
    keys = [f"k{i:06d}" for i in range(0, 20000, 2)]
    first = repo.open_tree_writer("dynamodb", "t")
    for key in keys:
        first.add(key, {"S": key * 3}, b"")
    parent = first.commit()
    second = repo.open_tree_writer("dynamodb", "t", parent=parent)
    for key in sorted([*keys, "k010001"]):
        second.add(key, {"S": key * 3}, b"")
    manifest = second.commit()
    assert parent.stats["nodes"] >= 5
    assert manifest.stats["new_nodes"] <= manifest.content["height"] + 2, manifest.stats


def test_add_entry_refuses_chunks_the_library_does_not_hold() -> None:
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    with pytest.raises(LibraryCorruptError, match="not in the library"):
        writer.add_entry(TreeEntry("k", {}, 10 * MiB, (os.urandom(32),)))
    with pytest.raises(ValueError, match="no chunks"):
        writer.add_entry(TreeEntry("k", {}, 10))


def test_keys_out_of_order_raise_value_error() -> None:
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    writer.add("b", {}, b"1")
    for bad in ("b", "a", "B"):
        with pytest.raises(ValueError, match="ascending"):
            writer.add(bad, {}, b"2")
        with pytest.raises(ValueError, match="ascending"):
            writer.add_entry(TreeEntry(bad, {}, 0))
    with pytest.raises(ValueError, match="JSON"):
        writer.add("c", {"t": object()}, b"")
    with pytest.raises(ValueError, match="Unicode"):
        writer.add("d\udc80", {}, b"")
    writer.add("c", {}, b"3")
    writer.commit()
    with pytest.raises(LibraryError, match="already committed"):
        writer.add("d", {}, b"")


# -- prune, check, stats -------------------------------------------------------------------------------------------
def test_prune_keeps_tree_data_and_frees_it_once_the_snapshot_is_forgotten() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    big = os.urandom(3 * MiB)
    writer = repo.open_tree_writer("s3", "b")
    writer.add("big", {}, big)
    for i in range(2000):
        writer.add(f"small/{i:05d}", {}, os.urandom(100))
    manifest = writer.commit()
    before = stored(backend)
    result = prune(reopen(repo))
    assert result.packs_deleted == 0 and result.packs_repacked == 0 and stored(backend) == before
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    assert content(reader, "big") == big and len(list(reader.entries("small/"))) == 2000
    assert check(reopen(repo), read_data=True).ok

    backend.delete(f"{SNAPSHOTS}/{manifest.id}")  # forget it
    result = prune(reopen(repo))
    assert result.bytes_freed >= len(big) and stored(backend) < 0.05 * before
    assert check(reopen(repo), read_data=True).ok


def test_check_finds_a_corrupted_and_a_missing_tree_chunk() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend, pack_size=256 * 1024)
    writer = repo.open_tree_writer("s3", "b")
    writer.add("big", {}, os.urandom(6 * MiB))
    writer.add("small", {}, b"x")
    manifest = writer.commit()
    assert check(reopen(repo), read_data=True).ok
    chunk = TreeReader(repo, manifest).get("big").chunks[1]  # type: ignore[union-attr]
    entry = repo.index.get(chunk)
    assert entry is not None
    pack = f"data/{entry.pack_id.hex()[:2]}/{entry.pack_id.hex()}"
    damaged = bytearray(backend.files[pack])
    damaged[entry.offset + 100] ^= 0x10
    backend.files[pack] = bytes(damaged)
    assert check(reopen(repo)).ok  # structure alone cannot see a flipped byte
    report = check(reopen(repo), read_data=True)
    assert any(chunk.hex() in e and "authentication failed" in e for e in report.errors), report.errors
    with pytest.raises(LibraryCorruptError):
        content(TreeReader(reopen(repo), manifest), "big")

    del backend.files[pack]
    report = check(reopen(repo))
    assert any(manifest.id in e and chunk.hex() in e and "missing" in e for e in report.errors), report.errors


def test_check_finds_a_missing_tree_node() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    manifest, _ = small_tree(repo, 2000)
    root = bytes.fromhex(manifest.content["root"])
    entry = repo.index.get(root)
    assert entry is not None
    del backend.files[f"data/{entry.pack_id.hex()[:2]}/{entry.pack_id.hex()}"]
    report = check(reopen(repo))
    assert any(manifest.id in e and "missing" in e for e in report.errors), report.errors
    with pytest.raises(LibraryCorruptError):
        prune(reopen(repo))


def test_stats_count_trees() -> None:
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    payload = os.urandom(MiB)
    writer.add("a", {}, payload)
    writer.add("b", {}, payload)  # same content: stored once
    writer.add("c", {}, b"tiny")
    manifest = writer.commit()
    stats = library_stats(reopen(repo))
    assert stats["logical_bytes"] == manifest.size == 2 * MiB + 4
    assert stats["dedup_ratio"] is not None and stats["dedup_ratio"] > 1.9


def test_deep_trees_answer_get_and_prefix_queries_like_a_sorted_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny nodes make trees four or five levels deep from a few thousand keys: every level's walk is exercised."""
    from skyvault.library import trees

    monkeypatch.setattr(trees, "NODE_MIN", 64)
    monkeypatch.setattr(trees, "NODE_MAX", 1024)
    monkeypatch.setattr(trees, "_CUT_SPREAD", 256)
    rng = random.Random(11)
    alphabet = "ab/é🙂"
    keys = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(3000)})
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    for key in keys:
        writer.add(key, {"k": key}, key.encode() * 3)
    manifest = writer.commit()
    assert manifest.content["height"] >= 4, manifest.content
    reader = TreeReader(reopen(repo), reopen(repo).load_snapshot(manifest.id))
    assert [e.key for e in reader.entries()] == keys
    for prefix in ["", "a", "b/", "é🙂", "🙂🙂a", "ab/ab", "zz", "a" * 9, *rng.sample(keys, 40)]:
        assert [e.key for e in reader.entries(prefix)] == [k for k in keys if k.startswith(prefix)], prefix
    present = set(keys)
    for probe in [*rng.sample(keys, 60), "", "zz", "a" * 10, "🙂" * 10, "ab/x"]:
        entry = reader.get(probe)
        assert (entry is not None) == (probe in present), probe
        if entry is not None:
            assert (
                entry.key == probe and entry.meta == {"k": probe} and b"".join(reader.read(entry)) == probe.encode() * 3
            )
    assert check(reopen(repo), read_data=True).ok


@pytest.mark.parametrize("tiny_nodes", [False, True])
def test_a_tree_with_keys_out_of_order_is_corrupt_for_readers_and_check(
    tiny_nodes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer bug (or a forged tree, for a key holder) that breaks key order is caught within and across nodes."""
    from skyvault.library import trees

    if tiny_nodes:
        monkeypatch.setattr(trees, "NODE_MIN", 1)
        monkeypatch.setattr(trees, "NODE_MAX", 1)  # one entry per leaf: the disorder is across nodes
    repo = make_repo()
    writer = repo.open_tree_writer("s3", "b")
    for key in ("a", "c", "d"):
        writer.add(key, {}, b"x")
    writer._last_key = None  # bypass the order check, as a buggy writer would
    writer.add("b", {}, b"y")
    manifest = writer.commit()
    reader = TreeReader(reopen(repo), manifest)
    with pytest.raises(LibraryCorruptError, match=r"out of order|does not start"):
        list(reader.entries())
    report = check(reopen(repo))
    assert any(manifest.id in e and ("out of order" in e or "does not start" in e) for e in report.errors), report
    with pytest.raises(LibraryCorruptError):
        prune(reopen(repo))
