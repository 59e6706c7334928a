"""Envelopes authenticate everything; key files open only with the right passphrase (or KMS key)."""

from __future__ import annotations

import pytest

from library.helpers import FAST_SCRYPT, PASSPHRASE, make_repo
from skyvault.errors import ConflictError, LibraryCorruptError, LibraryError, WrongPassphraseError
from skyvault.library.backends.memory import MemoryBackend
from skyvault.library.crypto import BLOB_OVERHEAD, MasterKey, Sealer
from skyvault.library.format import BlobType, FileType
from skyvault.library.repository import Repository


def test_file_envelope_roundtrip_and_tamper() -> None:
    sealer = Sealer(MasterKey.generate())
    sealed = sealer.seal_file(FileType.INDEX, b"payload" * 100)
    assert b"payload" not in sealed
    assert sealer.open_file(FileType.INDEX, sealed, "index/x") == b"payload" * 100
    for position in (3, 10, len(sealed) // 2, len(sealed) - 1):  # header (type), nonce, body, tag
        broken = bytearray(sealed)
        broken[position] ^= 0x01
        with pytest.raises((LibraryCorruptError, LibraryError)):
            sealer.open_file(FileType.INDEX, bytes(broken), "index/x")
    with pytest.raises(LibraryCorruptError, match="file type"):
        sealer.open_file(FileType.SNAPSHOT, sealed, "snapshots/x")


def test_blob_envelope_binds_id_type_and_flags() -> None:
    sealer = Sealer(MasterKey.generate())
    data = b"block" * 1000
    blob_id = sealer.blob_id(data)
    out = bytearray(len(data) + BLOB_OVERHEAD)
    size = sealer.seal_blob_into(memoryview(out), blob_id, BlobType.DATA, data, compressed=False)
    assert size == len(out)
    assert sealer.open_blob(blob_id, bytes(out), "p") == (BlobType.DATA, False, data)
    with pytest.raises(LibraryCorruptError, match="authentication failed"):
        sealer.open_blob(sealer.blob_id(b"other"), bytes(out), "p")  # swapped ID
    flipped_flag = bytearray(out)
    flipped_flag[2] ^= 0x01  # claim it is compressed
    with pytest.raises(LibraryCorruptError):
        sealer.open_blob(blob_id, bytes(flipped_flag), "p")


def test_blob_ids_are_keyed() -> None:
    a, b = Sealer(MasterKey.generate()), Sealer(MasterKey.generate())
    assert a.blob_id(b"same") != b.blob_id(b"same")
    assert a.blob_id(b"same") == a.blob_id(bytearray(b"same"))


def test_wrong_passphrase_is_a_clear_error() -> None:
    repo = make_repo()
    with pytest.raises(WrongPassphraseError, match="wrong passphrase") as caught:
        Repository.open(repo.backend, passphrase="not it")
    assert caught.value.exit_code == 12
    with pytest.raises(WrongPassphraseError, match="no key to open"):
        Repository.open(repo.backend, passphrase=None)
    assert Repository.open(repo.backend, passphrase=PASSPHRASE).config.id == repo.config.id


def test_second_passphrase_opens_the_same_library() -> None:
    repo = make_repo()
    repo.add_key(passphrase="second one")
    assert Repository.open(repo.backend, passphrase="second one").sealer.key == repo.sealer.key


def test_init_refuses_an_existing_library_and_needs_a_secret() -> None:
    backend = MemoryBackend()
    Repository.init(backend, passphrase="x", scrypt=FAST_SCRYPT)
    with pytest.raises(ConflictError, match="already holds"):
        Repository.init(backend, passphrase="x", scrypt=FAST_SCRYPT)
    with pytest.raises(LibraryError, match="passphrase or a KMS key"):
        Repository.init(MemoryBackend())


def test_nothing_readable_is_stored() -> None:
    repo = make_repo()
    writer = repo.open_block_writer(kind="t", source="secret-source", size=4096 * 3)
    for i in range(3):
        writer.put_block(i, b"TOPSECRET-" * 409 + b"xxxxxx")
    writer.commit(meta={"note": "classified"})
    assert isinstance(repo.backend, MemoryBackend)
    for name, data in repo.backend.files.items():
        assert b"TOPSECRET" not in data and b"classified" not in data and b"secret-source" not in data, name


def test_an_orphan_key_file_of_another_master_key_is_skipped() -> None:
    """Two concurrent inits: the loser's key file stays; it unwraps with the passphrase but is not this library's."""
    from skyvault.library.crypto import content_id, passphrase_key_file
    from skyvault.library.format import KEYS, file_name

    repo = make_repo()
    (real,) = [name for name, _ in repo.backend.list(KEYS)]
    while True:  # an orphan whose (content-bound) name sorts first, so it is tried before the real one
        orphan = passphrase_key_file(MasterKey.generate(), PASSPHRASE, FAST_SCRYPT, {})
        if file_name(KEYS, content_id(orphan)) < real:
            break
    repo.backend.put(file_name(KEYS, content_id(orphan)), orphan)
    assert Repository.open(repo.backend, passphrase=PASSPHRASE).sealer.key == repo.sealer.key


def test_key_derivation_is_rfc_7914_scrypt_as_libraries_made_before_derived_it() -> None:
    """Key files written with ``cryptography``'s Scrypt still open: the same function, through OpenSSL."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    from skyvault.library.crypto import ScryptParams, _scrypt

    salt = bytes(range(32))
    expected = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive("pässphrase".encode())
    assert _scrypt("pässphrase", salt, ScryptParams(n=2**14, r=8, p=1)) == expected


@pytest.mark.parametrize(("n", "r"), [(2**30, 8), (3000, 8), (2**14, 2**20)])
def test_hostile_scrypt_parameters_in_a_key_file_are_refused_without_allocating_them(n: int, r: int) -> None:
    from skyvault.library.crypto import ScryptParams, _scrypt

    with pytest.raises(LibraryCorruptError, match="scrypt parameters"):
        _scrypt("x", bytes(32), ScryptParams(n=n, r=r, p=1), where="keys/k1")
