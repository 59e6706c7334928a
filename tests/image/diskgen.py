"""Test-only writers of small, spec-conformant VM disk images (no qemu-img): raw, VHD fixed/dynamic, VHDX,
VMDK monolithic sparse / stream-optimized / flat descriptor + extent, QCOW2 v3, and OVA.

Each writer takes a ``Content`` (a virtual size and a few data extents, everything else zero) and writes only
the allocated parts, so a 1 GiB image with a few MiB of data is a few MiB on disk. The layouts follow the
published specifications: Microsoft's VHD (2006) and VHDX (MS-VHDX v1.0) specifications, VMware's "Virtual Disk
Format 5.0", QEMU's docs/interop/qcow2.txt, and DMTF DSP0243 (OVF) for the OVA descriptor.
"""

from __future__ import annotations

import hashlib
import struct
import tarfile
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024


@dataclass
class Content:
    """Logical contents of a disk: ``size`` bytes, zero except ``extents`` (offset -> bytes)."""

    size: int
    extents: dict[int, bytes] = field(default_factory=dict)

    def read(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        out = bytearray(length)
        for start, data in self.extents.items():
            lo, hi = max(start, offset), min(start + len(data), offset + length)
            if lo < hi:
                out[lo - offset : hi - offset] = data[lo - start : hi - start]
        return bytes(out)

    def chunks(self, unit: int) -> Iterator[tuple[int, bytes]]:
        """``(index, unit bytes)`` of every non-zero unit (the last one padded with zeros)."""
        touched = sorted({i for s, d in self.extents.items() for i in range(s // unit, -(-(s + len(d)) // unit))})
        for index in touched:
            data = self.read(index * unit, unit)
            if any(data):
                yield index, data.ljust(unit, b"\0")

    def sha256(self, padded_to: int | None = None) -> str:
        """SHA-256 of the logical bytes (then zeros up to ``padded_to``, e.g. the volume size)."""
        digest = hashlib.sha256()
        step = 8 * MIB
        zeros = bytes(step)
        total = padded_to or self.size
        for offset in range(0, total, step):
            length = min(step, total - offset)
            if any(s < offset + length and s + len(d) > offset for s, d in self.extents.items()):
                digest.update(self.read(offset, length).ljust(length, b"\0"))
            else:
                digest.update(memoryview(zeros)[:length])
        return digest.hexdigest()


def pattern(seed: int, length: int) -> bytes:
    """Deterministic, incompressible-ish bytes."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:length])


def sample(size: int = 5 * MIB + 3 * SECTOR, seed: int = 1) -> Content:
    """A sparse disk: data at the start, across a 512 KiB boundary, an isolated sector, and at the very end."""
    return Content(
        size,
        {
            0: pattern(seed, 70_000),
            MIB - 1000: pattern(seed + 1, 3000),
            3 * MIB + 5 * SECTOR: pattern(seed + 2, SECTOR),
            size - 2 * SECTOR: pattern(seed + 3, 2 * SECTOR),
        },
    )


def _write_sparse(path: Path, size: int, parts: Iterator[tuple[int, bytes]]) -> None:
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset, data in parts:
            fh.seek(offset)
            fh.write(data)


# -- raw ----------------------------------------------------------------------------------------------------
def write_raw(path: Path, content: Content) -> Path:
    _write_sparse(path, content.size, ((i * MIB, d[: content.size - i * MIB]) for i, d in content.chunks(MIB)))
    return path


# -- VHD ----------------------------------------------------------------------------------------------------
def _vhd_checksum(data: bytes) -> int:
    return ~sum(data) & 0xFFFFFFFF


def _chs(size: int) -> int:
    """The VHD specification's CHS geometry algorithm (Appendix: CHS calculation)."""
    sectors = min(size // SECTOR, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = sectors // spt
    else:
        spt = 17
        cth = sectors // spt
        heads = max(4, (cth + 1023) // 1024)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = sectors // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = sectors // spt
    cylinders = cth // heads
    return (cylinders << 16) | (heads << 8) | spt


def vhd_footer(size: int, disk_type: int, data_offset: int) -> bytes:
    fields = struct.pack(
        ">8sIIQI4sI4sQQIII16sB",
        b"conectix", 2, 0x00010000, data_offset, 0, b"svt ", 0x00010000, b"Wi2k",
        size, size, _chs(size), disk_type, 0, uuid.uuid4().bytes, 0,
    )  # fmt: skip
    footer = bytearray(fields.ljust(512, b"\0"))
    struct.pack_into(">I", footer, 64, _vhd_checksum(bytes(footer)))
    return bytes(footer)


def write_vhd_fixed(path: Path, content: Content) -> Path:
    write_raw(path, content)
    with path.open("r+b") as fh:
        fh.seek(content.size)
        fh.write(vhd_footer(content.size, 2, 0xFFFFFFFFFFFFFFFF))
    return path


def write_vhd_dynamic(path: Path, content: Content, block_size: int = 2 * MIB) -> Path:
    assert content.size % SECTOR == 0, "a VHD's size is whole sectors"
    entries = -(-content.size // block_size)
    bat_offset = 512 + 1024
    bat_bytes = -(-entries * 4 // SECTOR) * SECTOR
    bitmap = -(-(block_size // SECTOR // 8) // SECTOR) * SECTOR
    footer = vhd_footer(content.size, 3, 512)
    header = bytearray(
        struct.pack(">8sQQIII", b"cxsparse", 0xFFFFFFFFFFFFFFFF, bat_offset, 0x00010000, entries, block_size).ljust(
            1024, b"\0"
        )
    )
    struct.pack_into(">I", header, 36, _vhd_checksum(bytes(header)))
    bat = [0xFFFFFFFF] * entries
    position = bat_offset + bat_bytes
    blocks: list[tuple[int, bytes]] = []
    for index, data in content.chunks(block_size):
        bat[index] = position // SECTOR
        blocks.append((position, b"\xff" * bitmap + data))
        position += bitmap + block_size
    with path.open("wb") as fh:
        fh.write(footer + bytes(header) + struct.pack(f">{entries}I", *bat).ljust(bat_bytes, b"\xff"))
        for offset, data in blocks:
            fh.seek(offset)
            fh.write(data)
        fh.seek(position)
        fh.write(footer)
    return path


# -- VMDK ---------------------------------------------------------------------------------------------------
GRAIN = 128  # sectors: 64 KiB grains
GTES = 512


def _vmdk_descriptor(content: Content, create_type: str, extent: str) -> str:
    sectors = -(-content.size // SECTOR)
    cylinders = min(65535, sectors // (16 * 63))
    return (
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        f'createType="{create_type}"\n\n# Extent description\n{extent}\n\n# The Disk Data Base\n#DDB\n\n'
        f'ddb.adapterType = "lsilogic"\nddb.geometry.cylinders = "{cylinders}"\nddb.geometry.heads = "16"\n'
        'ddb.geometry.sectors = "63"\nddb.virtualHWVersion = "4"\n'
    )


def _vmdk_header(
    capacity: int, flags: int, gd_offset: int, overhead: int, compress: int, descriptor_sectors: int
) -> bytes:
    return struct.pack(
        "<4sIIQQQQIQQQBccccH",
        b"KDMV", 3 if compress else 1, flags, capacity, GRAIN, 1, descriptor_sectors, GTES, 0, gd_offset, overhead,
        0, b"\n", b" ", b"\r", b"\n", compress,
    ).ljust(SECTOR, b"\0")  # fmt: skip


def write_vmdk_sparse(path: Path, content: Content) -> Path:
    assert content.size % SECTOR == 0
    capacity = content.size // SECTOR
    gd_entries = -(-capacity // (GRAIN * GTES))
    desc = _vmdk_descriptor(content, "monolithicSparse", f'RW {capacity} SPARSE "{path.name}"').encode()
    desc_sectors = 20
    gd_offset = 1 + desc_sectors
    gd_sectors = -(-gd_entries * 4 // SECTOR)
    gt_offset = gd_offset + gd_sectors
    gt_sectors = GTES * 4 // SECTOR
    overhead = -(-(gt_offset + gd_entries * gt_sectors) // GRAIN) * GRAIN
    tables = [[0] * GTES for _ in range(gd_entries)]
    position = overhead
    grains: list[tuple[int, bytes]] = []
    for index, data in content.chunks(GRAIN * SECTOR):
        tables[index // GTES][index % GTES] = position
        grains.append((position * SECTOR, data))
        position += GRAIN
    gd = [gt_offset + i * gt_sectors for i in range(gd_entries)]
    with path.open("wb") as fh:
        fh.write(_vmdk_header(capacity, 0x3, gd_offset, overhead, 0, desc_sectors))
        fh.write(desc.ljust(desc_sectors * SECTOR, b"\0"))
        fh.write(struct.pack(f"<{gd_entries}I", *gd).ljust(gd_sectors * SECTOR, b"\0"))
        for table in tables:
            fh.write(struct.pack(f"<{GTES}I", *table))
        fh.truncate(overhead * SECTOR)
        for offset, data in grains:
            fh.seek(offset)
            fh.write(data)
        fh.truncate(position * SECTOR)
    return path


def _marker(value: int, marker_type: int) -> bytes:
    return struct.pack("<QII", value, 0, marker_type).ljust(SECTOR, b"\0")


def write_vmdk_stream(path: Path, content: Content) -> Path:
    """streamOptimized: deflated grains with their LBA, then grain tables, directory, footer, end-of-stream."""
    assert content.size % SECTOR == 0
    capacity = content.size // SECTOR
    gd_entries = -(-capacity // (GRAIN * GTES))
    desc = _vmdk_descriptor(content, "streamOptimized", f'RW {capacity} SPARSE "{path.name}"').encode()
    desc_sectors = 20
    flags = 0x1 | 0x10000 | 0x20000  # newline detector, compressed grains, markers
    out = bytearray(_vmdk_header(capacity, flags, 0xFFFFFFFFFFFFFFFF, 1 + desc_sectors, 1, desc_sectors))
    out += desc.ljust(desc_sectors * SECTOR, b"\0")
    tables = [[0] * GTES for _ in range(gd_entries)]
    for index, data in content.chunks(GRAIN * SECTOR):
        tables[index // GTES][index % GTES] = len(out) // SECTOR
        packed = zlib.compress(data)
        record = struct.pack("<QI", index * GRAIN, len(packed)) + packed
        out += record.ljust(-(-len(record) // SECTOR) * SECTOR, b"\0")
    gd = []
    for table in tables:
        out += _marker(GTES * 4 // SECTOR, 1)
        gd.append(len(out) // SECTOR)
        out += struct.pack(f"<{GTES}I", *table)
    gd_sectors = -(-gd_entries * 4 // SECTOR)
    out += _marker(gd_sectors, 2)
    gd_offset = len(out) // SECTOR
    out += struct.pack(f"<{gd_entries}I", *gd).ljust(gd_sectors * SECTOR, b"\0")
    out += _marker(1, 3)
    out += _vmdk_header(capacity, flags, gd_offset, 1 + desc_sectors, 1, desc_sectors)
    out += bytes(SECTOR)  # end-of-stream marker
    path.write_bytes(bytes(out))
    return path


def write_vmdk_flat(path: Path, content: Content) -> Path:
    """A text descriptor ``path`` naming a FLAT extent ``<stem>-flat.vmdk`` beside it."""
    assert content.size % SECTOR == 0
    extent = path.with_name(path.stem + "-flat.vmdk")
    write_raw(extent, content)
    capacity = content.size // SECTOR
    path.write_text(_vmdk_descriptor(content, "monolithicFlat", f'RW {capacity} FLAT "{extent.name}" 0'))
    return path


# -- QCOW2 --------------------------------------------------------------------------------------------------
def write_qcow2(path: Path, content: Content, cluster_bits: int = 16) -> Path:
    cluster = 1 << cluster_bits
    l2_entries = cluster // 8
    l1_size = max(1, -(-content.size // (cluster * l2_entries)))
    l1_offset, refcount_table_offset, refcount_block_offset = cluster, 2 * cluster, 3 * cluster
    next_cluster = 4
    l1 = [0] * l1_size
    l2_tables: dict[int, list[int]] = {}
    writes: list[tuple[int, bytes]] = []
    for index, data in content.chunks(cluster):
        l1_index = index // l2_entries
        if l1_index not in l2_tables:
            l2_tables[l1_index] = [0] * l2_entries
            l1[l1_index] = next_cluster * cluster | 1 << 63
            next_cluster += 1
        l2_tables[l1_index][index % l2_entries] = next_cluster * cluster | 1 << 63
        writes.append((next_cluster * cluster, data))
        next_cluster += 1
    assert next_cluster <= cluster // 2, "one refcount block covers this test image"
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQIIB7x",
        b"QFI\xfb", 3, 0, 0, cluster_bits, content.size, 0, l1_size, l1_offset, refcount_table_offset, 1, 0, 0,
        0, 0, 0, 4, 112, 0,
    )  # fmt: skip
    with path.open("wb") as fh:
        fh.write(header + struct.pack(">I I", 0, 0))  # header extensions: end marker
        fh.seek(l1_offset)
        fh.write(struct.pack(f">{l1_size}Q", *l1))
        fh.seek(refcount_table_offset)
        fh.write(struct.pack(">Q", refcount_block_offset))
        fh.seek(refcount_block_offset)
        fh.write(struct.pack(f">{next_cluster}H", *([1] * next_cluster)))
        for l1_index, table in l2_tables.items():
            fh.seek(l1[l1_index] & ~(1 << 63))
            fh.write(struct.pack(f">{l2_entries}Q", *table))
        for offset, data in writes:
            fh.seek(offset)
            fh.write(data)
        fh.truncate(next_cluster * cluster)
    return path


# -- VHDX ---------------------------------------------------------------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _with_crc(data: bytearray, at: int = 4) -> bytes:
    struct.pack_into("<I", data, at, 0)
    struct.pack_into("<I", data, at, crc32c(bytes(data)))
    return bytes(data)


BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")


def write_vhdx(path: Path, content: Content, block_size: int = 2 * MIB) -> Path:
    """Dynamic VHDX: identifier, two headers, two region tables, an empty log, metadata, BAT, payload blocks."""
    assert content.size % SECTOR == 0
    log_offset, metadata_offset, bat_offset = MIB, 2 * MIB, 3 * MIB
    chunk_ratio = (2**23 * SECTOR) // block_size
    blocks = -(-content.size // block_size)
    bat_entries = blocks + (blocks - 1) // chunk_ratio
    bat_length = max(MIB, -(-bat_entries * 8 // MIB) * MIB)
    out = bytearray(bat_offset + bat_length)
    out[0:8] = b"vhdxfile"
    out[8 : 8 + 32] = "skyvault tests".encode("utf-16-le").ljust(32, b"\0")
    for number, at in ((1, 64 * 1024), (2, 128 * 1024)):
        header = bytearray(4096)
        struct.pack_into(
            "<4sIQ16s16s16sHHIQ", header, 0, b"head", 0, number, uuid.uuid4().bytes_le, uuid.uuid4().bytes_le,
            bytes(16), 0, 1, MIB, log_offset,
        )  # fmt: skip
        out[at : at + 4096] = _with_crc(header)
    regions = bytearray(64 * 1024)
    struct.pack_into("<4sII4x", regions, 0, b"regi", 0, 2)
    struct.pack_into("<16sQII", regions, 16, BAT_GUID.bytes_le, bat_offset, bat_length, 1)
    struct.pack_into("<16sQII", regions, 48, METADATA_GUID.bytes_le, metadata_offset, MIB, 1)
    regions_crc = _with_crc(regions)
    out[192 * 1024 : 256 * 1024] = regions_crc
    out[256 * 1024 : 320 * 1024] = regions_crc
    items = [
        (FILE_PARAMETERS, struct.pack("<II", block_size, 0), 0b110),  # is_virtual_disk=0, is_required
        (VIRTUAL_DISK_SIZE, struct.pack("<Q", content.size), 0b110),
        (VIRTUAL_DISK_ID, uuid.uuid4().bytes_le, 0b110),
        (LOGICAL_SECTOR, struct.pack("<I", SECTOR), 0b110),
        (PHYSICAL_SECTOR, struct.pack("<I", 4096), 0b110),
    ]
    items[0] = (FILE_PARAMETERS, items[0][1], 0b100)  # file parameters: required, not a virtual-disk item
    struct.pack_into("<8s2xH20x", out, metadata_offset, b"metadata", len(items))
    data_at = 64 * 1024
    for number, (item, value, flags) in enumerate(items):
        struct.pack_into(
            "<16sIII4x", out, metadata_offset + 32 + 32 * number, item.bytes_le, data_at, len(value), flags
        )
        out[metadata_offset + data_at : metadata_offset + data_at + len(value)] = value
        data_at += 8 if len(value) <= 8 else 16
    position = bat_offset + bat_length
    payload: list[tuple[int, bytes]] = []
    for index, data in content.chunks(block_size):
        entry = index + index // chunk_ratio
        struct.pack_into("<Q", out, bat_offset + entry * 8, 6 | (position // MIB) << 20)  # FULLY_PRESENT
        payload.append((position, data))
        position += block_size
    with path.open("wb") as fh:
        fh.write(out)
        for offset, data in payload:
            fh.seek(offset)
            fh.write(data)
        fh.truncate(position)
    return path


# -- OVA ----------------------------------------------------------------------------------------------------
def ovf_descriptor(disks: list[tuple[str, int]], *, cpus: int = 2, memory_mib: int = 2048, name: str = "vm1") -> str:
    """An OVF 1.0 envelope naming ``(file name, capacity bytes)`` disks, attached in that order to one SCSI
    controller, with the VM's CPU count and memory."""
    references = "".join(f'<File ovf:id="file{i}" ovf:href="{f}"/>' for i, (f, _) in enumerate(disks))
    disk_section = "".join(
        f'<Disk ovf:diskId="vmdisk{i}" ovf:fileRef="file{i}" ovf:capacity="{c}" '
        'ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>'
        for i, (_, c) in enumerate(disks)
    )
    # Items list the disks in reverse: the order comes from AddressOnParent, not from document order.
    drives = "".join(
        f"<Item><rasd:AddressOnParent>{i}</rasd:AddressOnParent><rasd:ElementName>disk{i}</rasd:ElementName>"
        f"<rasd:HostResource>ovf:/disk/vmdisk{i}</rasd:HostResource><rasd:InstanceID>{10 + i}</rasd:InstanceID>"
        "<rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>"
        for i in reversed(range(len(disks)))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" '
        'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">'
        f"<References>{references}</References>"
        f"<DiskSection><Info>Virtual disks</Info>{disk_section}</DiskSection>"
        f'<VirtualSystem ovf:id="{name}"><Info>A VM</Info><Name>{name}</Name>'
        "<VirtualHardwareSection><Info>Hardware</Info>"
        f"<Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:InstanceID>1</rasd:InstanceID>"
        f"<rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity></Item>"
        "<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID>"
        f"<rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>{memory_mib}</rasd:VirtualQuantity></Item>"
        "<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>"
        "<rasd:ResourceType>6</rasd:ResourceType></Item>"
        f"{drives}</VirtualHardwareSection></VirtualSystem></Envelope>\n"
    )


def write_ova(path: Path, contents: list[Content], *, cpus: int = 2, memory_mib: int = 2048) -> Path:
    """An OVA: the .ovf first, then one stream-optimized VMDK per disk (as VMware and VirtualBox export)."""
    work = path.with_suffix(".parts")
    work.mkdir(exist_ok=True)
    names = [f"{path.stem}-disk{i + 1}.vmdk" for i in range(len(contents))]
    files = [write_vmdk_stream(work / name, content) for name, content in zip(names, contents, strict=True)]
    ovf = work / f"{path.stem}.ovf"
    ovf.write_text(ovf_descriptor([(n, c.size) for n, c in zip(names, contents, strict=True)], cpus=cpus,
                                  memory_mib=memory_mib))  # fmt: skip
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(ovf, arcname=ovf.name)
        for file in files:
            tar.add(file, arcname=file.name)
    return path


WRITERS = {
    "raw": write_raw,
    "vhd-fixed": write_vhd_fixed,
    "vhd-dynamic": write_vhd_dynamic,
    "vhdx": write_vhdx,
    "vmdk-sparse": write_vmdk_sparse,
    "vmdk-stream": write_vmdk_stream,
    "vmdk-flat": write_vmdk_flat,
    "qcow2": write_qcow2,
}
SUFFIX = {"raw": ".img", "vhd-fixed": ".vhd", "vhd-dynamic": ".vhd", "vhdx": ".vhdx", "qcow2": ".qcow2"}


def write(kind: str, directory: Path, content: Content, name: str = "disk") -> Path:
    return WRITERS[kind](directory / f"{name}-{kind}{SUFFIX.get(kind, '.vmdk')}", content)
