"""Model: EC2's eventual consistency (new instances, volumes, AMIs and snapshots are not visible at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from skyvault.errors import LabError
from skyvault.lab.control import set_model_settings

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]
LONG = 600  # seconds: nothing created in a test becomes visible while it runs


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_the_model_is_on_by_default_and_reset_restores_it(lab_env: LabEnv) -> None:
    lab = lab_env.lab
    default = set_model_settings(lab, "ec2_consistency")["delay_s"]
    assert 0 < default <= 2
    assert set_model_settings(lab, "ec2_consistency", delay_s=LONG) == {"delay_s": LONG}
    with pytest.raises(LabError):
        set_model_settings(lab, "ec2_consistency", delay_s=-1)
    with pytest.raises(LabError):
        set_model_settings(lab, "no_such_model", delay_s=1)


def test_new_resources_answer_not_found_by_id_and_are_missing_from_listings(lab_env: LabEnv, raw: Raw) -> None:
    set_model_settings(lab_env.lab, "ec2_consistency", delay_s=LONG)
    ec2 = raw("ec2")
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "t", "Value": "new"}]}],
    )["Instances"][0]["InstanceId"]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    image = ec2.register_image(
        Name="fresh",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}],
    )["ImageId"]

    assert _code(lambda: ec2.describe_instances(InstanceIds=[instance])) == "InvalidInstanceID.NotFound"
    assert _code(lambda: ec2.describe_volumes(VolumeIds=[volume])) == "InvalidVolume.NotFound"
    assert _code(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot])) == "InvalidSnapshot.NotFound"
    assert _code(lambda: ec2.describe_images(ImageIds=[image])) == "InvalidAMIID.NotFound"
    tagged = ec2.describe_instances(Filters=[{"Name": "tag:t", "Values": ["new"]}])["Reservations"]
    assert tagged == []
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [snapshot]}])["Snapshots"] == []
    assert volume not in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # Only Describe hides them: the resources exist, and other operations act on them.
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "k", "Value": "v"}])

    set_model_settings(lab_env.lab, "ec2_consistency", delay_s=0)  # stamps already made keep their time
    assert _code(lambda: ec2.describe_volumes(VolumeIds=[volume])) == "InvalidVolume.NotFound"


def test_resources_become_visible_after_the_delay(lab_env: LabEnv, raw: Raw) -> None:
    set_model_settings(lab_env.lab, "ec2_consistency", delay_s=0)
    ec2 = raw("ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    assert [v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=[volume])["Volumes"]] == [volume]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    assert ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["SnapshotId"] == snapshot
