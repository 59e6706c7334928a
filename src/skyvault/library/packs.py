"""Pack files: many encrypted blobs in one object (16-64 MiB: few S3 PUTs), with a header at the end.

Layout: ``blob envelope | blob envelope | ... | header envelope | u32 LE length of the header envelope``.
The header envelope (a file envelope of type PACK_HEADER) lists, per blob: ID, type, offset, stored length and
plaintext length (``<32sBIII``). A pack can thus be re-indexed from itself alone; its name is the BLAKE3 hash
of all its bytes. ``PackBuilder`` assembles a pack in one reused buffer: blobs are encrypted straight into it.
"""

from __future__ import annotations

import mmap
import struct
from typing import NamedTuple

from skyvault.errors import LibraryCorruptError, LibraryError
from skyvault.library.crypto import BLOB_OVERHEAD, Sealer, content_id
from skyvault.library.format import MAX_BLOB_SIZE, BlobType, FileType

INITIAL_HEADROOM = 1024 * 1024 + BLOB_OVERHEAD
ENTRY = struct.Struct("<32sBIII")
TRAILER = struct.Struct("<I")
COUNT = struct.Struct("<I")


def _page_aligned_buffer(size: int) -> mmap.mmap:
    """Anonymous memory is page-aligned: the local backend can then write packs with O_DIRECT (no cache copy)."""
    return mmap.mmap(-1, size)


class PackEntry(NamedTuple):
    blob_id: bytes
    blob_type: int
    offset: int
    length: int
    raw_length: int


class PackBuilder:
    """Collects blob envelopes for one pack at a time. Not thread-safe: one thread uses a builder at a time."""

    def __init__(self, sealer: Sealer, target_size: int) -> None:
        self.sealer = sealer
        self.target_size = target_size
        # Room for the target plus one typical block; a larger blob grows the buffer (rare: it then stays).
        self._buffer = _page_aligned_buffer(target_size + INITIAL_HEADROOM)
        self._view = memoryview(self._buffer)
        self.size = 0
        self.entries: list[PackEntry] = []

    @property
    def full(self) -> bool:
        return self.size >= self.target_size

    def add(
        self, blob_id: bytes, blob_type: BlobType, payload: bytes | memoryview, *, compressed: bool, raw_length: int
    ) -> int:
        """Encrypt ``payload`` into the pack; returns the stored size."""
        if len(payload) > MAX_BLOB_SIZE:
            raise LibraryError(f"blob of {len(payload)} bytes exceeds the {MAX_BLOB_SIZE} maximum")
        self._reserve(len(payload) + BLOB_OVERHEAD)
        length = self.sealer.seal_blob_into(self._view[self.size :], blob_id, blob_type, payload, compressed=compressed)
        self.entries.append(PackEntry(blob_id, int(blob_type), self.size, length, raw_length))
        self.size += length
        return length

    def finish(self) -> tuple[bytes, memoryview, list[PackEntry]]:
        """Append the header; return (pack ID, the pack's bytes as a view into the buffer, entries)."""
        plain = COUNT.pack(len(self.entries)) + b"".join(ENTRY.pack(*e) for e in self.entries)
        header = self.sealer.seal_file(FileType.PACK_HEADER, plain)
        end = self.size + len(header) + TRAILER.size
        self._reserve(len(header) + TRAILER.size)
        self._view[self.size : self.size + len(header)] = header
        TRAILER.pack_into(self._buffer, self.size + len(header), len(header))
        data = self._view[:end]
        return content_id(data), data, self.entries

    def _reserve(self, needed: int) -> None:
        if self.size + needed <= len(self._buffer):
            return
        # A new buffer rather than resizing: views of the old one may still be alive (a pack being uploaded).
        grown = _page_aligned_buffer(max(2 * len(self._buffer), self.size + needed))
        grown[: self.size] = self._view[: self.size]
        self._buffer = grown
        self._view = memoryview(grown)

    def reset(self) -> None:
        self.size = 0
        self.entries = []


def parse_pack_header(sealer: Sealer, tail: bytes, pack_size: int, name: str) -> list[PackEntry]:
    """Parse a pack's header from the last bytes of the pack (``tail`` must contain the whole header)."""
    if len(tail) < TRAILER.size:
        raise LibraryCorruptError(f"{name}: too short to be a pack")
    (header_len,) = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if header_len + TRAILER.size > len(tail):
        raise LibraryCorruptError(f"{name}: header length {header_len} runs past the pack")
    header = tail[len(tail) - TRAILER.size - header_len : len(tail) - TRAILER.size]
    plain = sealer.open_file(FileType.PACK_HEADER, bytes(header), name)
    (count,) = COUNT.unpack_from(plain, 0)
    if len(plain) != COUNT.size + count * ENTRY.size:
        raise LibraryCorruptError(f"{name}: header lists {count} blobs but has {len(plain)} bytes")
    entries = [PackEntry(*ENTRY.unpack_from(plain, COUNT.size + i * ENTRY.size)) for i in range(count)]
    data_end = pack_size - TRAILER.size - header_len
    for entry in entries:
        if entry.offset + entry.length > data_end:
            raise LibraryCorruptError(f"{name}: blob {entry.blob_id.hex()} runs past the pack's data")
    return entries


def header_length(pack: bytes | memoryview) -> int:
    (length,) = TRAILER.unpack_from(pack, len(pack) - TRAILER.size)
    return int(length) + TRAILER.size
