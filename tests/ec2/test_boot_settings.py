"""A restore keeps the instance's boot and security settings (IMDSv2 required stays required, boot mode, TPM,
UEFI data, SR-IOV) and refuses library restores of licensed platforms, pointing at the native snapshots."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.errors import ConflictError
from skyvault.services.ec2 import launch, waiting
from skyvault.services.ec2.capture import InstanceConfig

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


def _metadata(ec2_env: Ec2Env, instance_id: str) -> dict[str, Any]:
    found = ec2_env.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return dict(found["MetadataOptions"])


def test_restored_instance_keeps_imdsv2_required(ec2_env: Ec2Env, cli: Cli) -> None:
    ec2_env.ec2().modify_instance_metadata_options(
        InstanceId=ec2_env.instance_id, HttpTokens="required", HttpPutResponseHopLimit=2
    )
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy"))
    restored = _ok(cli("--json", "restore", point["recovery_point"]))
    options = _metadata(ec2_env, restored["instance_id"])
    assert options["HttpTokens"] == "required"
    assert options["HttpPutResponseHopLimit"] == 2


def _config(**overrides: Any) -> InstanceConfig:
    base: dict[str, Any] = {
        "instance_id": "i-1",
        "account_id": "123456789012",
        "region": "us-east-1",
        "availability_zone": "us-east-1a",
        "instance_type": "m6i.large",
        "image_id": "ami-1",
        "architecture": "x86_64",
        "virtualization_type": "hvm",
        "ena_support": True,
        "root_device_name": "/dev/xvda",
        "subnet_id": None,
        "vpc_id": None,
        "security_group_ids": [],
        "key_name": None,
        "iam_instance_profile_arn": None,
        "user_data_b64": None,
        "tags": {},
        "ebs_optimized": True,
        "volumes": [],
        "network_interfaces": [],
    }
    return InstanceConfig.from_json({**base, **overrides})


UEFI = "UUVNVQ=="  # base64 of a (tiny) UEFI variable store
BOOT = {"BootMode": "uefi", "TpmSupport": "v2.0", "UefiData": UEFI, "ImdsSupport": "v2.0", "SriovNetSupport": "simple"}


def _source_with_boot_settings(ec2_env: Ec2Env) -> str:
    """An instance launched from an AMI registered with UEFI boot, NitroTPM, UEFI data, IMDSv2 and SR-IOV (the lab's
    image_attributes model keeps them on the AMI and gives them to the instance, as AWS does)."""
    ec2 = ec2_env.ec2()
    snapshot = ec2.create_snapshot(VolumeId=ec2_env.root_volume)["SnapshotId"]
    waiting.retry_not_found(lambda: ec2.describe_snapshots(SnapshotIds=[snapshot]), what="the snapshot")
    image = ec2.register_image(
        Name="secure-boot", RootDeviceName="/dev/xvda", Architecture="x86_64", VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot, "VolumeType": "gp3"}}],
        **BOOT,
    )["ImageId"]  # fmt: skip
    instance_id = str(
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m6i.large")["Instances"][0]["InstanceId"]
    )
    waiting.instances_in(ec2_env.setup, "admin", "us-east-1", [instance_id], "running")
    return instance_id


def _boot_settings(ec2_env: Ec2Env, instance_id: str) -> dict[str, Any]:
    ec2 = ec2_env.ec2()
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    sriov = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="sriovNetSupport")
    return {
        "BootMode": found.get("CurrentInstanceBootMode"),
        "TpmSupport": found.get("TpmSupport"),
        "UefiData": ec2.get_instance_uefi_data(InstanceId=instance_id).get("UefiData"),
        "HttpTokens": found["MetadataOptions"]["HttpTokens"],
        "SriovNetSupport": (sriov.get("SriovNetSupport") or {}).get("Value"),
    }


@pytest.mark.parametrize("source", ["snapshot", "library"])
def test_restored_instance_keeps_boot_mode_tpm_uefi_data_imds_and_sriov(ec2_env: Ec2Env, cli: Cli, source: str) -> None:
    # From the native snapshots and from the library (snapshots rewritten through the EBS direct APIs): either way
    # the temporary AMI is registered with the captured settings and the instance launched from it gets them.
    instance_id = _source_with_boot_settings(ec2_env)
    expected = {"BootMode": "uefi", "TpmSupport": "v2.0", "UefiData": UEFI, "HttpTokens": "required",
                "SriovNetSupport": "simple"}  # fmt: skip
    assert _boot_settings(ec2_env, instance_id) == expected
    point = _ok(cli("--json", "backup", "ec2", instance_id, *(["--no-copy"] if source == "snapshot" else [])))
    restored = _ok(cli("--json", "restore", point["recovery_point"], "--from", source))
    assert restored["from"] == source
    assert _boot_settings(ec2_env, restored["instance_id"]) == expected


def test_boot_settings_of_a_recovery_point_from_before_they_were_captured() -> None:
    assert launch.boot_settings(_config()) == {}  # RegisterImage then gets none, as before
    assert _config(metadata_options={"HttpTokens": "required"}).to_json()["metadata_options"] == {
        "HttpTokens": "required"
    }


@pytest.mark.parametrize(
    ("platform", "usage"),
    [
        ("Windows", "RunInstances:0002"),
        ("Red Hat Enterprise Linux", "RunInstances:0010"),
        ("SUSE Linux", "RunInstances:000g"),
        ("Windows with SQL Server Standard", "RunInstances:0006"),
    ],
)
def test_library_restore_of_a_licensed_platform_is_refused(platform: str, usage: str) -> None:
    config = _config(platform_details=platform, usage_operation=usage)
    with pytest.raises(ConflictError, match="licensed wrongly") as refused:
        launch.refuse_unlicensable(config, "library", volumes_only=False)
    assert refused.value.hint is not None and "--from snapshot" in refused.value.hint
    launch.refuse_unlicensable(config, "snapshot", volumes_only=False)  # native snapshots keep the billing code
    launch.refuse_unlicensable(config, "library", volumes_only=True)  # volumes carry no licence of their own
    plain = _config(platform_details="Linux/UNIX", usage_operation="RunInstances")
    launch.refuse_unlicensable(plain, "library", volumes_only=False)
