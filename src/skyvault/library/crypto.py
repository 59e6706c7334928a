"""Keys and the encryption envelope.

* The **master key** is 64 random bytes: a 32-byte AES-256-GCM key and a 32-byte BLAKE3 key for blob IDs
  (a keyed hash, so blob IDs reveal nothing about content to someone without the key).
* **File envelope** (config, index, snapshot, pack header): ``"SV" | layout version | file type | nonce(12)``
  then AES-256-GCM(zstd(plaintext)) with the 16-byte header as associated data.
* **Blob envelope** (inside packs): ``blob format(1) | blob type | flags | nonce(12)`` then
  AES-256-GCM(payload) with the header *and the blob ID* as associated data: a blob cannot be swapped for
  another or have its type or compression flag altered without failing authentication.
* **Key files** wrap the master key: with a key derived from a passphrase (scrypt) or with a data key from AWS
  KMS (GenerateDataKey; the encrypted data key is kept in the file and opened with Decrypt).

AES-GCM nonces are random (96 bits): the usual 2**32-messages-per-key bound means ~2 PiB of 512 KiB blobs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from skyvault.errors import LibraryCorruptError, LibraryError, WrongPassphraseError
from skyvault.library.format import LAYOUT_VERSION, READABLE_LAYOUTS, BlobType, FileType

NONCE_LEN = 12
TAG_LEN = 16
FILE_MAGIC = b"SV"
FILE_HEADER_LEN = 2 + 2 + NONCE_LEN
BLOB_FORMAT = 1
BLOB_HEADER_LEN = 3 + NONCE_LEN
BLOB_OVERHEAD = BLOB_HEADER_LEN + TAG_LEN
FLAG_ZSTD = 0x01


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def content_id(data: bytes | bytearray | memoryview) -> bytes:
    """Unkeyed BLAKE3 of stored bytes: the name of content-named files (checkable without a key)."""
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest()


def verify_content_name(name: str, data: bytes | bytearray | memoryview) -> None:
    """A content-named file must hash to its name: this binds a manifest, index or key file to its ID, so a
    writer of the storage cannot copy one authentic file over another (the envelope alone authenticates the
    bytes, not which name they were stored under)."""
    if content_id(data).hex() != name.rsplit("/", 1)[-1]:
        raise LibraryCorruptError(f"{name}: content does not match its name (corrupt, or another file copied over it)")


@dataclass(frozen=True)
class MasterKey:
    encrypt_key: bytes
    hash_key: bytes

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(32), os.urandom(32))

    def to_json(self) -> bytes:
        return json.dumps({"encrypt": b64(self.encrypt_key), "hash": b64(self.hash_key)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> MasterKey:
        doc = json.loads(data)
        key = cls(unb64(doc["encrypt"]), unb64(doc["hash"]))
        if len(key.encrypt_key) != 32 or len(key.hash_key) != 32:
            raise LibraryCorruptError("key material has the wrong length")
        return key


class Sealer:
    """Encrypts and decrypts with one master key; thread-safe (AESGCM objects are)."""

    def __init__(self, key: MasterKey) -> None:
        self.key = key
        self._aead = AESGCM(key.encrypt_key)

    # -- blob IDs ----------------------------------------------------------------------------------------
    def blob_id(self, data: bytes | bytearray | memoryview) -> bytes:
        # blake3 releases the GIL for large inputs: the per-byte cost runs in parallel across writer threads.
        return blake3.blake3(data, key=self.key.hash_key).digest()

    # -- whole files -------------------------------------------------------------------------------------
    def seal_file(
        self, file_type: FileType, plaintext: bytes, *, level: int = 3, version: int = LAYOUT_VERSION
    ) -> bytes:
        """``version``: the layout version the file needs (2 for a snapshot holding a tree, else 1)."""
        if version not in READABLE_LAYOUTS:
            raise LibraryError(f"cannot write layout version {version}")
        header = FILE_MAGIC + bytes((version, int(file_type))) + os.urandom(NONCE_LEN)
        body = zstandard.ZstdCompressor(level=level).compress(plaintext)
        return header + self._aead.encrypt(header[4:], body, header)

    def open_file(self, file_type: FileType, data: bytes, name: str) -> bytes:
        return open_file_with(self._aead, file_type, data, name)

    # -- blobs -------------------------------------------------------------------------------------------
    def seal_blob_into(
        self, out: memoryview, blob_id: bytes, blob_type: BlobType, payload: bytes | memoryview, *, compressed: bool
    ) -> int:
        """Write the blob envelope into ``out`` (exactly len(payload) + BLOB_OVERHEAD bytes); no copies."""
        nonce = os.urandom(NONCE_LEN)
        header = bytes((BLOB_FORMAT, int(blob_type), FLAG_ZSTD if compressed else 0)) + nonce
        size = len(payload) + BLOB_OVERHEAD
        out[:BLOB_HEADER_LEN] = header
        self._aead.encrypt_into(nonce, payload, header + blob_id, out[BLOB_HEADER_LEN:size])
        return size

    def open_blob(self, blob_id: bytes, envelope: bytes | memoryview, where: str) -> tuple[BlobType, bool, bytes]:
        """Authenticate and decrypt one blob envelope: (type, compressed, payload)."""
        if len(envelope) < BLOB_OVERHEAD or envelope[0] != BLOB_FORMAT:
            raise LibraryCorruptError(f"blob {blob_id.hex()} in {where}: not a blob envelope")
        header = bytes(envelope[:BLOB_HEADER_LEN])
        try:
            payload = self._aead.decrypt(header[3:], envelope[BLOB_HEADER_LEN:], header + blob_id)
        except InvalidTag:
            raise LibraryCorruptError(f"blob {blob_id.hex()} in {where}: authentication failed") from None
        try:
            blob_type = BlobType(header[1])
        except ValueError:
            raise LibraryCorruptError(f"blob {blob_id.hex()} in {where}: unknown type {header[1]}") from None
        return blob_type, bool(header[2] & FLAG_ZSTD), payload


def file_version(data: bytes) -> int:
    """The layout version byte of a file envelope (authenticated as associated data by ``open_file``)."""
    return data[2] if len(data) > 2 else 0


def open_file_with(aead: AESGCM, file_type: FileType, data: bytes, name: str) -> bytes:
    if len(data) < FILE_HEADER_LEN + TAG_LEN or data[:2] != FILE_MAGIC:
        raise LibraryCorruptError(f"{name}: not a skyvault library file")
    # Layout 2 only added trees, which live in snapshot files: any other file of version 2 is not one we wrote.
    readable = READABLE_LAYOUTS if file_type == FileType.SNAPSHOT else range(LAYOUT_VERSION, LAYOUT_VERSION + 1)
    if data[2] not in readable:
        raise LibraryError(
            f"{name}: layout version {data[2]} is not supported (this skyvault reads {readable.start} to "
            f"{readable.stop - 1} for this file; written by a newer skyvault?)",
            hint="upgrade skyvault",
        )
    if data[3] != file_type:
        raise LibraryCorruptError(f"{name}: holds file type {data[3]}, expected {int(file_type)}")
    header = data[:FILE_HEADER_LEN]
    try:
        body = aead.decrypt(header[4:], data[FILE_HEADER_LEN:], header)
    except InvalidTag:
        raise LibraryCorruptError(f"{name}: authentication failed (corrupt or tampered)") from None
    try:
        return zstandard.ZstdDecompressor().decompress(body)
    except zstandard.ZstdError as exc:
        raise LibraryCorruptError(f"{name}: cannot decompress: {exc}") from None


# -- key files -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScryptParams:
    n: int = 2**15  # 32 MiB of memory, ~0.1 s: slows guessing without slowing every command much
    r: int = 8
    p: int = 1


class KeyWrapper(Protocol):
    """AWS KMS (or any envelope key service): a fresh data key, and the plaintext back from its ciphertext."""

    key_id: str

    def generate_data_key(self) -> tuple[bytes, bytes]: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


def _wrap(kek: bytes, master: MasterKey) -> str:
    sealer_aead = AESGCM(kek)
    header = FILE_MAGIC + bytes((LAYOUT_VERSION, int(FileType.KEY))) + os.urandom(NONCE_LEN)
    body = zstandard.ZstdCompressor().compress(master.to_json())
    return b64(header + sealer_aead.encrypt(header[4:], body, header))


def _unwrap(kek: bytes, data: str, name: str) -> MasterKey | None:
    try:
        plain = open_file_with(AESGCM(kek), FileType.KEY, unb64(data), name)
    except LibraryCorruptError:
        return None  # wrong key: the caller tries the next key file
    return MasterKey.from_json(plain)


# A key file's parameters come from storage: a writer there could ask for terabytes. 256 MiB allows n = 2**18 at
# r = 8, eight times the default's cost.
SCRYPT_MAX_MEMORY = 256 * 1024 * 1024


def _scrypt(passphrase: str, salt: bytes, params: ScryptParams, *, where: str = "key file") -> bytes:
    """scrypt (RFC 7914) through OpenSSL, as ``hashlib`` exposes it: it releases the GIL while it works, so a
    library opened in a thread overlaps the command's imports (``cryptography``'s Scrypt holds the GIL)."""
    try:
        return hashlib.scrypt(
            passphrase.encode("utf-8"), salt=salt, n=params.n, r=params.r, p=params.p, maxmem=SCRYPT_MAX_MEMORY,
            dklen=32,
        )  # fmt: skip
    except (ValueError, OverflowError) as exc:  # not a power of 2, or beyond SCRYPT_MAX_MEMORY
        raise LibraryCorruptError(
            f"{where}: scrypt parameters n={params.n} r={params.r} p={params.p} are not ones skyvault uses ({exc})"
        ) from None


def passphrase_key_file(master: MasterKey, passphrase: str, params: ScryptParams, meta: dict[str, Any]) -> bytes:
    if not passphrase:
        raise LibraryError("the library passphrase must not be empty")
    salt = os.urandom(32)
    doc = {
        "version": LAYOUT_VERSION,
        "kind": "passphrase",
        "kdf": "scrypt",
        "n": params.n,
        "r": params.r,
        "p": params.p,
        "salt": b64(salt),
        "data": _wrap(_scrypt(passphrase, salt, params), master),
        **meta,
    }
    return json.dumps(doc, indent=1).encode()


def kms_key_file(master: MasterKey, wrapper: KeyWrapper, meta: dict[str, Any]) -> bytes:
    plaintext, ciphertext = wrapper.generate_data_key()
    doc = {
        "version": LAYOUT_VERSION,
        "kind": "kms",
        "kms_key_id": wrapper.key_id,
        "encrypted_data_key": b64(ciphertext),
        "data": _wrap(plaintext, master),
        **meta,
    }
    return json.dumps(doc, indent=1).encode()


def parse_key_file(data: bytes, name: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise LibraryCorruptError(f"{name}: key file is not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") not in ("passphrase", "kms"):
        raise LibraryCorruptError(f"{name}: not a key file")
    if doc.get("version") != LAYOUT_VERSION:
        raise LibraryError(f"{name}: key file version {doc.get('version')} is not supported")
    return doc


def open_master_key(
    key_files: list[tuple[str, bytes]],
    *,
    passphrase: str | None,
    kms: Callable[[str], KeyWrapper | None] | None,
    verify: Callable[[MasterKey], bool] = lambda _key: True,
) -> tuple[MasterKey, str]:
    """Try every key file with what we were given; return the master key and the key file that opened it.

    ``kms`` returns None for a KMS key ID the caller does not trust (not the configured key): a storage writer
    could otherwise add a key file of a KMS key they own, beside a config of their own, and make skyvault
    encrypt new backups to them. ``verify`` rejects a key that unwraps but is not this library's (e.g. an
    orphan key file left by a crashed concurrent ``init``).
    """
    tried: list[str] = []
    rejected: list[str] = []  # key files that unwrap but whose master key does not open the config
    for name, data in key_files:
        doc = parse_key_file(data, name)
        if doc["kind"] == "passphrase" and passphrase:
            tried.append("passphrase")
            params = ScryptParams(int(doc["n"]), int(doc["r"]), int(doc["p"]))
            kek = _scrypt(passphrase, unb64(doc["salt"]), params, where=name)
            master = _unwrap(kek, doc["data"], name)
            if master is not None:
                if verify(master):
                    return master, name
                rejected.append(name)
        elif doc["kind"] == "kms" and kms is not None:
            wrapper = kms(str(doc["kms_key_id"]))
            if wrapper is None:
                continue  # a KMS key the caller does not trust: never ask it (it may be a storage writer's)
            tried.append(f"KMS key {doc['kms_key_id']}")
            master = _unwrap(wrapper.decrypt(unb64(doc["encrypted_data_key"])), doc["data"], name)
            if master is not None:
                if verify(master):
                    return master, name
                rejected.append(name)
    if not key_files:
        raise LibraryCorruptError("the library has no key files")
    if rejected:
        # The secret was right (a key file authenticated with it), so the config is what fails: corruption,
        # not a wrong passphrase.
        raise LibraryCorruptError(
            f"config: fails authentication with the master key of {', '.join(rejected)} (the config is corrupt "
            "or was replaced, or that key file is an orphan of a concurrent init)"
        )
    if not tried:
        kinds = sorted({parse_key_file(d, n)["kind"] for n, d in key_files})
        raise WrongPassphraseError(
            f"no key to open the library: it is protected by {' and '.join(kinds)}",
            hint="set SKYVAULT_PASSPHRASE (or type it when asked), or configure the library's kms_key",
        )
    raise WrongPassphraseError(
        f"wrong passphrase: no key file of the library opens with the given {' or '.join(dict.fromkeys(tried))}",
        hint="check SKYVAULT_PASSPHRASE",
    )
