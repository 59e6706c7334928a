"""The lab keeps EBS block data on disk, not in its heap, and frees it when volumes and snapshots are deleted."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.lab.blockdata import BLOCK_SIZE, guest_block
from skyvault.lab.blockstore import BlockStore
from skyvault.lab.control import reset_lab, write_blocks
from skyvault.lab.labconfig import LabInfo, blocks_path

Raw = Callable[..., Any]


def _stored(lab: LabInfo) -> tuple[int, int]:
    """(files, bytes) in the lab's block store."""
    files = [p for p in blocks_path(Path(lab.state_dir)).rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_store_keeps_one_file_per_content_and_sweeps_what_is_not_live(tmp_path: Path) -> None:
    store = BlockStore(tmp_path / "blocks")
    a, b = guest_block(1, 0), guest_block(1, 1)
    digest_a, digest_b = store.put(a), store.put(b)
    assert store.put(a) == digest_a == hashlib.sha256(a).digest()
    assert len(store) == 2 and store.get(digest_b) == b
    assert store.sweep({digest_b}) == 1
    assert digest_a not in store and len(list((tmp_path / "blocks").rglob("*" + digest_a.hex()))) == 0
    with pytest.raises(KeyError):
        store.get(digest_a)
    assert BlockStore(tmp_path / "blocks").sweep(set()) == 0  # a new store starts empty


@pytest.mark.lab
def test_deleting_volumes_and_snapshots_frees_their_blocks(lab_env: LabEnv, raw: Raw) -> None:
    lab = lab_env.lab
    assert _stored(lab) == (0, 0)  # the reset freed everything earlier tests wrote
    ec2 = raw("ec2")
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab, volume, 10, seed=21)
    assert _stored(lab) == (10, 10 * BLOCK_SIZE)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    restored = ec2.create_volume(SnapshotId=snapshot, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab, restored, 2, seed=22, indices=[1000, 1001])
    assert _stored(lab)[0] == 12  # the snapshot and the restored volume share the first 10

    ec2.delete_volume(VolumeId=volume)
    assert _stored(lab)[0] == 12  # the snapshot still holds them
    ec2.delete_snapshot(SnapshotId=snapshot)
    assert _stored(lab)[0] == 12  # and so does the volume restored from it
    ec2.delete_volume(VolumeId=restored)
    assert _stored(lab) == (0, 0)

    # A snapshot written through the EBS direct APIs (what a library restore does), then deleted.
    ebs = raw("ebs")
    started = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    for index in range(3):
        data = guest_block(23, index)
        ebs.put_snapshot_block(
            SnapshotId=started,
            BlockIndex=index,
            BlockData=data,
            DataLength=BLOCK_SIZE,
            Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
            ChecksumAlgorithm="SHA256",
        )
    ebs.complete_snapshot(SnapshotId=started, ChangedBlocksCount=3)
    assert _stored(lab)[0] == 3
    ec2.delete_snapshot(SnapshotId=started)
    assert _stored(lab) == (0, 0)

    kept = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab, kept, 4, seed=24)
    reset_lab(lab)  # moto's reset drops every volume: the store follows
    assert _stored(lab) == (0, 0)


@pytest.mark.lab
def test_lab_memory_does_not_grow_with_the_data_written(lab_env: LabEnv, raw: Raw) -> None:
    lab = lab_env.lab
    volume = raw("ec2").create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab, volume, 32, seed=31)  # warm the allocator with a request of the same shape
    before = _rss_bytes(lab.pid)
    for batch in range(4):
        write_blocks(lab, volume, 64, seed=32 + batch, indices=list(range(100 + batch * 64, 164 + batch * 64)))
    written = 4 * 64 * BLOCK_SIZE  # 128 MiB
    grown = _rss_bytes(lab.pid) - before
    assert grown < written // 4, f"the lab grew {grown / 2**20:.0f} MiB for {written / 2**20:.0f} MiB written"
    assert _stored(lab)[1] >= written
