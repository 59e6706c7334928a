"""EC2 end to end in the lab: full copy, 1% written, incremental copy reading only changed blocks, restores
(another region, a tenant account, volumes only, native snapshots) with byte-identical volumes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.lab import control
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS

from .conftest import Ec2Env

Cli = Callable[..., CliResult]
VOLUME_BLOCKS = 2048  # 1 GiB of 512 KiB blocks
ONE_PERCENT = 20


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.json()


def _checksums(ec2_env: Ec2Env) -> dict[str, str]:
    return {"/dev/xvda": ec2_env.checksum(ec2_env.root_volume), "/dev/sdf": ec2_env.checksum(ec2_env.data_volume)}


def _restored_checksums(
    ec2_env: Ec2Env, instance_id: str, *, account: str, region: str, account_id: str
) -> dict[str, str]:
    described = ec2_env.ec2(account, region).describe_instances(InstanceIds=[instance_id])
    instance = described["Reservations"][0]["Instances"][0]
    return {
        m["DeviceName"]: ec2_env.checksum(m["Ebs"]["VolumeId"], account_id=account_id, region=region)
        for m in instance["BlockDeviceMappings"]
    }


def test_full_then_incremental_copy_reads_only_changed_blocks(ec2_env: Ec2Env, cli: Cli) -> None:
    first = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    stats = first["stats"]
    assert stats["blocks_listed"] == 24 + 16  # only written blocks are listed
    assert stats["blocks_read"] == 24 + 16
    assert stats["bytes_read"] == (24 + 16) * 512 * 1024
    assert 0 < stats["bytes_stored"] < stats["bytes_read"]  # compressed (the data volume is half text)
    assert stats["api_calls"]["ListSnapshotBlocks"] == 2
    assert "ListChangedBlocks" not in stats["api_calls"]
    assert stats["api_calls"]["GetSnapshotBlock"] == 40
    assert stats["api_calls"]["CreateSnapshots"] == 1
    at_first = _checksums(ec2_env)

    written = control.write_blocks(ec2_env.env.lab, ec2_env.data_volume, ONE_PERCENT, seed=7)
    second = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    calls = second["stats"]["api_calls"]
    assert calls["ListChangedBlocks"] == 2
    assert "ListSnapshotBlocks" not in calls
    changed = len(set(written.indices))
    assert calls["GetSnapshotBlock"] == changed == second["stats"]["blocks_read"]
    assert second["stats"]["volumes"][ec2_env.data_volume]["mode"] == "incremental"
    assert second["stats"]["volumes"][ec2_env.root_volume]["blocks_read"] == 0

    catalog = Catalog.open(ec2_env.env.state_dir)
    old = catalog.recovery_point(first["recovery_point"])
    new = catalog.recovery_point(second["recovery_point"])
    # One base snapshot per volume: the first point's snapshots were retired, the library keeps its data.
    assert old.native == {}
    assert sorted(old.captured_config["retired_snapshots"]) == sorted(old.captured_config["snapshots"].values())
    assert set(new.native) == {"/dev/xvda", "/dev/sdf"}
    live = {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert set(new.native.values()) <= live
    assert not set(old.captured_config["snapshots"].values()) & live

    # The first point restores from the library as it was before the write (data volume differs from now).
    restored = _ok(cli("--json", "restore", first["recovery_point"], "--region", "eu-west-1"))
    assert restored["from"] == "library"
    got = _restored_checksums(
        ec2_env, restored["instance_id"], account="admin", region="eu-west-1", account_id="123456789012"
    )
    assert got == at_first
    assert got["/dev/sdf"] != ec2_env.checksum(ec2_env.data_volume)


def test_restore_to_tenant_account_and_other_region_byte_identical(ec2_env: Ec2Env, cli: Cli) -> None:
    before = _checksums(ec2_env)
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    tenant_id = TENANT_ACCOUNT_IDS["tenant-a"]
    result = _ok(cli("--json", "restore", point, "--account", "tenant-a", "--region", "eu-west-1"))
    assert result["from"] == "library" and result["instance_id"].startswith("i-")
    assert set(result["volume_ids"]) == {"/dev/xvda", "/dev/sdf"}  # keyed by device (docs/ec2.md)
    assert len(result["snapshot_ids"]) == 2 and result["image_id"]
    got = _restored_checksums(
        ec2_env, result["instance_id"], account="tenant-a", region="eu-west-1", account_id=tenant_id
    )
    assert got == before
    tenant = ec2_env.ec2("tenant-a", "eu-west-1")
    described = tenant.describe_instances(InstanceIds=[result["instance_id"]])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
    assert tags["Name"] == "app-1" and tags["skyvault:managed"] == "true" and tags["skyvault:role"] == "restored"
    assert described["InstanceType"] == "t3.micro"
    # Intermediates (written snapshots, temporary AMI) are gone; nothing skyvault-tagged but the restore remains.
    assert tenant.describe_images(Owners=["self"])["Images"] == []
    leftovers = [
        s["SnapshotId"]
        for s in tenant.describe_snapshots(OwnerIds=["self"])["Snapshots"]
        if any(t["Key"] == "skyvault:managed" for t in s.get("Tags", []))
    ]
    assert leftovers == []


def test_restore_from_native_snapshots_and_volumes_only(ec2_env: Ec2Env, cli: Cli) -> None:
    before = _checksums(ec2_env)
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy"))
    assert point["stats"]["blocks_read"] == 0 and "GetSnapshotBlock" not in point["stats"]["api_calls"]
    result = _ok(cli("--json", "restore", point["recovery_point"], "--volumes-only"))
    assert result["from"] == "snapshot" and result["instance_id"] is None
    # volume_ids is keyed by device, as docs/ec2.md says: each device's volume holds that device's data.
    assert {device: ec2_env.checksum(volume) for device, volume in result["volume_ids"].items()} == before
    launched = _ok(
        cli("--json", "restore", point["recovery_point"], "--instance-type", "t3.small", "--name", "app-1-restored")
    )
    got_instance = _restored_checksums(
        ec2_env, launched["instance_id"], account="admin", region="us-east-1", account_id="123456789012"
    )
    assert got_instance == before
    described = ec2_env.ec2().describe_instances(InstanceIds=[launched["instance_id"]])
    instance = described["Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == "t3.small"
    assert {t["Key"]: t["Value"] for t in instance["Tags"]}["Name"] == "app-1-restored"
    refused = cli("--json", "restore", point["recovery_point"], "--from", "library")
    assert refused.exit_code != 0 and "no library copy" in refused.stderr


def test_overwrite_refused_without_yes_then_replaces_original(ec2_env: Ec2Env, cli: Cli) -> None:
    before = _checksums(ec2_env)
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    refused = cli("--json", "restore", point, "--target", "original")
    assert refused.exit_code == 13
    state = ec2_env.ec2().describe_instances(InstanceIds=[ec2_env.instance_id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"  # nothing was touched
    control.write_blocks(ec2_env.env.lab, ec2_env.root_volume, 4, seed=99)  # the original drifts after backup
    result = _ok(cli("--json", "restore", point, "--target", "original", "--yes"))
    assert result["replaced_instance_id"] == ec2_env.instance_id
    assert any("skyvault:allow-overwrite" in w for w in result["warnings"])  # untagged: restricted would refuse
    assert any("stopped original" in a for a in result["actions"])
    assert any("terminated original" in a for a in result["actions"])
    original = ec2_env.ec2().describe_instances(InstanceIds=[ec2_env.instance_id])["Reservations"][0]["Instances"][0]
    assert original["State"]["Name"] in ("shutting-down", "terminated")
    got = _restored_checksums(
        ec2_env, result["instance_id"], account="admin", region="us-east-1", account_id="123456789012"
    )
    assert got == before


@pytest.mark.parametrize("app_consistent", [False])
def test_backups_list_and_show(ec2_env: Ec2Env, cli: Cli, app_consistent: bool) -> None:
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    listed = _ok(cli("--json", "backups", "list", "--kind", "ec2"))
    assert [p["id"] for p in listed] == [point]
    shown = _ok(cli("--json", "backups", "show", point))
    config = shown["captured_config"]["instance"]
    assert config["instance_type"] == "t3.micro"
    assert {v["device"] for v in config["volumes"]} == {"/dev/xvda", "/dev/sdf"}
    assert config["user_data_b64"]
    assert set(shown["captured_config"]["library_snapshots"]) == {ec2_env.root_volume, ec2_env.data_volume}
    jobs = _ok(cli("--json", "jobs", "list"))
    assert [j["kind"] for j in jobs] == ["backup-ec2"] and jobs[0]["status"] == "completed"
