"""The lab's VM Import model (ImportImage/ImportSnapshot/Describe*/CancelImportTask): the role check, the formats
AWS accepts and refuses with AWS's messages, asynchronous status with progress, snapshots holding the image's
logical bytes, an AMI that launches with them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from image.diskgen import MIB, sample, write, write_ova
from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError
from skyvault.lab import control
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID
from skyvault.permissions.trust import vmimport_policies

GIB = 1024 * MIB
BUCKET = "vmimport-lab-test"
REGION = "us-east-1"


def _clients(env: LabEnv) -> tuple[Any, Any, Any]:
    factory = ClientFactory(env.config, base_dir=env.config_path.parent, strict_guard=False)  # raw test calls
    return (factory.client("admin", REGION, "ec2"), factory.client("admin", REGION, "s3"),
            factory.client("admin", REGION, "iam"))  # fmt: skip


def _role(iam: Any, bucket: str = BUCKET) -> None:
    rendered = vmimport_policies(bucket)
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(rendered["trust_policy"]))
    iam.put_role_policy(RoleName="vmimport", PolicyName="vmimport", PolicyDocument=json.dumps(rendered["policy"]))


def _upload(s3: Any, path: Path, key: str) -> dict[str, Any]:
    s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    return {"S3Bucket": BUCKET, "S3Key": key}


def _wait(ec2: Any, task_id: str, kind: str = "image") -> tuple[dict[str, Any], list[str]]:
    seen: list[str] = []
    for _ in range(400):
        if kind == "image":
            task = ec2.describe_import_image_tasks(ImportTaskIds=[task_id])["ImportImageTasks"][0]
            status, message = task["Status"], task.get("StatusMessage", "")
        else:
            task = ec2.describe_import_snapshot_tasks(ImportTaskIds=[task_id])["ImportSnapshotTasks"][0]
            status, message = task["SnapshotTaskDetail"]["Status"], task["SnapshotTaskDetail"].get("StatusMessage", "")
        if status == "active" and (not seen or seen[-1] != message):
            seen.append(message)
        if status != "active":
            return dict(task), seen
        time.sleep(0.02)
    raise AssertionError(f"{task_id} still active: {seen}")


@pytest.fixture
def clients(lab_env: LabEnv) -> tuple[Any, Any, Any]:
    ec2, s3, iam = _clients(lab_env)
    s3.create_bucket(Bucket=BUCKET)
    return ec2, s3, iam


def test_import_image_of_two_disks_registers_an_ami_whose_volumes_hold_the_bytes(
    lab_env: LabEnv, clients: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    ec2, s3, iam = clients
    _role(iam)
    boot, data = sample(seed=1), sample(seed=2, size=3 * MIB)
    containers = [
        {"Format": "VHD", "UserBucket": _upload(s3, write("vhd-dynamic", tmp_path, boot), "boot.vhd")},
        {"Format": "RAW", "UserBucket": _upload(s3, write("raw", tmp_path, data), "data.img")},
    ]
    started = ec2.import_image(DiskContainers=containers, BootMode="uefi",
                               TagSpecifications=[{"ResourceType": "import-image-task",
                                                   "Tags": [{"Key": "t", "Value": "1"}]}])  # fmt: skip
    assert started["ImportTaskId"].startswith("import-ami-") and started["Status"] == "active"
    task, seen = _wait(ec2, started["ImportTaskId"])
    assert task["Status"] == "completed", task
    assert seen[0] == "pending" and "preparing ami" in seen  # progress went through AWS's phases
    assert {"Key": "t", "Value": "1"} in task["Tags"]
    [image] = ec2.describe_images(ImageIds=[task["ImageId"]])["Images"]
    assert image["RootDeviceName"] == "/dev/sda1"
    mapped = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]}
    assert mapped == {d["DeviceName"]: d["SnapshotId"] for d in task["SnapshotDetails"]}
    for device, content in (("/dev/sda1", boot), ("/dev/sdb", data)):
        volume = ec2.create_volume(SnapshotId=mapped[device], AvailabilityZone=f"{REGION}a")["VolumeId"]
        got = control.checksum(lab_env.lab, volume, account_id=ADMIN_ACCOUNT_ID, region=REGION).sha256
        assert got == content.sha256(padded_to=GIB), device
    filtered = ec2.describe_import_image_tasks(Filters=[{"Name": "tag:t", "Values": ["1"]}])["ImportImageTasks"]
    assert [t["ImportTaskId"] for t in filtered] == [task["ImportTaskId"]]


def test_import_snapshot_and_an_ova(lab_env: LabEnv, clients: tuple[Any, Any, Any], tmp_path: Path) -> None:
    ec2, s3, iam = clients
    _role(iam)
    content = sample(seed=3)
    started = ec2.import_snapshot(
        DiskContainer={"Format": "VMDK", "UserBucket": _upload(s3, write("vmdk-stream", tmp_path, content), "d.vmdk")}
    )
    task, _ = _wait(ec2, started["ImportTaskId"], "snapshot")
    detail = task["SnapshotTaskDetail"]
    assert detail["Status"] == "completed", detail
    volume = ec2.create_volume(SnapshotId=detail["SnapshotId"], AvailabilityZone=f"{REGION}a")["VolumeId"]
    assert control.checksum(lab_env.lab, volume, account_id=ADMIN_ACCOUNT_ID, region=REGION).sha256 == (
        content.sha256(padded_to=GIB)
    )
    first, second = sample(seed=4), sample(seed=5, size=2 * MIB)
    ova = write_ova(tmp_path / "vm.ova", [first, second])
    started = ec2.import_image(DiskContainers=[{"Format": "OVA", "UserBucket": _upload(s3, ova, "vm.ova")}])
    task, _ = _wait(ec2, started["ImportTaskId"])
    assert task["Status"] == "completed" and len(task["SnapshotDetails"]) == 2


@pytest.mark.parametrize(
    ("kind", "declared", "message"),
    [
        ("qcow2", "RAW", "Unsupported specified file format"),
        ("vmdk-sparse", "VMDK", "Unsupported VMDK File Format"),
        ("raw", "VHD", "Unsupported specified file format"),
    ],
)
def test_what_aws_refuses_ends_the_task_deleted_with_its_message(
    clients: tuple[Any, Any, Any], tmp_path: Path, kind: str, declared: str, message: str
) -> None:
    ec2, s3, iam = clients
    _role(iam)
    bucket = _upload(s3, write(kind, tmp_path, sample()), f"disk-{kind}")
    task, _ = _wait(ec2, ec2.import_image(DiskContainers=[{"Format": declared, "UserBucket": bucket}])["ImportTaskId"])
    assert task["Status"] == "deleted" and message in task["StatusMessage"]
    assert task.get("ImageId") is None and task["SnapshotDetails"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_role_missing_untrusted_or_unable_to_read_and_a_bad_format(
    clients: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    ec2, s3, iam = clients
    bucket = _upload(s3, write("raw", tmp_path, sample()), "disk.img")
    with pytest.raises(AwsError) as missing:
        ec2.import_image(DiskContainers=[{"Format": "RAW", "UserBucket": bucket}])
    assert (
        "InvalidParameter: The service role vmimport provided does not exist or does not have sufficient permissions"
        in str(missing.value)
    )
    with pytest.raises(AwsError) as qcow2:
        ec2.import_image(DiskContainers=[{"Format": "qcow2", "UserBucket": bucket}])
    assert "Valid values: OVA, VHD, VHDX, VMDK, RAW" in str(qcow2.value)
    _role(iam, bucket="some-other-bucket")  # trusted, but may not read this bucket
    task, _ = _wait(ec2, ec2.import_image(DiskContainers=[{"Format": "RAW", "UserBucket": bucket}])["ImportTaskId"])
    assert task["Status"] == "deleted" and "We do not have access to the given resource" in task["StatusMessage"]


def test_cancel_an_active_task(clients: tuple[Any, Any, Any], tmp_path: Path) -> None:
    ec2, s3, iam = clients
    _role(iam)
    bucket = _upload(s3, write("raw", tmp_path, sample()), "disk.img")
    task_id = ec2.import_image(DiskContainers=[{"Format": "RAW", "UserBucket": bucket}])["ImportTaskId"]
    cancelled = ec2.cancel_import_task(ImportTaskId=task_id)
    assert cancelled["State"] == "deleting" and cancelled["PreviousState"] == "active"
    task, _ = _wait(ec2, task_id)
    assert task["Status"] == "deleted" and task.get("ImageId") is None
    with pytest.raises(AwsError):
        ec2.cancel_import_task(ImportTaskId=task_id)
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
