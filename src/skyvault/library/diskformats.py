"""Virtual-machine disk images: detect the format, read the virtual size and the non-zero 512 KiB blocks.

Formats: raw, VHD (fixed and dynamic), VHDX, VMDK (monolithic sparse, stream-optimized, and a text descriptor
naming FLAT/SPARSE extents beside it), QCOW2, and OVA (a tar whose OVF descriptor names the VM's disks in order,
with its CPU count and memory). Parsing is ``dissect.hypervisor``'s (Fox-IT's maintained forensic readers); this
module detects the format by its magic bytes, checks what the parsers leave unchecked (sizes, truncation, extent
names), and walks the logical contents block by block. Unallocated regions read as zeros from the parsers; a block
that is all zeros is never yielded, so a converter sends only the image's data.

Readers are pure (no AWS, no catalog): the converter, the lab's VM Import model and the tests share them.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import xml.etree.ElementTree as ET  # the OVF is checked for DOCTYPE/ENTITY before it is parsed
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from skyvault.errors import LibraryError, NotFoundError, SkyvaultError

BLOCK_SIZE = 512 * 1024
GIB = 1024**3
SECTOR = 512
ZERO_BLOCK = bytes(BLOCK_SIZE)
MAX_OVF_BYTES = 4 * 1024 * 1024

FORMATS = ("raw", "vhd", "vhdx", "vmdk", "qcow2", "ova")

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"


class DiskFormatError(LibraryError):
    """An image that is not what it claims, truncated, or in a format (or variant) skyvault does not read."""


class _Stream(Protocol):
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def read(self, n: int = -1, /) -> bytes: ...


@dataclass
class DiskImage:
    """One virtual disk: its format, virtual size and a reader of its logical bytes."""

    name: str  # the file (or OVA member) it came from
    format: str  # raw | vhd | vhdx | vmdk | qcow2
    variant: str  # fixed | dynamic | sparse | stream-optimized | flat-descriptor | ...
    virtual_size: int
    _stream: _Stream
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)
    # Byte ranges that may hold data, in order (from the format's allocation table, or the file's holes); None:
    # unknown, every block is read. Blocks outside them are never read: they are zeros.
    _allocated: Callable[[], Iterator[tuple[int, int]]] | None = field(default=None, repr=False)

    @property
    def volume_size_gib(self) -> int:
        """The smallest EBS volume holding it (whole GiB, at least 1)."""
        return max(1, -(-self.virtual_size // GIB))

    @property
    def block_count(self) -> int:
        return -(-self.virtual_size // BLOCK_SIZE)

    def read(self, offset: int, length: int) -> bytes:
        """``length`` logical bytes at ``offset`` (short only at the end of the virtual disk)."""
        length = max(0, min(length, self.virtual_size - offset))
        try:
            self._stream.seek(offset)
            data = self._stream.read(length)
        except SkyvaultError:
            raise
        except Exception as exc:  # the parsers raise what their input provokes: zlib, struct, EOF, index errors...
            raise DiskFormatError(
                f"{self.name}: cannot read {self.format} data at {offset} ({type(exc).__name__}: {exc})"
            ) from exc
        if len(data) < length:
            raise DiskFormatError(
                f"{self.name}: truncated {self.format} image ({len(data)} of {length} bytes at offset {offset})"
            )
        return data[:length]

    def read_block(self, index: int) -> bytes:
        """Block ``index`` as a whole 512 KiB block (the last one padded with zeros)."""
        data = self.read(index * BLOCK_SIZE, BLOCK_SIZE)
        return data if len(data) == BLOCK_SIZE else data + bytes(BLOCK_SIZE - len(data))

    def candidate_blocks(self) -> Iterator[int]:
        """Indexes of the blocks that may hold data, in order: all of them unless the format says which are
        allocated (then unallocated and zero-flagged regions are skipped without reading them)."""
        if self._allocated is None:
            yield from range(self.block_count)
            return
        last = -1
        try:
            for start, end in self._allocated():
                first = max(last + 1, start // BLOCK_SIZE)
                stop = min(self.block_count, -(-end // BLOCK_SIZE))
                yield from range(first, stop)
                last = max(last, stop - 1)
        except SkyvaultError:
            raise
        except Exception as exc:  # as in read(): whatever a damaged table provokes in the parser
            raise DiskFormatError(f"{self.name}: cannot read the {self.format} allocation table: {exc}") from exc

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """``(index, 512 KiB)`` for every block holding a non-zero byte, in order."""
        for index in self.candidate_blocks():
            data = self.read_block(index)
            if data != ZERO_BLOCK:
                yield index, data

    def close(self) -> None:
        self._stack.close()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "variant": self.variant,
            "virtual_size": self.virtual_size,
            "volume_size_gib": self.volume_size_gib,
        }


@dataclass
class VmImage:
    """What one SOURCE holds: one disk, or (OVA) the VM's disks in boot order with its CPU count and memory."""

    source: str
    disks: list[DiskImage]
    cpus: int | None = None
    memory_mib: int | None = None
    vm_name: str | None = None

    def close(self) -> None:
        for disk in self.disks:
            disk.close()

    def __enter__(self) -> VmImage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- detection --------------------------------------------------------------------------------------------
def _peek(fh: BinaryIO, offset: int, length: int) -> bytes:
    fh.seek(offset)
    return fh.read(length)


def _file_size(fh: BinaryIO) -> int:
    return fh.seek(0, io.SEEK_END)


def detect(fh: BinaryIO) -> str:
    """The format of an open image by its magic bytes (``raw`` when none matches)."""
    head = _peek(fh, 0, 512)
    size = _file_size(fh)
    if head[:4] == b"QFI\xfb":
        return "qcow2"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:4] in (b"KDMV", b"COWD") or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if head[:8] == b"conectix" or (size >= 512 and _peek(fh, size - 512, 8) == b"conectix"):
        return "vhd"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "ova"
    return "raw"


# -- per format -----------------------------------------------------------------------------------------------
class _RawStream:
    """A raw image (or a byte range of a file: an OVA member, a flat extent) read with positioned reads."""

    def __init__(self, fh: BinaryIO, start: int, size: int) -> None:
        self.fh, self.start, self.size, self.pos = fh, start, size, 0

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def read(self, n: int = -1, /) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        self.fh.seek(self.start + self.pos)
        data = self.fh.read(max(0, n))
        self.pos += len(data)
        return data


class _SectorStream:
    """Exact sector reads (dissect's VMDK stream reads whole 4 KiB pages, past the end of a disk whose size is not
    a multiple of them)."""

    def __init__(self, read_sectors: Any, size: int) -> None:
        self.read_sectors, self.size, self.pos = read_sectors, size, 0

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def read(self, n: int = -1, /) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        if n <= 0:
            return b""
        first, last = self.pos // SECTOR, -(-(self.pos + n) // SECTOR)
        data = bytes(self.read_sectors(first, last - first))
        skip = self.pos - first * SECTOR
        self.pos += n
        return data[skip : skip + n]


def _merge(ranges: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Adjacent ranges joined (the inputs come in order)."""
    current: tuple[int, int] | None = None
    for start, end in ranges:
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def _file_data_ranges(path: Path | None, start: int, size: int) -> Callable[[], Iterator[tuple[int, int]]] | None:
    """The data (non-hole) ranges of ``path[start:start+size]`` by SEEK_DATA/SEEK_HOLE, relative to ``start``;
    read eagerly on a descriptor of its own (the image's own file position is left alone). None where the file
    system cannot say."""
    if path is None or not hasattr(os, "SEEK_DATA"):
        return None

    def ranges() -> Iterator[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        fd = os.open(path, os.O_RDONLY)
        try:
            position, end = start, start + size
            while position < end:
                try:
                    data = os.lseek(fd, position, os.SEEK_DATA)
                except OSError:  # ENXIO: no data after position
                    break
                if data >= end:
                    break
                hole = min(os.lseek(fd, data, os.SEEK_HOLE), end)
                found.append((data - start, hole - start))
                position = hole
        finally:
            os.close(fd)
        return iter(found)

    return ranges


def _qcow2_allocated(image: Any) -> Callable[[], Iterator[tuple[int, int]]] | None:
    """Clusters mapped by the L1/L2 tables (normal or compressed; zero-flagged and unallocated ones skipped)."""
    if image.has_subclusters:
        return None  # extended L2 entries: read every block
    cluster, entries = int(image.cluster_size), int(image.l2_size)
    offset_mask, compressed, zero = 0x00FFFFFFFFFFFE00, 1 << 62, 1

    def ranges() -> Iterator[tuple[int, int]]:
        def each() -> Iterator[tuple[int, int]]:
            for l1_index, l1_entry in enumerate(image.l1_table):
                l2_offset = int(l1_entry) & offset_mask
                if not l2_offset:
                    continue
                image.fh.seek(l2_offset)
                raw = image.fh.read(entries * 8)
                if len(raw) < entries * 8:
                    raise EOFError(f"L2 table at {l2_offset} is truncated")
                for l2_index, entry in enumerate(struct.unpack(f">{entries}Q", raw)):
                    if entry & compressed or (entry & offset_mask and not entry & zero):
                        first = (l1_index * entries + l2_index) * cluster
                        yield first, first + cluster

        return _merge(each())

    return ranges


def _vhd_allocated(fh: BinaryIO, disk: Any) -> Callable[[], Iterator[tuple[int, int]]]:
    header = disk.header
    block, count = int(header.block_size), int(header.max_table_entries)

    def ranges() -> Iterator[tuple[int, int]]:
        fh.seek(int(header.table_offset))
        raw = fh.read(count * 4)
        if len(raw) < count * 4:
            raise EOFError("the block allocation table is truncated")
        entries = struct.unpack(f">{count}I", raw)
        return _merge((i * block, (i + 1) * block) for i, sector in enumerate(entries) if sector != 0xFFFFFFFF)

    return ranges


def _vhdx_allocated(stream: Any) -> Callable[[], Iterator[tuple[int, int]]]:
    block = int(stream.block_size)
    present = (6, 7)  # PAYLOAD_BLOCK_FULLY_PRESENT, PARTIALLY_PRESENT

    def ranges() -> Iterator[tuple[int, int]]:
        count = -(-int(stream.size) // block)
        return _merge((i * block, (i + 1) * block) for i in range(count) if int(stream.bat.pb(i).state) in present)

    return ranges


def _vmdk_allocated(disk: Any) -> Callable[[], Iterator[tuple[int, int]]] | None:
    """Grains the grain directory and tables map (0: unallocated, 1: a zero grain)."""
    lookup = getattr(disk, "_lookup_grain_table", None)
    if lookup is None or getattr(disk, "is_sesparse", True):
        return None
    grain = int(disk.header.grain_size) * SECTOR
    per_table = int(disk._grain_table_size)

    def ranges() -> Iterator[tuple[int, int]]:
        def each() -> Iterator[tuple[int, int]]:
            for directory in range(int(disk._grain_directory_size)):
                table = lookup(directory)
                if not table:
                    continue
                for index, entry in enumerate(table):
                    if int(entry) > 1:
                        first = (directory * per_table + index) * grain
                        yield first, first + grain

        return _merge(each())

    return ranges


def _parse_failure(name: str, fmt: str, exc: BaseException) -> DiskFormatError:
    return DiskFormatError(f"{name}: not a readable {fmt} image ({type(exc).__name__}: {exc})")


# What a parser may raise on a damaged or hostile image (struct, zlib, EOF, index, key, overflow errors...): every
# one becomes a DiskFormatError naming the file; skyvault's own errors are re-raised before this is caught.
_PARSE_ERRORS: tuple[type[Exception], ...] = (Exception,)


def _open_vhd(name: str, fh: BinaryIO, stack: ExitStack, path: Path | None) -> DiskImage:
    from dissect.hypervisor.disk import vhd

    size = _file_size(fh)
    try:
        footer = vhd.read_footer(fh)
        if footer.cookie != b"conectix":
            raise ValueError("no 'conectix' footer")
        virtual = int(footer.current_size)
        disk_type = int(footer.disk_type)
        if disk_type == 2:  # fixed: the data, then the footer
            if virtual + 512 > size:
                raise DiskFormatError(f"{name}: truncated fixed VHD ({size - 512} data bytes, footer says {virtual})")
            holes = _file_data_ranges(path, 0, virtual)
            return DiskImage(name, "vhd", "fixed", virtual, _RawStream(fh, 0, virtual), stack, holes)
        if disk_type == 4:
            raise DiskFormatError(f"{name}: a differencing VHD needs its parent; convert the merged disk")
        if disk_type != 3:
            raise DiskFormatError(f"{name}: unknown VHD disk type {disk_type}")
        stream = vhd.VHD(fh)
    except DiskFormatError:
        raise
    except _PARSE_ERRORS as exc:
        raise _parse_failure(name, "VHD", exc) from exc
    return DiskImage(name, "vhd", "dynamic", virtual, stream, stack, _vhd_allocated(fh, stream.disk))


def _open_vhdx(name: str, fh: BinaryIO, stack: ExitStack) -> DiskImage:
    from dissect.hypervisor.disk import vhdx

    try:
        stream = vhdx.VHDX(fh)
        if stream.has_parent:
            raise DiskFormatError(f"{name}: a differencing VHDX needs its parent; convert the merged disk")
        virtual = int(stream.size)
    except DiskFormatError:
        raise
    except _PARSE_ERRORS as exc:
        raise _parse_failure(name, "VHDX", exc) from exc
    return DiskImage(name, "vhdx", "dynamic", virtual, stream, stack, _vhdx_allocated(stream))


def _safe_extent(base: Path, filename: str) -> Path:
    """An extent named by a descriptor: a plain file name beside the descriptor, nothing else."""
    if not filename or "/" in filename or "\\" in filename or filename in (".", ".."):
        raise DiskFormatError(f"VMDK extent {filename!r}: only a file beside the descriptor is read")
    path = base.parent / filename
    if not path.is_file():
        raise NotFoundError(f"VMDK extent {filename!r} named by {base.name} is not beside it")
    return path


def _open_vmdk(name: str, fh: BinaryIO, stack: ExitStack, path: Path | None) -> DiskImage:
    from dissect.hypervisor.disk import vmdk

    head = _peek(fh, 0, 4)
    fh.seek(0)
    try:
        if head == b"# Di":
            if path is None:
                raise DiskFormatError(f"{name}: a VMDK descriptor inside an archive cannot name extent files")
            text = fh.read(1024 * 1024).decode("utf-8", "replace")
            descriptor = vmdk.DiskDescriptor.parse(text)
            if descriptor.attr.get("parentCID", "ffffffff") != "ffffffff":
                raise DiskFormatError(f"{name}: a VMDK with a parent (snapshot delta) needs it; convert the base")
            if not descriptor.extents:
                raise DiskFormatError(f"{name}: the VMDK descriptor names no extent")
            for extent in descriptor.extents:
                if extent.type not in ("FLAT", "VMFS", "SPARSE"):
                    raise DiskFormatError(f"{name}: VMDK extent type {extent.type} is not supported")
                if extent.type in ("FLAT", "VMFS") and int(extent.start_sector or 0):
                    raise DiskFormatError(f"{name}: a FLAT extent starting inside its file is not supported")
                extent_path = _safe_extent(path, extent.filename)
                if extent.type != "SPARSE" and extent_path.stat().st_size < extent.sectors * SECTOR:
                    raise DiskFormatError(f"{name}: extent {extent.filename} is shorter than the descriptor says")
            stream = vmdk.VMDK(path)
            for disk in stream.disks:
                stack.callback(disk.fh.close)
            variant = "flat-descriptor" if descriptor.extents[0].type != "SPARSE" else "sparse-descriptor"
            allocated = None
        else:
            stream = vmdk.VMDK(fh)
            if stream.parent is not None:
                raise DiskFormatError(f"{name}: a VMDK with a parent (snapshot delta) needs it; convert the base")
            header = stream.disks[0].header
            flags = int(header.flags)
            variant = "stream-optimized" if flags & 0x10000 else "sparse"
            allocated = _vmdk_allocated(stream.disks[0]) if len(stream.disks) == 1 else None
            if int(header.grain_size) == 0 or int(header.num_grain_table_entries) == 0:
                raise DiskFormatError(f"{name}: VMDK header has a zero grain size or grain table size")
        virtual = int(stream.size)
    except (DiskFormatError, NotFoundError):
        raise
    except _PARSE_ERRORS as exc:
        raise _parse_failure(name, "VMDK", exc) from exc
    return DiskImage(name, "vmdk", variant, virtual, _SectorStream(stream.read_sectors, virtual), stack, allocated)


def _open_qcow2(name: str, fh: BinaryIO, stack: ExitStack) -> DiskImage:
    from dissect.hypervisor.disk import qcow2

    try:
        image = qcow2.QCow2(fh, allow_no_backing_file=True, allow_no_data_file=True)
        if image.header.backing_file_offset:
            raise DiskFormatError(f"{name}: a QCOW2 with a backing file needs it; convert the merged disk")
        if image.needs_data_file:
            raise DiskFormatError(f"{name}: a QCOW2 with an external data file is not supported")
        stream = image.open()
        virtual = int(image.size)
    except DiskFormatError:
        raise
    except Exception as exc:  # dissect raises its own InvalidHeaderError, RuntimeError, struct errors...
        raise _parse_failure(name, "QCOW2", exc) from exc
    allocated = _qcow2_allocated(image)
    return DiskImage(name, "qcow2", f"v{int(image.header.version)}", virtual, stream, stack, allocated)


def _open_disk(name: str, fh: BinaryIO, stack: ExitStack, path: Path | None, fmt: str) -> DiskImage:
    fh.seek(0)  # detection left the position anywhere; some parsers read from where the file is
    if fmt == "raw":
        size = _file_size(fh)
        if size == 0:
            raise DiskFormatError(f"{name}: an empty file is not a disk image")
        return DiskImage(name, "raw", "raw", size, _RawStream(fh, 0, size), stack, _file_data_ranges(path, 0, size))
    if fmt == "vhd":
        return _open_vhd(name, fh, stack, path)
    if fmt == "vhdx":
        return _open_vhdx(name, fh, stack)
    if fmt == "vmdk":
        return _open_vmdk(name, fh, stack, path)
    if fmt == "qcow2":
        return _open_qcow2(name, fh, stack)
    raise DiskFormatError(f"{name}: format {fmt!r} is not a single disk")


# -- OVA -----------------------------------------------------------------------------------------------------
def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def attr(element: ET.Element | None, key: str) -> str | None:
    return element.get(_q(OVF_NS, key)) if element is not None else None


def _capacity(value: str, units: str | None) -> int:
    multiplier = 1
    if units:  # "byte * 2^30"
        text = units.replace(" ", "")
        if "2^" in text:
            multiplier = 2 ** int(text.split("2^", 1)[1])
    return int(value) * multiplier


@dataclass
class OvfDescription:
    files: list[str]  # disk file names (hrefs) in boot order
    capacities: dict[str, int]
    cpus: int | None
    memory_mib: int | None
    vm_name: str | None


def parse_ovf(text: str) -> OvfDescription:
    """The disks (in the order the VM's hardware section attaches them), CPUs and memory of an OVF descriptor."""
    upper = text[:MAX_OVF_BYTES].upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise DiskFormatError("the OVF descriptor declares a DOCTYPE or entities; refused")
    try:
        root = ET.fromstring(text)  # no DTD, no entities (checked above)
    except ET.ParseError as exc:
        raise DiskFormatError(f"the OVF descriptor is not XML: {exc}") from exc
    hrefs = {attr(f, "id"): attr(f, "href") for f in root.iter(_q(OVF_NS, "File"))}
    disks: dict[str, tuple[str, int | None]] = {}
    disk_order: list[str] = []
    for disk in root.iter(_q(OVF_NS, "Disk")):
        disk_id, file_ref = attr(disk, "diskId"), attr(disk, "fileRef")
        if not disk_id or not file_ref or file_ref not in hrefs:
            raise DiskFormatError(f"OVF disk {disk_id!r} names no file in the References section")
        capacity = attr(disk, "capacity")
        disks[disk_id] = (
            str(hrefs[file_ref]),
            _capacity(capacity, attr(disk, "capacityAllocationUnits")) if capacity else None,
        )
        disk_order.append(disk_id)
    cpus = memory = None
    attached: list[tuple[int, int, str]] = []
    controllers: dict[str, int] = {}
    items = list(root.iter(_q(OVF_NS, "Item")))
    for position, item in enumerate(items):
        kind = (item.findtext(_q(RASD_NS, "ResourceType")) or "").strip()
        quantity = (item.findtext(_q(RASD_NS, "VirtualQuantity")) or "").strip()
        instance = (item.findtext(_q(RASD_NS, "InstanceID")) or "").strip()
        if kind in ("5", "6", "20"):  # IDE, SCSI, SATA controllers, in their order of appearance
            controllers[instance] = position
        if kind == "3" and quantity.isdigit():
            cpus = int(quantity)
        elif kind == "4" and quantity.isdigit():
            units = (item.findtext(_q(RASD_NS, "AllocationUnits")) or "byte * 2^20").replace(" ", "")
            memory = int(quantity) * (2 ** int(units.split("2^", 1)[1]) if "2^" in units else 1) // 2**20
        elif kind == "17":
            host = (item.findtext(_q(RASD_NS, "HostResource")) or "").strip()
            disk_id = host.rsplit("/", 1)[-1]
            if disk_id in disks:
                parent = (item.findtext(_q(RASD_NS, "Parent")) or "").strip()
                address = (item.findtext(_q(RASD_NS, "AddressOnParent")) or "0").strip()
                order = controllers.get(parent, len(items))
                attached.append((order, int(address) if address.isdigit() else 0, disk_id))
    ordered = [disk_id for _, _, disk_id in sorted(attached)]
    ordered += [d for d in disk_order if d not in ordered]
    if not ordered:
        raise DiskFormatError("the OVF descriptor names no disk")
    system = next(root.iter(_q(OVF_NS, "VirtualSystem")), None)
    name = (system.findtext(_q(OVF_NS, "Name")) if system is not None else None) or (
        attr(system, "id") if system is not None else None
    )
    return OvfDescription(
        files=[disks[d][0] for d in ordered],
        capacities={disks[d][0]: c for d in ordered if (c := disks[d][1]) is not None},
        cpus=cpus,
        memory_mib=memory,
        vm_name=name,
    )


def _open_ova(path: Path, fh: BinaryIO, stack: ExitStack) -> VmImage:
    fh.seek(0)
    try:
        archive = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by the stack
    except tarfile.TarError as exc:
        raise DiskFormatError(f"{path.name}: not a readable OVA (tar): {exc}") from exc
    stack.callback(archive.close)
    members = {m.name: m for m in archive.getmembers() if m.isfile()}
    ovfs = [name for name in members if name.lower().endswith(".ovf")]
    if len(ovfs) != 1:
        raise DiskFormatError(f"{path.name}: an OVA holds exactly one .ovf descriptor (found {len(ovfs)})")
    member = members[ovfs[0]]
    if member.size > MAX_OVF_BYTES:
        raise DiskFormatError(f"{path.name}: the OVF descriptor is larger than {MAX_OVF_BYTES} bytes")
    extracted = archive.extractfile(member)
    assert extracted is not None
    description = parse_ovf(extracted.read().decode("utf-8", "replace"))
    disks: list[DiskImage] = []
    try:
        for href in description.files:
            clean = str(PurePosixPath(href))
            if clean not in members or clean.startswith(("/", "..")):
                raise DiskFormatError(f"{path.name}: the OVF names disk {href!r}, which the archive does not hold")
            disk_member = members[clean]
            # Uncompressed tar: a member is a byte range of the OVA, read in place.
            window = _RawStream(fh, disk_member.offset_data, disk_member.size)
            member_fh: BinaryIO = io.BufferedReader(_WindowIO(window))
            fmt = detect(member_fh)
            if fmt in ("ova",):
                raise DiskFormatError(f"{path.name}: disk {href!r} is itself an archive")
            disk = _open_disk(f"{path.name}:{clean}", member_fh, ExitStack(), None, fmt)
            expected = description.capacities.get(href)
            if expected is not None and expected != disk.virtual_size:
                raise DiskFormatError(
                    f"{path.name}: the OVF gives disk {href!r} {expected} bytes, the image holds {disk.virtual_size}"
                )
            disks.append(disk)
    except BaseException:
        for disk in disks:
            disk.close()
        raise
    image = VmImage(str(path), disks, description.cpus, description.memory_mib, description.vm_name)
    disks[0]._stack.enter_context(stack.pop_all())  # the archive closes with the boot disk
    return image


class _WindowIO(io.RawIOBase):
    """A ``_RawStream`` as a raw, seekable file object (what the dissect parsers and BufferedReader expect)."""

    def __init__(self, stream: _RawStream) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.pos

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# -- entry point ------------------------------------------------------------------------------------------------
def _open_source(path: Path) -> BinaryIO:
    """A regular file or a block device, checked on the open descriptor. O_NONBLOCK: opening a FIFO would wait for
    a writer forever; a regular file or a block device reads the same with it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise NotFoundError(f"no disk image at {path}") from None
    except OSError as exc:
        raise DiskFormatError(f"cannot open {path}: {exc.strerror}") from exc
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        os.close(fd)
        kind = "directory" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode) else "special file"
        raise DiskFormatError(f"{path} is a {kind}, not a disk image (a regular file or a block device)")
    handle = os.fdopen(fd, "rb")
    handle.raw.name = str(path)  # type: ignore[attr-defined]  # the parsers find a descriptor's extents by name
    return handle


def open_image(path: Path | str) -> VmImage:
    """Open one SOURCE: a disk image of any supported format, or an OVA. Close it (or use ``with``)."""
    path = Path(path)
    stack = ExitStack()
    try:
        fh: BinaryIO = stack.enter_context(_open_source(path))
        fmt = detect(fh)
        if fmt == "ova":
            return _open_ova(path, fh, stack)
        disk = _open_disk(path.name, fh, stack, path, fmt)
        return VmImage(str(path), [disk])
    except BaseException:
        stack.close()
        raise
