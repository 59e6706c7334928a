"""Disk formats: each generated image reads back as its source's logical bytes, zero blocks are never yielded,
and broken or unsupported images fail with a DiskFormatError naming the file."""

from __future__ import annotations

import struct
import tarfile
from pathlib import Path

import pytest

from image.diskgen import MIB, WRITERS, Content, pattern, sample, write, write_ova, write_vmdk_flat
from skyvault.errors import NotFoundError
from skyvault.library.diskformats import BLOCK_SIZE, DiskFormatError, open_image, parse_ovf

EXPECTED = {
    "raw": ("raw", "raw"),
    "vhd-fixed": ("vhd", "fixed"),
    "vhd-dynamic": ("vhd", "dynamic"),
    "vhdx": ("vhdx", "dynamic"),
    "vmdk-sparse": ("vmdk", "sparse"),
    "vmdk-stream": ("vmdk", "stream-optimized"),
    "vmdk-flat": ("vmdk", "flat-descriptor"),
    "qcow2": ("qcow2", "v3"),
}


def _logical(content: Content) -> dict[int, bytes]:
    return dict(content.chunks(BLOCK_SIZE))


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_each_format_reads_back_the_source_bytes(kind: str, tmp_path: Path) -> None:
    content = sample()
    path = write(kind, tmp_path, content)
    with open_image(path) as image:
        [disk] = image.disks
        assert (disk.format, disk.variant) == EXPECTED[kind]
        assert disk.virtual_size == content.size
        assert disk.volume_size_gib == 1
        blocks = dict(disk.blocks())
        assert blocks == _logical(content)  # the non-zero blocks exactly, none of the zero ones
        assert len(blocks) < disk.block_count  # sparse: some blocks were skipped
        assert disk.read(0, content.size) == content.read(0, content.size)


@pytest.mark.parametrize("kind", ["vhd-dynamic", "vmdk-sparse", "vmdk-stream", "qcow2", "vhdx"])
def test_sparse_images_take_little_space_and_unallocated_blocks_are_not_read(kind: str, tmp_path: Path) -> None:
    content = Content(64 * 1024 * MIB, {200 * MIB: pattern(7, 3 * MIB), 40_000 * MIB + 4096: pattern(8, 5000)})
    path = write(kind, tmp_path, content)
    assert path.stat().st_size < 16 * MIB
    with open_image(path) as image:
        disk = image.disks[0]
        assert disk.virtual_size == 64 * 1024 * MIB
        # Only blocks the allocation table maps are read (VHD/VHDX map 2 MiB blocks: 4 of ours each).
        candidates = list(disk.candidate_blocks())
        assert len(candidates) <= 16 and candidates == sorted(set(candidates))
        blocks = dict(disk.blocks())
    assert blocks == _logical(content)


def test_raw_holes_are_skipped_where_the_file_system_reports_them(tmp_path: Path) -> None:
    content = Content(8 * 1024 * MIB, {0: pattern(3, 4096), 5000 * MIB: pattern(4, MIB)})
    path = write("raw", tmp_path, content)
    with open_image(path) as image:
        disk = image.disks[0]
        assert dict(disk.blocks()) == _logical(content)
        # tmpfs, ext4, xfs and btrfs report holes; a file system that cannot makes every block a candidate.
        assert len(list(disk.candidate_blocks())) in (4, disk.block_count)


def test_ova_lists_disks_in_attachment_order_with_cpu_and_memory(tmp_path: Path) -> None:
    boot, data = sample(seed=1), sample(size=2 * MIB, seed=9)
    path = write_ova(tmp_path / "vm.ova", [boot, data], cpus=4, memory_mib=3072)
    with open_image(path) as image:
        assert (image.cpus, image.memory_mib, image.vm_name) == (4, 3072, "vm1")
        assert [d.name for d in image.disks] == ["vm.ova:vm-disk1.vmdk", "vm.ova:vm-disk2.vmdk"]
        assert [d.variant for d in image.disks] == ["stream-optimized", "stream-optimized"]
        assert dict(image.disks[0].blocks()) == _logical(boot)
        assert dict(image.disks[1].blocks()) == _logical(data)


def test_ovf_with_entities_is_refused() -> None:
    hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Envelope>&a;</Envelope>'
    with pytest.raises(DiskFormatError, match="DOCTYPE"):
        parse_ovf(hostile)


def test_ova_naming_a_missing_disk_is_refused(tmp_path: Path) -> None:
    path = write_ova(tmp_path / "vm.ova", [sample()])
    broken = tmp_path / "broken.ova"
    with tarfile.open(path) as src, tarfile.open(broken, "w", format=tarfile.USTAR_FORMAT) as dst:
        ovf = next(m for m in src.getmembers() if m.name.endswith(".ovf"))
        dst.addfile(ovf, src.extractfile(ovf))
    with pytest.raises(DiskFormatError, match="does not hold"):
        open_image(broken)


def test_truncated_fixed_vhd_and_qcow2_fail_clearly(tmp_path: Path) -> None:
    vhd = write("vhd-fixed", tmp_path, sample())
    data = vhd.read_bytes()
    vhd.write_bytes(data[: 2 * MIB] + data[-512:])
    with pytest.raises(DiskFormatError, match="truncated fixed VHD"):
        open_image(vhd)
    qcow = write("qcow2", tmp_path, sample())
    qcow.write_bytes(qcow.read_bytes()[: 200 * 1024])
    with pytest.raises(DiskFormatError, match=r"truncated|not a readable|cannot read"), open_image(qcow) as image:
        list(image.disks[0].blocks())


def test_bad_qcow2_header_is_a_format_error(tmp_path: Path) -> None:
    path = write("qcow2", tmp_path, sample())
    data = bytearray(path.read_bytes())
    struct.pack_into(">I", data, 20, 40)  # cluster_bits 40
    path.write_bytes(bytes(data))
    with pytest.raises(DiskFormatError, match="QCOW2"):
        open_image(path)


def test_vmdk_descriptor_cannot_reach_outside_its_folder(tmp_path: Path) -> None:
    path = write_vmdk_flat(tmp_path / "disk.vmdk", sample())
    text = path.read_text().replace('"disk-flat.vmdk"', '"../etc/passwd"')
    path.write_text(text)
    with pytest.raises(DiskFormatError, match="only a file beside"):
        open_image(path)
    path.write_text(text.replace('"../etc/passwd"', '"absent-flat.vmdk"'))
    with pytest.raises(NotFoundError, match=r"absent-flat\.vmdk"):
        open_image(path)


def test_missing_empty_and_special_sources(tmp_path: Path) -> None:
    import os

    with pytest.raises(NotFoundError):
        open_image(tmp_path / "nothing.img")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DiskFormatError, match="FIFO"):  # refused at once, not waiting for a writer
        open_image(tmp_path / "fifo")
    with pytest.raises(DiskFormatError, match="directory"):
        open_image(tmp_path)
    (tmp_path / "empty.img").write_bytes(b"")
    with pytest.raises(DiskFormatError, match="empty"):
        open_image(tmp_path / "empty.img")


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_corrupted_headers_fail_as_format_errors_never_crash(kind: str, tmp_path: Path) -> None:
    """Random bytes over the metadata of each format: the image either still reads, or fails with a skyvault
    error naming it (exit codes, no traceback), never another exception."""
    import random

    from skyvault.errors import SkyvaultError

    original = write(kind, tmp_path, sample(size=3 * MIB, seed=2))
    target = original if kind != "vmdk-flat" else original.with_name(original.stem + "-flat.vmdk")
    pristine = target.read_bytes()
    rng = random.Random(kind)
    metadata = min(len(pristine), 4 * 1024 * 1024 if kind == "vhdx" else 64 * 1024)
    for _ in range(30):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 12)):
            where = rng.randrange(metadata) if rng.random() < 0.8 else rng.randrange(len(data) - 512, len(data))
            data[where] = rng.randrange(256)
        target.write_bytes(bytes(data))
        try:
            with open_image(original) as image:
                for disk in image.disks:
                    for _block in disk.blocks():
                        pass
        except SkyvaultError:
            pass


def test_a_disk_larger_than_an_ebs_volume_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    from typing import cast

    from skyvault.catalog import Catalog
    from skyvault.errors import PreflightError
    from skyvault.services.image.convert import inspect_sources

    huge = write("qcow2", tmp_path, Content(17 * 1024**4, {0: pattern(1, 4096)}), name="huge")  # 17 TiB virtual
    with pytest.raises(PreflightError, match="16384 GiB"):
        inspect_sources([{"path": str(huge)}], cast(Catalog, None), lambda _name: None)  # type: ignore[arg-type]
