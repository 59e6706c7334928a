"""Model: AMIs keep block device mappings; instances launched from them get volumes with the snapshots' data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from skyvault.lab.control import checksum, write_blocks

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]


def _instance_volumes(ec2: Any, instance_id: str) -> dict[str, str]:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}


def _launch(ec2: Any, image_id: str, mappings: list[dict[str, Any]] | None = None) -> str:
    extra = {"BlockDeviceMappings": mappings} if mappings else {}
    return str(ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, **extra)["Instances"][0]["InstanceId"])


def test_create_image_snapshots_each_volume_and_launch_restores_the_data(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    source = _launch(
        ec2,
        "ami-12c6146b",
        [
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 1, "VolumeType": "gp3", "DeleteOnTermination": True}},
            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2, "VolumeType": "io1", "Iops": 100}},
        ],
    )
    volumes = _instance_volumes(ec2, source)
    write_blocks(lab_env.lab, volumes["/dev/sda1"], 6, seed=1)
    write_blocks(lab_env.lab, volumes["/dev/sdf"], 6, seed=2)
    sums = {device: checksum(lab_env.lab, volume).sha256 for device, volume in volumes.items()}

    image = ec2.create_image(
        InstanceId=source,
        Name="app-server",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "skyvault:managed", "Value": "true"}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "skyvault:job", "Value": "j-1"}]},
        ],
    )["ImageId"]
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    assert described["RootDeviceName"] == "/dev/sda1"
    assert described["RootDeviceType"] == "ebs"
    assert {"Key": "skyvault:managed", "Value": "true"} in described["Tags"]
    mappings = described["BlockDeviceMappings"]
    assert [m["DeviceName"] for m in mappings] == ["/dev/sda1", "/dev/sdf"]
    assert [m["Ebs"]["VolumeSize"] for m in mappings] == [1, 2]
    assert mappings[0]["Ebs"]["DeleteOnTermination"] is True
    assert mappings[1]["Ebs"]["VolumeType"] == "io1"
    snapshot_ids = [m["Ebs"]["SnapshotId"] for m in mappings]
    snapshots = {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]}
    assert all({"Key": "skyvault:job", "Value": "j-1"} in s["Tags"] for s in snapshots.values())
    # moto's own AMI code made a fake 15 GiB snapshot with this description; the model removes it.
    made_for_image = ec2.describe_snapshots(Filters=[{"Name": "description", "Values": [f"*for {image}"]}])
    assert sorted(s["SnapshotId"] for s in made_for_image["Snapshots"]) == sorted(snapshot_ids)

    launched = _launch(ec2, image)
    restored = _instance_volumes(ec2, launched)
    assert list(restored) == ["/dev/sda1", "/dev/sdf"]
    for device, volume in restored.items():
        assert checksum(lab_env.lab, volume).sha256 == sums[device]
    sizes = {v["VolumeId"]: v["Size"] for v in ec2.describe_volumes(VolumeIds=list(restored.values()))["Volumes"]}
    assert sizes == {restored["/dev/sda1"]: 1, restored["/dev/sdf"]: 2}


def test_register_image_from_snapshots_and_launch_with_overrides(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    root_volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    data_volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab_env.lab, root_volume, 4, seed=5)
    write_blocks(lab_env.lab, data_volume, 4, seed=6)
    root_snap = ec2.create_snapshot(VolumeId=root_volume)["SnapshotId"]
    data_snap = ec2.create_snapshot(VolumeId=data_volume)["SnapshotId"]

    image = ec2.register_image(
        Name="restored",
        RootDeviceName="/dev/xvda",
        Architecture="arm64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": data_snap, "DeleteOnTermination": False}},
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": root_snap, "VolumeType": "gp3"}},
        ],
    )["ImageId"]
    described = ec2.describe_images(ImageIds=[image])["Images"][0]
    assert described["Architecture"] == "arm64"
    assert [(m["DeviceName"], m["Ebs"]["SnapshotId"]) for m in described["BlockDeviceMappings"]] == [
        ("/dev/xvda", root_snap),
        ("/dev/xvdb", data_snap),
    ]
    with pytest.raises(ClientError) as in_use:
        ec2.delete_snapshot(SnapshotId=root_snap)
    assert in_use.value.response["Error"]["Code"] == "InvalidSnapshot.InUse"

    # Grow the data volume at launch; drop nothing.
    launched = _launch(ec2, image, [{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 3}}])
    volumes = _instance_volumes(ec2, launched)
    assert list(volumes) == ["/dev/xvda", "/dev/xvdb"]
    assert checksum(lab_env.lab, volumes["/dev/xvda"]).sha256 == checksum(lab_env.lab, root_snap).sha256
    grown = ec2.describe_volumes(VolumeIds=[volumes["/dev/xvdb"]])["Volumes"][0]
    assert grown["Size"] == 3
    assert checksum(lab_env.lab, volumes["/dev/xvdb"]).blocks_present == 4

    without_data = _launch(ec2, image, [{"DeviceName": "/dev/xvdb", "NoDevice": ""}])
    assert list(_instance_volumes(ec2, without_data)) == ["/dev/xvda"]

    ec2.deregister_image(ImageId=image)
    ec2.delete_snapshot(SnapshotId=root_snap)  # allowed once the AMI is gone


def test_register_image_refuses_unknown_snapshots(lab_env: LabEnv, raw: Raw) -> None:
    ec2 = raw("ec2")
    with pytest.raises(ClientError) as caught:
        ec2.register_image(
            Name="broken",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0000000000000dead"}}],
        )
    assert caught.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"


def test_copy_image_copies_the_snapshots_to_the_region(lab_env: LabEnv, raw: Raw) -> None:
    ec2, eu = raw("ec2"), raw("ec2", region="eu-west-1")
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab_env.lab, volume, 3, seed=8)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.register_image(
        Name="app-image",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]
    copied = eu.copy_image(SourceImageId=image, SourceRegion="us-east-1", Name="x-eu")["ImageId"]
    mapping = eu.describe_images(ImageIds=[copied])["Images"][0]["BlockDeviceMappings"][0]
    eu_snapshot = mapping["Ebs"]["SnapshotId"]
    assert eu_snapshot != snapshot
    assert checksum(lab_env.lab, eu_snapshot, region="eu-west-1").sha256 == checksum(lab_env.lab, snapshot).sha256


UEFI = "UUVNVQ=="  # base64 of a (tiny) UEFI variable store


def _registered(ec2: Any, **settings: str) -> str:
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    mapping = [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]
    return str(
        ec2.register_image(Name=f"boot-{len(settings)}", RootDeviceName="/dev/xvda", BlockDeviceMappings=mapping,
                           **settings)["ImageId"]
    )  # fmt: skip


def test_register_image_keeps_boot_and_security_settings_and_instances_get_them(raw: Raw) -> None:
    ec2 = raw("ec2")
    settings = {"BootMode": "uefi", "TpmSupport": "v2.0", "UefiData": UEFI, "ImdsSupport": "v2.0",
                "SriovNetSupport": "simple"}  # fmt: skip
    image_id = _registered(ec2, **settings)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert {k: image.get(k) for k in ("BootMode", "TpmSupport", "ImdsSupport", "SriovNetSupport")} == {
        "BootMode": "uefi", "TpmSupport": "v2.0", "ImdsSupport": "v2.0", "SriovNetSupport": "simple"
    }  # fmt: skip
    assert "UefiData" not in image  # only through DescribeImageAttribute
    for attribute, member in (("bootMode", "BootMode"), ("tpmSupport", "TpmSupport"), ("uefiData", "UefiData"),
                              ("imdsSupport", "ImdsSupport"), ("sriovNetSupport", "SriovNetSupport")):  # fmt: skip
        answer = ec2.describe_image_attribute(ImageId=image_id, Attribute=attribute)
        assert answer[member]["Value"] == settings[member], attribute

    instance_id = _launch(ec2, image_id)
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["BootMode"] == "uefi" and instance["CurrentInstanceBootMode"] == "uefi"
    assert instance["TpmSupport"] == "v2.0"
    assert instance["MetadataOptions"]["HttpTokens"] == "required"  # ImdsSupport v2.0
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    assert ec2.get_instance_uefi_data(InstanceId=instance_id)["UefiData"] == UEFI
    sriov = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="sriovNetSupport")
    assert sriov["SriovNetSupport"]["Value"] == "simple"


def test_an_image_registered_without_them_has_none(raw: Raw) -> None:
    ec2 = raw("ec2")
    image_id = _registered(ec2)
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert not {"BootMode", "TpmSupport", "ImdsSupport", "SriovNetSupport"} & set(image)
    assert "TpmSupport" not in ec2.describe_image_attribute(ImageId=image_id, Attribute="tpmSupport")
    instance_id = _launch(ec2, image_id)
    assert (
        ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["MetadataOptions"][
            "HttpTokens"
        ]
        == "optional"
    )
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        _registered(ec2, BootMode="legacy-bios", TpmSupport="v2.0")
