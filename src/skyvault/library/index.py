"""The index: blob ID -> (pack, type, offset, stored length, plaintext length), held in memory.

Index files (``index/<id>``, a file envelope of type INDEX) each describe some packs completely:
``"SVIX" | u32 pack count | per pack: pack ID(32) | u32 blob count | blob entries <32sBIII``.
A writer adds one index file per commit (and per checkpoint), after the packs it names exist; prune rewrites
them. A blob may appear in more than one index file (e.g. after an interrupted prune): any copy will do.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from skyvault.errors import LibraryCorruptError
from skyvault.library.backends.base import Backend
from skyvault.library.crypto import Sealer, content_id, verify_content_name
from skyvault.library.format import INDEX, FileType, file_name
from skyvault.library.packs import ENTRY, PackEntry

MAGIC = b"SVIX"
HEAD = struct.Struct("<4sI")
PACK_HEAD = struct.Struct("<32sI")


class IndexEntry(tuple[bytes, PackEntry]):
    """(pack ID, the pack's own entry): shares the PackEntry kept per pack, to keep memory per blob small."""

    __slots__ = ()

    @property
    def pack_id(self) -> bytes:
        return self[0]

    @property
    def blob_type(self) -> int:
        return self[1].blob_type

    @property
    def offset(self) -> int:
        return self[1].offset

    @property
    def length(self) -> int:
        return self[1].length

    @property
    def raw_length(self) -> int:
        return self[1].raw_length


class Index:
    """Thread-safe in-memory index."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, IndexEntry] = {}
        self._packs: dict[bytes, list[PackEntry]] = {}
        self._lock = threading.Lock()

    def add_pack(self, pack_id: bytes, entries: Iterable[PackEntry]) -> None:
        entries = list(entries)
        with self._lock:
            self._packs[pack_id] = entries
            for e in entries:
                self._blobs.setdefault(e.blob_id, IndexEntry((pack_id, e)))

    def get(self, blob_id: bytes) -> IndexEntry | None:
        return self._blobs.get(blob_id)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    @property
    def packs(self) -> dict[bytes, list[PackEntry]]:
        return self._packs

    def pack_ids(self) -> set[bytes]:
        with self._lock:
            return set(self._packs)


def serialize(packs: Iterable[tuple[bytes, list[PackEntry]]]) -> bytes:
    packs = list(packs)
    parts = [HEAD.pack(MAGIC, len(packs))]
    for pack_id, entries in packs:
        parts.append(PACK_HEAD.pack(pack_id, len(entries)))
        parts.extend(ENTRY.pack(*e) for e in entries)
    return b"".join(parts)


def parse(plain: bytes, name: str) -> Iterator[tuple[bytes, list[PackEntry]]]:
    try:
        magic, count = HEAD.unpack_from(plain, 0)
        if magic != MAGIC:
            raise LibraryCorruptError(f"{name}: not an index")
        pos = HEAD.size
        for _ in range(count):
            pack_id, n = PACK_HEAD.unpack_from(plain, pos)
            pos += PACK_HEAD.size
            entries = [PackEntry(*ENTRY.unpack_from(plain, pos + i * ENTRY.size)) for i in range(n)]
            pos += n * ENTRY.size
            yield pack_id, entries
    except struct.error:
        raise LibraryCorruptError(f"{name}: truncated index") from None
    if pos != len(plain):
        raise LibraryCorruptError(f"{name}: trailing bytes after the index")


def write_index_file(backend: Backend, sealer: Sealer, packs: list[tuple[bytes, list[PackEntry]]]) -> str:
    data = sealer.seal_file(FileType.INDEX, serialize(packs))
    name = file_name(INDEX, content_id(data))
    backend.put(name, data)
    return name


def read_index_file(backend: Backend, sealer: Sealer, name: str) -> list[tuple[bytes, list[PackEntry]]]:
    data = backend.get(name)
    verify_content_name(name, data)
    return list(parse(sealer.open_file(FileType.INDEX, data, name), name))


def load_index(backend: Backend, sealer: Sealer, *, threads: int = 4) -> tuple[Index, list[str]]:
    """Read every index file (in parallel: S3 latency dominates) into one Index."""
    names = [name for name, _ in backend.list(INDEX)]
    index = Index()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for packs in pool.map(lambda n: read_index_file(backend, sealer, n), names):
            for pack_id, entries in packs:
                index.add_pack(pack_id, entries)
    return index, names
