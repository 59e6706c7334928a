"""Library layout: object kinds, their names, and the layout version (see docs/library-format.md).

Every stored file has a validated name. Content files (config aside) are named by the unkeyed BLAKE3 hash of
their stored bytes, so ``check --read-data`` can verify any file without a key and a corrupt one is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from skyvault.errors import LibraryError

LAYOUT_VERSION = 1
"""The version written in ``config``, key files and every file that layout 1 describes (block-map snapshots,
index files, pack headers): a library without trees stays readable by skyvault releases that know only layout 1."""
TREE_LAYOUT_VERSION = 2
"""Layout 2 = layout 1 + object trees (TREE blobs). A snapshot file holding a tree is sealed with version 2 (its
envelope byte and its manifest's ``version``), so a reader that knows only layout 1 refuses it rather than
misreading it (a layout-1 prune stops instead of deleting the tree's data)."""
MAX_LAYOUT_VERSION = TREE_LAYOUT_VERSION
"""The newest layout this skyvault reads; anything newer is refused with a clear error (upgrade skyvault)."""
READABLE_LAYOUTS = range(1, MAX_LAYOUT_VERSION + 1)

DEFAULT_BLOCK_SIZE = 512 * 1024  # the EBS direct API block size: EBS blocks and image blocks deduplicate
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
MAX_BLOB_SIZE = 8 * 1024 * 1024
ID_LEN = 32
ZERO_ID = bytes(ID_LEN)  # block-map entry of a block that is all zeros (never stored)
LOCK_EXPIRY_S = 30 * 60
LOCK_REFRESH_S = 5 * 60


@dataclass(frozen=True)
class RepoConfig:
    """The library's config file: its identity and the settings every writer of it uses."""

    id: str
    created: str
    layout_version: int = LAYOUT_VERSION
    cipher: str = "aes-256-gcm"
    blob_hash: str = "blake3-keyed"
    compression: str = "zstd"
    block_size: int = DEFAULT_BLOCK_SIZE
    pack_size: int = DEFAULT_PACK_SIZE


class FileType(IntEnum):
    """Type byte of a whole-file envelope (config, index, snapshot, key material, pack header)."""

    CONFIG = 1
    INDEX = 2
    SNAPSHOT = 3
    KEY = 4
    PACK_HEADER = 5


class BlobType(IntEnum):
    """Type byte of a blob inside a pack."""

    DATA = 1  # a disk block, an object's bytes
    MAP = 2  # a page of a block map (a run of 32-byte blob IDs)
    TREE = 3  # a node of an object tree (DynamoDB items, S3 objects; layout 2)


# Kinds of stored files: the directory they live in.
DATA = "data"
INDEX = "index"
SNAPSHOTS = "snapshots"
KEYS = "keys"
LOCKS = "locks"
CONFIG = "config"
KINDS = (DATA, INDEX, SNAPSHOTS, KEYS, LOCKS)
EXCLUSIVE_LOCK = "locks/exclusive"

_HEX64 = r"[0-9a-f]{64}"
_NAME = re.compile(
    rf"^(config|data/[0-9a-f]{{2}}/{_HEX64}|index/{_HEX64}|snapshots/{_HEX64}|keys/{_HEX64}"
    rf"|locks/(exclusive|{_HEX64}))$"
)


def validate_name(name: str) -> str:
    """Refuse any name outside the layout: backends never touch anything else (no '..', no stray keys)."""
    if not _NAME.match(name):
        raise LibraryError(f"not a library object name: {name!r}")
    if name.startswith("data/") and name[5:7] != name[8:10]:
        raise LibraryError(f"pack {name!r} is not in its fan-out directory")
    return name


def pack_name(pack_id: bytes) -> str:
    hexid = pack_id.hex()
    return f"data/{hexid[:2]}/{hexid}"


def file_name(kind: str, file_id: bytes) -> str:
    if kind == DATA:
        return pack_name(file_id)
    return f"{kind}/{file_id.hex()}"


def id_of_name(name: str) -> bytes:
    """The 32-byte ID at the end of a content-named file."""
    tail = name.rsplit("/", 1)[-1]
    try:
        raw = bytes.fromhex(tail)
    except ValueError:
        raise LibraryError(f"{name!r} is not named by an ID") from None
    if len(raw) != ID_LEN:
        raise LibraryError(f"{name!r} is not named by an ID")
    return raw


def parse_id(text: str, what: str = "ID") -> bytes:
    """A full 64-hex ID (or a unique prefix is resolved by the caller)."""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise LibraryError(f"not a valid {what}: {text!r}") from None
    if len(raw) != ID_LEN:
        raise LibraryError(f"not a valid {what}: {text!r} (want 64 hex digits)")
    return raw
