"""Model: EBS volumes carry blocks; snapshots freeze them; EBS direct APIs read and write them like AWS.

These tests fail if a moto upgrade changes the internals the model patches (moto is pinned to 5.2.1).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import CliResult, LabEnv
from skyvault.lab.blockdata import BLOCK_SIZE, BLOCKS_PER_GIB, guest_block
from skyvault.lab.control import checksum, write_blocks
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]


def _volume(ec2: Any, size: int = 1, zone: str = "us-east-1a") -> str:
    return str(ec2.create_volume(Size=size, AvailabilityZone=zone)["VolumeId"])


def _all_blocks(ebs: Any, snapshot_id: str, **params: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    token = None
    while True:
        page = ebs.list_snapshot_blocks(SnapshotId=snapshot_id, **params, **({"NextToken": token} if token else {}))
        blocks += page["Blocks"]
        token = page.get("NextToken")
        if not token:
            return blocks


def _contents(ebs: Any, snapshot_id: str) -> dict[int, bytes]:
    """Every written block of a snapshot, read back through the EBS direct APIs."""
    return {
        b["BlockIndex"]: ebs.get_snapshot_block(
            SnapshotId=snapshot_id, BlockIndex=b["BlockIndex"], BlockToken=b["BlockToken"]
        )["BlockData"].read()
        for b in _all_blocks(ebs, snapshot_id)
    }


def _image_sha256(size_gib: int, blocks: dict[int, bytes]) -> str:
    digest = hashlib.sha256()
    zero = bytes(BLOCK_SIZE)
    for index in range(size_gib * BLOCKS_PER_GIB):
        digest.update(blocks.get(index, zero))
    return digest.hexdigest()


def test_snapshot_of_written_volume_reads_back_exactly(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    volume = _volume(ec2, size=2)
    written = write_blocks(lab_env.lab, volume, 5, seed=7, compressible=0.5)
    assert len(written.indices) == 5 and all(0 <= i < 2 * BLOCKS_PER_GIB for i in written.indices)
    assert max(written.indices) >= BLOCKS_PER_GIB or min(written.indices) < BLOCKS_PER_GIB
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"

    listing = ebs.list_snapshot_blocks(SnapshotId=snapshot)
    assert listing["BlockSize"] == 524288
    assert listing["VolumeSize"] == 2
    assert "NextToken" not in listing
    assert [b["BlockIndex"] for b in listing["Blocks"]] == written.indices
    for block in listing["Blocks"]:
        index = block["BlockIndex"]
        got = ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=index, BlockToken=block["BlockToken"])
        data = got["BlockData"].read()
        assert data == guest_block(7, index, 0.5)
        assert hashlib.sha256(data).hexdigest() == written.sha256[index]
        assert got["Checksum"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert got["ChecksumAlgorithm"] == "SHA256"
        assert got["DataLength"] == BLOCK_SIZE


def test_get_snapshot_block_checks_the_block_token(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    volume = _volume(ec2)
    write_blocks(lab_env.lab, volume, 1, indices=[3])
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    with pytest.raises(ClientError) as caught:
        ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=3, BlockToken="AAAAforgedtokenAAAA")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response.get("Reason") == "INVALID_BLOCK_TOKEN"
    with pytest.raises(ClientError) as missing:
        ebs.list_snapshot_blocks(SnapshotId="snap-0123456789abcdef0")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_changed_blocks_lists_exactly_the_changes(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    volume = _volume(ec2)
    write_blocks(lab_env.lab, volume, 4, seed=1, indices=[1, 5, 9, 30])
    first = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    write_blocks(lab_env.lab, volume, 2, seed=2, indices=[5, 20])  # overwrite 5, add 20
    write_blocks(lab_env.lab, volume, 1, indices=[9], zero=True)  # discard 9
    write_blocks(lab_env.lab, volume, 1, seed=1, indices=[30])  # same bytes again: not a change
    second = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]

    changed = ebs.list_changed_blocks(FirstSnapshotId=first, SecondSnapshotId=second)
    assert changed["BlockSize"] == 524288 and changed["VolumeSize"] == 1
    by_index = {b["BlockIndex"]: b for b in changed["ChangedBlocks"]}
    assert sorted(by_index) == [5, 9, 20]
    assert {"FirstBlockToken", "SecondBlockToken"} <= set(by_index[5])
    assert "SecondBlockToken" not in by_index[9] and "FirstBlockToken" in by_index[9]
    assert "FirstBlockToken" not in by_index[20] and "SecondBlockToken" in by_index[20]
    data = ebs.get_snapshot_block(SnapshotId=second, BlockIndex=5, BlockToken=by_index[5]["SecondBlockToken"])
    assert data["BlockData"].read() == guest_block(2, 5)
    old = ebs.get_snapshot_block(SnapshotId=first, BlockIndex=5, BlockToken=by_index[5]["FirstBlockToken"])
    assert old["BlockData"].read() == guest_block(1, 5)

    # Without a first snapshot: every block of the second.
    everything = ebs.list_changed_blocks(SecondSnapshotId=second)["ChangedBlocks"]
    assert [b["BlockIndex"] for b in everything] == [1, 5, 20, 30]

    other = ec2.create_snapshot(VolumeId=_volume(ec2))["SnapshotId"]
    with pytest.raises(ClientError) as unrelated:
        ebs.list_changed_blocks(FirstSnapshotId=first, SecondSnapshotId=other)
    assert unrelated.value.response.get("Reason") == "UNRELATED_SNAPSHOTS"


def test_pagination_max_results_next_token_and_starting_index(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    volume = _volume(ec2)
    written = write_blocks(lab_env.lab, volume, 250, seed=3)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]

    first = ebs.list_snapshot_blocks(SnapshotId=snapshot, MaxResults=100)
    assert len(first["Blocks"]) == 100 and first["NextToken"]
    pages = [first]
    while "NextToken" in pages[-1]:
        pages.append(ebs.list_snapshot_blocks(SnapshotId=snapshot, MaxResults=100, NextToken=pages[-1]["NextToken"]))
    assert [len(p["Blocks"]) for p in pages] == [100, 100, 50]
    assert [b["BlockIndex"] for p in pages for b in p["Blocks"]] == written.indices

    start = written.indices[200]
    tail = _all_blocks(ebs, snapshot, MaxResults=100, StartingBlockIndex=start)
    assert [b["BlockIndex"] for b in tail] == written.indices[200:]

    paginator_indices = (
        [
            b["BlockIndex"]
            for page in ebs.get_paginator("list_changed_blocks").paginate(
                SecondSnapshotId=snapshot, PaginationConfig={"PageSize": 100}
            )
            for b in page["ChangedBlocks"]
        ]
        if ebs.can_paginate("list_changed_blocks")
        else written.indices
    )
    assert paginator_indices == written.indices

    with pytest.raises(ClientError) as bad_token:
        ebs.list_snapshot_blocks(SnapshotId=snapshot, MaxResults=100, NextToken="bm90LWEtdG9rZW4=")
    assert bad_token.value.response.get("Reason") == "INVALID_PAGE_TOKEN"


def test_volume_from_snapshot_has_the_same_contents_and_copy_on_write(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    volume = _volume(ec2)
    write_blocks(lab_env.lab, volume, 20, seed=11)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    snap_sum = checksum(lab_env.lab, snapshot).sha256

    restored = ec2.create_volume(SnapshotId=snapshot, AvailabilityZone="us-east-1b")["VolumeId"]
    assert checksum(lab_env.lab, restored).sha256 == snap_sum
    bigger = ec2.create_volume(SnapshotId=snapshot, Size=2, AvailabilityZone="us-east-1b")["VolumeId"]
    assert raw("ec2").describe_volumes(VolumeIds=[bigger])["Volumes"][0]["Size"] == 2

    write_blocks(lab_env.lab, restored, 3, seed=12)  # the guest of the restored volume writes
    write_blocks(lab_env.lab, volume, 3, seed=13)  # and so does the original
    assert checksum(lab_env.lab, snapshot).sha256 == snap_sum  # the snapshot never changes
    assert checksum(lab_env.lab, restored).sha256 != snap_sum


def test_create_snapshots_freezes_every_volume_of_an_instance(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    mappings = [
        {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": False}},
    ]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, BlockDeviceMappings=mappings)[
        "Instances"
    ][0]["InstanceId"]
    attached = {
        m["DeviceName"]: m["Ebs"]["VolumeId"]
        for m in ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
            "BlockDeviceMappings"
        ]
    }
    assert set(attached) == {"/dev/sda1", "/dev/sdf"}
    for seed, volume in enumerate(attached.values(), start=20):
        write_blocks(lab_env.lab, volume, 8, seed=seed)
    sums = {volume: checksum(lab_env.lab, volume).sha256 for volume in attached.values()}

    snapshots = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance}, Description="crash-consistent")[
        "Snapshots"
    ]
    assert sorted(s["VolumeId"] for s in snapshots) == sorted(attached.values())
    for snap in snapshots:
        assert checksum(lab_env.lab, snap["SnapshotId"]).sha256 == sums[snap["VolumeId"]]

    data_only = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance, "ExcludeBootVolume": True})
    assert [s["VolumeId"] for s in data_only["Snapshots"]] == [attached["/dev/sdf"]]


def _put(ebs: Any, snapshot_id: str, index: int, data: bytes, checksum_b64: str | None = None) -> None:
    ebs.put_snapshot_block(
        SnapshotId=snapshot_id,
        BlockIndex=index,
        BlockData=data,
        DataLength=len(data),
        Checksum=checksum_b64 or base64.b64encode(hashlib.sha256(data).digest()).decode(),
        ChecksumAlgorithm="SHA256",
    )


def test_start_put_complete_snapshot_is_a_usable_ec2_snapshot(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    started = ebs.start_snapshot(
        VolumeSize=1, Description="restore", Tags=[{"Key": "skyvault:managed", "Value": "true"}]
    )
    snapshot = started["SnapshotId"]
    assert started["Status"] == "pending" and started["BlockSize"] == 524288 and started["VolumeSize"] == 1
    described = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]
    assert described["State"] == "pending"
    assert described["VolumeId"] == "vol-ffffffff"
    assert {"Key": "skyvault:managed", "Value": "true"} in described["Tags"]
    assert not [v for v in ec2.describe_volumes()["Volumes"] if v["Size"] == 1]  # no phantom volume

    blocks = {index: guest_block(40, index) for index in (0, 7, 2047)}
    for index, data in blocks.items():
        _put(ebs, snapshot, index, data)
    with pytest.raises(ClientError) as bad_checksum:
        _put(ebs, snapshot, 8, guest_block(40, 8), checksum_b64=base64.b64encode(b"x" * 32).decode())
    assert bad_checksum.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as pending_read:
        ebs.list_snapshot_blocks(SnapshotId=snapshot)
    assert pending_read.value.response["Error"]["Code"] == "ValidationException"

    linear = base64.b64encode(
        hashlib.sha256(b"".join(hashlib.sha256(blocks[i]).digest() for i in sorted(blocks))).digest()
    ).decode()
    done = ebs.complete_snapshot(
        SnapshotId=snapshot,
        ChangedBlocksCount=3,
        Checksum=linear,
        ChecksumAlgorithm="SHA256",
        ChecksumAggregationMethod="LINEAR",
    )
    assert done["Status"] == "completed"
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"
    assert [b["BlockIndex"] for b in _all_blocks(ebs, snapshot)] == [0, 7, 2047]

    volume = ec2.create_volume(SnapshotId=snapshot, AvailabilityZone="us-east-1a")["VolumeId"]
    assert _contents(ebs, ec2.create_snapshot(VolumeId=volume)["SnapshotId"]) == blocks

    # A child on this parent: inherits its blocks, changes one; ListChangedBlocks sees exactly that one.
    child = ebs.start_snapshot(VolumeSize=1, ParentSnapshotId=snapshot)["SnapshotId"]
    _put(ebs, child, 7, guest_block(41, 7))
    assert ebs.complete_snapshot(SnapshotId=child, ChangedBlocksCount=1)["Status"] == "completed"
    assert _contents(ebs, child) == {**blocks, 7: guest_block(41, 7)}
    changed = ebs.list_changed_blocks(FirstSnapshotId=snapshot, SecondSnapshotId=child)["ChangedBlocks"]
    assert [b["BlockIndex"] for b in changed] == [7]


def test_complete_snapshot_with_missing_blocks_fails_the_snapshot(lab_env: LabEnv, raw: Raw) -> None:
    ec2, ebs = raw("ec2"), raw("ebs")
    snapshot = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    _put(ebs, snapshot, 1, guest_block(50, 1))
    assert ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=2)["Status"] == "error"
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "error"
    with pytest.raises(ClientError) as unreadable:
        ebs.list_snapshot_blocks(SnapshotId=snapshot)
    assert unreadable.value.response.get("Reason") == "INVALID_SNAPSHOT_ID"
    with pytest.raises(ClientError) as no_volume:
        ec2.create_volume(SnapshotId=snapshot, AvailabilityZone="us-east-1a")
    assert no_volume.value.response["Error"]["Code"] == "IncorrectState"


def test_copy_snapshot_across_regions_and_from_a_shared_snapshot(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    volume = _volume(ec2)
    write_blocks(lab_env.lab, volume, 6, seed=60)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    expected = checksum(lab_env.lab, snapshot).sha256

    eu = raw("ec2", region="eu-west-1")
    copied = eu.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion="us-east-1")["SnapshotId"]
    assert checksum(lab_env.lab, copied, region="eu-west-1").sha256 == expected

    tenant_id = TENANT_ACCOUNT_IDS["tenant-a"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", UserIds=[tenant_id]
    )
    tenant = raw("ec2", account="tenant-a")
    own = tenant.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion="us-east-1")["SnapshotId"]
    assert checksum(lab_env.lab, own, account_id=tenant_id).sha256 == expected
    direct = tenant.create_volume(SnapshotId=snapshot, AvailabilityZone="us-east-1a")["VolumeId"]
    assert checksum(lab_env.lab, direct, account_id=tenant_id).sha256 == expected

    not_shared = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    with pytest.raises(ClientError):
        tenant.copy_snapshot(SourceSnapshotId=not_shared, SourceRegion="us-east-1")


def test_write_blocks_and_checksum_through_the_cli(lab_env: LabEnv, raw: Raw, cli: Callable[..., CliResult]) -> None:
    volume = _volume(raw("ec2"))
    wrote = cli("--json", "lab", "write-blocks", volume, "--count", "4", "--seed", "9")
    assert wrote.exit_code == 0, wrote.stderr
    indices = wrote.json()["indices"]
    assert len(indices) == 4
    summed = cli("lab", "checksum", volume)
    assert summed.exit_code == 0, summed.stderr
    expected = _image_sha256(1, {i: guest_block(9, i) for i in indices})
    assert summed.stdout.split() == [expected, volume]
    discard = cli("--json", "lab", "write-blocks", volume, "--count", "1", "--index", str(indices[0]), "--zero")
    assert discard.exit_code == 0, discard.stderr
    assert cli("--json", "lab", "checksum", volume).json()["blocks_present"] == 3
    mismatch = cli("lab", "write-blocks", volume, "--count", "2", "--index", "1")
    assert mismatch.exit_code == 15 and "--index" in mismatch.stderr
    missing = cli("lab", "checksum", "vol-0000000000000dead")
    assert missing.exit_code == 4, missing.stderr  # NotFoundError


def test_snapshots_encrypted_with_the_aws_managed_key_cannot_be_shared(lab_env: LabEnv, raw: Raw) -> None:
    ec2, kms = raw("ec2"), raw("kms")
    tenant_id = TENANT_ACCOUNT_IDS["tenant-b"]
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=True)["VolumeId"]
    write_blocks(lab_env.lab, volume, 2, seed=70)
    managed = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    with pytest.raises(ClientError) as refused:
        ec2.modify_snapshot_attribute(
            SnapshotId=managed, Attribute="createVolumePermission", OperationType="add", UserIds=[tenant_id]
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"

    key = kms.create_key(Description="skyvault copies")["KeyMetadata"]["Arn"]
    recrypted = ec2.copy_snapshot(SourceSnapshotId=managed, SourceRegion="us-east-1", Encrypted=True, KmsKeyId=key)
    ec2.modify_snapshot_attribute(
        SnapshotId=recrypted["SnapshotId"], Attribute="createVolumePermission", OperationType="add", UserIds=[tenant_id]
    )
    tenant_copy = raw("ec2", account="tenant-b").copy_snapshot(
        SourceSnapshotId=recrypted["SnapshotId"], SourceRegion="us-east-1"
    )["SnapshotId"]
    assert checksum(lab_env.lab, tenant_copy, account_id=tenant_id).sha256 == checksum(lab_env.lab, managed).sha256


def test_quirks_empty_first_pages_and_throttling_are_opt_in(lab_env: LabEnv, raw: Raw) -> None:
    from botocore.config import Config

    from skyvault.lab.control import reset_lab, set_quirks

    ec2 = raw("ec2")
    endpoint = lab_env.lab.endpoint
    volume = _volume(ec2)
    written = write_blocks(lab_env.lab, volume, 3, seed=80)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    no_retries = (
        lab_env.factory()
        .session("admin")
        .client("ebs", region_name="us-east-1", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1}))
    )

    assert set_quirks(lab_env.lab, empty_first_page=True) == {"empty_first_page": True, "throttle_every": 0}
    first = no_retries.list_snapshot_blocks(SnapshotId=snapshot)
    assert first["Blocks"] == [] and first["NextToken"]
    assert [b["BlockIndex"] for b in _all_blocks(no_retries, snapshot)] == written.indices
    changed_first = no_retries.list_changed_blocks(SecondSnapshotId=snapshot)
    assert changed_first["ChangedBlocks"] == [] and changed_first["NextToken"]

    set_quirks(lab_env.lab, empty_first_page=False, throttle_every=2)
    no_retries.list_snapshot_blocks(SnapshotId=snapshot)
    with pytest.raises(ClientError) as throttled:
        no_retries.list_snapshot_blocks(SnapshotId=snapshot)
    assert throttled.value.response["Error"]["Code"] == "RequestThrottledException"
    standard = (
        lab_env.factory()
        .session("admin")
        .client("ebs", region_name="us-east-1", endpoint_url=endpoint, config=Config(retries={"mode": "standard"}))
    )
    assert len(_contents(standard, snapshot)) == 3  # botocore's retries get through every other refusal

    reset_lab(lab_env.lab)  # a reset turns the quirks off
    fresh = lab_env.factory().session("admin").client("ebs", region_name="us-east-1", endpoint_url=endpoint)
    with pytest.raises(ClientError) as gone:
        fresh.list_snapshot_blocks(SnapshotId=snapshot)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_snapshots_shows_own_shared_and_public_snapshots_like_aws(lab_env: LabEnv, raw: Raw) -> None:
    ec2, tenant = raw("ec2"), raw("ec2", account="tenant-a")
    tenant_id = TENANT_ACCOUNT_IDS["tenant-a"]
    volume = _volume(ec2)
    private = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    shared = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=shared, Attribute="createVolumePermission", OperationType="add", UserIds=[tenant_id]
    )
    own_tenant = tenant.create_snapshot(VolumeId=_volume(tenant))["SnapshotId"]

    # moto's preloaded public AMIs come with snapshots owned by Amazon: AWS never lists those as yours.
    assert sorted(s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == sorted(
        [private, shared]
    )
    assert sorted(s["SnapshotId"] for s in tenant.describe_snapshots()["Snapshots"]) == sorted([shared, own_tenant])
    from_admin = tenant.describe_snapshots(OwnerIds=[lab_env.lab.admin_account_id])["Snapshots"]
    assert [s["SnapshotId"] for s in from_admin] == [shared]
    restorable = ec2.describe_snapshots(OwnerIds=["self"], RestorableByUserIds=[tenant_id])["Snapshots"]
    assert [s["SnapshotId"] for s in restorable] == [shared]
    with pytest.raises(ClientError) as hidden:
        tenant.describe_snapshots(SnapshotIds=[private])
    assert hidden.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
