"""A writer of the storage cannot make the library return wrong data: every object is bound to its name.

Each test plays the attacker of docs/library-format.md section 1: it copies, truncates or deletes files with
storage access only (no key), then checks that loading fails with LibraryCorruptError and ``check`` names it.
"""

from __future__ import annotations

import os

import pytest

from library.helpers import BLOCK, PASSPHRASE, make_repo, read_all, reopen, write_blocks
from skyvault.errors import ConflictError, LibraryCorruptError, LibraryError, WrongPassphraseError
from skyvault.library.backends.base import Buffer
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.check import check
from skyvault.library.format import CONFIG, DATA, INDEX, KEYS, SNAPSHOTS
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest


def _two_snapshots(backend: MemoryBackend) -> tuple[Repository, str, str]:
    repo = make_repo(backend)
    first = write_blocks(repo, os.urandom(BLOCK * 6), source="disk-a")
    second = write_blocks(repo, bytes(BLOCK * 2), source="disk-b")
    return repo, first, second


def test_a_manifest_copied_over_another_is_refused_and_check_finds_it() -> None:
    backend = MemoryBackend()
    repo, first, second = _two_snapshots(backend)
    backend.files[f"{SNAPSHOTS}/{second}"] = backend.files[f"{SNAPSHOTS}/{first}"]
    with pytest.raises(LibraryCorruptError, match=f"{SNAPSHOTS}/{second}: content does not match its name"):
        reopen(repo).load_snapshot(second)
    assert len(read_all(reopen(repo), first)) == BLOCK * 6  # the original still reads
    report = check(reopen(repo), read_data=True)
    assert [e for e in report.errors if second in e], report.errors
    assert not [e for e in report.errors if first in e], report.errors


def test_an_index_file_copied_over_another_is_found() -> None:
    backend = MemoryBackend()
    repo, first, _second = _two_snapshots(backend)
    names = sorted(n for n, _ in backend.list(INDEX))
    assert len(names) >= 2
    backend.files[names[1]] = backend.files[names[0]]
    report = check(reopen(repo))
    assert any(names[1] in e and "does not match its name" in e for e in report.errors), report.errors
    with pytest.raises(LibraryCorruptError, match="does not match its name"):
        read_all(reopen(repo), first)


def test_a_key_file_copied_over_another_is_found_and_the_intact_one_still_opens() -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    second_key = repo.add_key(passphrase="another passphrase")
    (first_key,) = {n for n, _ in backend.list(KEYS)} - {second_key}
    backend.files[second_key] = backend.files[first_key]
    assert Repository.open(backend, passphrase=PASSPHRASE).sealer.key == repo.sealer.key
    report = check(reopen(repo))
    assert any(second_key in e and "does not match its name" in e for e in report.errors), report.errors
    with pytest.raises(LibraryCorruptError):
        Repository.open(backend, passphrase="another passphrase")  # its only key file is damaged


def test_every_flipped_byte_of_config_is_corruption_not_a_wrong_passphrase() -> None:
    backend = MemoryBackend()
    make_repo(backend)
    config = backend.files[CONFIG]
    version_byte = 2  # a different layout version is "not supported" (LibraryError), by design
    for position in range(len(config)):
        backend.files[CONFIG] = config[:position] + bytes([config[position] ^ 0x10]) + config[position + 1 :]
        with pytest.raises(LibraryError) as caught:
            Repository.open(backend, passphrase=PASSPHRASE)
        if position == version_byte:
            assert type(caught.value) is LibraryError, position
        else:
            assert isinstance(caught.value, LibraryCorruptError), (position, caught.value)
    backend.files[CONFIG] = config
    with pytest.raises(WrongPassphraseError):
        Repository.open(backend, passphrase="not it")


def test_another_librarys_config_copied_in_is_corruption() -> None:
    backend, other = MemoryBackend(), MemoryBackend()
    make_repo(backend)
    make_repo(other)
    backend.files[CONFIG] = other.files[CONFIG]
    with pytest.raises(LibraryCorruptError, match="config"):
        Repository.open(backend, passphrase=PASSPHRASE)


@pytest.mark.parametrize("damage", ["deleted", "truncated", "swapped"])
def test_reading_from_a_damaged_pack_is_corruption(damage: str) -> None:
    backend = MemoryBackend()
    repo = make_repo(backend)
    snapshot = write_blocks(repo, os.urandom(BLOCK * 40))
    packs = sorted(n for n, _ in backend.list(DATA))
    assert len(packs) >= 2
    if damage == "deleted":
        del backend.files[packs[0]]
    elif damage == "truncated":
        backend.files[packs[0]] = backend.files[packs[0]][: len(backend.files[packs[0]]) // 3]
    else:
        backend.files[packs[0]] = backend.files[packs[1]]
    with pytest.raises(LibraryCorruptError):
        read_all(reopen(repo), snapshot)
    fresh = reopen(repo)
    with pytest.raises(LibraryCorruptError):
        BlockReader(fresh, fresh.load_snapshot(snapshot)).restore(lambda _offset, _data: None)
    assert not check(reopen(repo), read_data=True).ok


def test_a_lost_init_race_leaves_no_orphan_key() -> None:
    backend = MemoryBackend()
    winner = MemoryBackend()
    make_repo(winner)
    winner_config = winner.files[CONFIG]
    original_put = backend.put

    def racing_put(name: str, data: Buffer, *, if_absent: bool = False) -> None:
        if name == CONFIG:
            original_put(name, winner_config)  # a concurrent init wins just before ours
        original_put(name, data, if_absent=if_absent)

    backend.put = racing_put  # type: ignore[method-assign]
    with pytest.raises(ConflictError):
        make_repo(backend)
    assert list(backend.list(KEYS)) == []


def test_manifest_expect_refuses_another_kind_size_or_meta() -> None:
    manifest = Manifest(
        kind="image", source="/x", time="t", host="h", content={"type": "block_map", "size": 10}, meta={"v": "a"}
    )
    manifest.expect("rp", kind="image", size=10, v="a")
    with pytest.raises(LibraryCorruptError, match="kind 'image'"):
        manifest.expect("rp", kind="ebs")
    with pytest.raises(LibraryCorruptError, match="size 10"):
        manifest.expect("rp", kind="image", size=11)
    with pytest.raises(LibraryCorruptError, match="v 'a'"):
        manifest.expect("rp", kind="image", v="b")


class _FakeKms:
    """A KMS stand-in: the "ciphertext" of a data key names its key, and only that key decrypts it."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def generate_data_key(self) -> tuple[bytes, bytes]:
        plaintext = os.urandom(32)
        return plaintext, self.key_id.encode() + b":" + plaintext

    def decrypt(self, ciphertext: bytes) -> bytes:
        prefix = self.key_id.encode() + b":"
        assert ciphertext.startswith(prefix), "decrypt with the wrong KMS key"
        return ciphertext[len(prefix) :]


def test_a_kms_key_file_added_by_a_storage_writer_is_never_used() -> None:
    """The writer puts their own config and a key file of their own KMS key: skyvault must not adopt them."""
    backend = MemoryBackend()
    Repository.init(backend, kms=_FakeKms("user-key"))
    attacker = MemoryBackend()
    Repository.init(attacker, kms=_FakeKms("attacker-key"))
    backend.files[CONFIG] = attacker.files[CONFIG]
    for name, _size in attacker.list(KEYS):
        backend.files[name] = attacker.files[name]
    asked: list[str] = []

    def trusting_only_the_configured_key(key_id: str) -> _FakeKms | None:
        asked.append(key_id)
        return _FakeKms(key_id) if key_id == "user-key" else None

    with pytest.raises(LibraryCorruptError, match="config"):
        Repository.open(backend, kms=trusting_only_the_configured_key)
    assert set(asked) == {"user-key", "attacker-key"}  # seen, but only the configured one was used
