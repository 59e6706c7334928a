"""``skyvault convert`` in the lab: images of each format become an instance (or volumes) whose volumes hold the
image's logical bytes (the lab's checksum equals the SHA-256 of the image contents), only non-zero blocks are
sent, intermediates (snapshots, temporary AMI) are gone at the end, on failure too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, LabEnv
from image.diskgen import MIB, Content, pattern, sample, write, write_ova
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.lab import control
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID, TENANT_ACCOUNT_IDS
from skyvault.services.ec2.ebs_direct import SnapshotWriter

Cli = Callable[..., CliResult]
GIB = 1024 * MIB
PASSPHRASE = "convert tests passphrase"


def boot_disk() -> Content:
    """1 GiB virtual, ~3 MiB of data in a few places (a sparse boot disk)."""
    return Content(
        GIB,
        {0: pattern(11, 1 * MIB + 4096), 300 * MIB + 12345: pattern(12, 700_000), GIB - 4096: pattern(13, 4096)},
    )


def _setup(env: LabEnv) -> ClientFactory:
    return ClientFactory(env.config, base_dir=env.config_path.parent, strict_guard=False)


def _managed(env: LabEnv, account: str = "admin", region: str = "us-east-1") -> dict[str, list[str]]:
    ec2 = _setup(env).client(account, region, "ec2")
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:skyvault:managed", "Values": ["true"]}])
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:skyvault:managed", "Values": ["true"]}])
    return {
        "snapshots": [s["SnapshotId"] for s in snaps["Snapshots"]],
        "images": [i["ImageId"] for i in images["Images"]],
    }


def _checksum(env: LabEnv, volume_id: str, account_id: str = ADMIN_ACCOUNT_ID, region: str = "us-east-1") -> str:
    return control.checksum(env.lab, volume_id, account_id=account_id, region=region).sha256


def _run(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("--json", "convert", *args, "--yes")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = result.json()
    return data


def test_qcow2_boot_and_vhd_data_disk_become_a_running_instance(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    boot, data = boot_disk(), sample()
    boot_path = write("qcow2", tmp_path, boot, name="boot")
    data_path = write("vhd-dynamic", tmp_path, data, name="data")
    out = _run(cli, str(boot_path), str(data_path), "--boot-mode", "uefi", "--name", "vm-1")
    assert out["instance_id"] and set(out["volume_ids"]) == {"/dev/xvda", "/dev/sdf"}
    assert _checksum(lab_env, out["volume_ids"]["/dev/xvda"]) == boot.sha256()
    assert _checksum(lab_env, out["volume_ids"]["/dev/sdf"]) == data.sha256(padded_to=GIB)
    # Only the non-zero 512 KiB blocks went over the wire.
    expected_blocks = len(list(boot.chunks(512 * 1024))) + len(list(data.chunks(512 * 1024)))
    assert out["stats"]["blocks_written"] == expected_blocks
    assert out["stats"]["bytes_written"] == expected_blocks * 512 * 1024
    assert out["stats"]["api_calls"]["PutSnapshotBlock"] >= expected_blocks  # + retries while not yet writable
    ec2 = _setup(lab_env).client("admin", "us-east-1", "ec2")
    instance = ec2.describe_instances(InstanceIds=[out["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == "t3.micro"
    assert {"Key": "Name", "Value": "vm-1"} in instance["Tags"]
    # The temporary AMI and the written snapshots are intermediates: gone once the job ended.
    assert _managed(lab_env) == {"snapshots": [], "images": []}


KINDS = ["raw", "vhd-fixed", "vhdx", "vmdk-sparse", "vmdk-stream", "vmdk-flat"]


def test_each_format_converts_to_a_volume_with_its_bytes(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    contents = [sample(seed=seed) for seed in range(len(KINDS))]
    paths = [str(write(kind, tmp_path, content)) for kind, content in zip(KINDS, contents, strict=True)]
    out = _run(cli, *paths, "--volumes-only")
    assert out["instance_id"] is None and out["image_id"] is None
    assert [(d["format"], d["variant"]) for d in out["disks"]] == [
        ("raw", "raw"), ("vhd", "fixed"), ("vhdx", "dynamic"), ("vmdk", "sparse"), ("vmdk", "stream-optimized"),
        ("vmdk", "flat-descriptor"),
    ]  # fmt: skip
    for disk, content in zip(out["disks"], contents, strict=True):
        assert _checksum(lab_env, out["volume_ids"][disk["device"]]) == content.sha256(padded_to=GIB), disk
    assert _managed(lab_env) == {"snapshots": [], "images": []}


def test_ova_disks_in_order_and_instance_type_from_its_hardware(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    first, second = sample(seed=3), sample(size=2 * MIB, seed=4)
    ova = write_ova(tmp_path / "appliance.ova", [first, second], cpus=2, memory_mib=4096)
    plan = cli("--json", "convert", str(ova), "--dry-run")
    assert plan.exit_code == 0, plan.stderr
    shown = plan.json()
    assert shown["dry_run"] is True and shown["instance_type"] == "t3.medium"
    assert [d["device"] for d in shown["disks"]] == ["/dev/xvda", "/dev/sdf"]
    assert [d["volume_size_gib"] for d in shown["disks"]] == [1, 1]
    assert shown["vm"] == {"cpus": 2, "memory_mib": 4096, "name": "vm1"}
    assert shown["permissions"]["ok"] is True and shown["permissions"]["missing"] == []
    assert _managed(lab_env) == {"snapshots": [], "images": []}  # a dry run creates nothing
    out = _run(cli, str(ova), "--volumes-only")
    assert _checksum(lab_env, out["volume_ids"]["/dev/xvda"]) == first.sha256(padded_to=GIB)
    assert _checksum(lab_env, out["volume_ids"]["/dev/sdf"]) == second.sha256(padded_to=GIB)


def test_library_recovery_point_converts_into_a_tenant_in_another_region(
    lab_env: LabEnv, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", PASSPHRASE)
    initialised = cli("library", "init", "--path", str(tmp_path / "lib"))
    assert initialised.exit_code == 0, initialised.stderr
    content = sample(seed=21)
    raw = write("raw", tmp_path, content)
    backed = cli("--json", "backup", "image", str(raw))
    assert backed.exit_code == 0, backed.stderr
    point = backed.json()["recovery_point"]
    raw.unlink()  # the library alone is the source
    out = _run(cli, point, "--account", "tenant-a", "--region", "eu-west-1", "--volumes-only")
    [volume_id] = out["volume_ids"].values()
    digest = _checksum(lab_env, volume_id, account_id=TENANT_ACCOUNT_IDS["tenant-a"], region="eu-west-1")
    assert digest == content.sha256(padded_to=GIB)
    assert _managed(lab_env, "tenant-a", "eu-west-1") == {"snapshots": [], "images": []}


def test_a_disk_failing_mid_job_leaves_no_snapshot(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    good = write("raw", tmp_path, sample(seed=5))
    broken = write("qcow2", tmp_path, sample(seed=6), name="broken")
    broken.write_bytes(broken.read_bytes()[: 5 * 64 * 1024])  # tables intact, data clusters cut off
    result = cli("convert", str(good), str(broken), "--yes")
    assert result.exit_code != 0
    assert "truncated" in result.stderr or "cannot read" in result.stderr
    assert _managed(lab_env) == {"snapshots": [], "images": []}  # disk 0's snapshot and disk 1's were removed


def test_refusals(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    image = write("raw", tmp_path, sample())
    vmimport = cli("convert", str(image), "--method", "vmimport")
    assert vmimport.exit_code == 16 and "give --bucket BUCKET" in vmimport.stderr
    missing = cli("convert", str(tmp_path / "missing.img"))
    assert missing.exit_code != 0 and "neither a disk image file nor a recovery point" in missing.stderr
    bad_mode = cli("convert", str(image), "--boot-mode", "bios")
    assert bad_mode.exit_code == 2
    assert _managed(lab_env) == {"snapshots": [], "images": []}


def test_convert_killed_mid_upload_resumes_with_new_snapshots(lab_env: LabEnv, cli: Cli, tmp_path: Path) -> None:
    """A kill while blocks are being written (KeyboardInterrupt in the first PutSnapshotBlock, the runner's
    end-of-job cleanup off: a dead process cleans nothing), then ``jobs resume``: the half-written snapshot is an
    intermediate, deleted before the disk is written again; the volume holds the image's bytes."""
    content = sample(seed=31)
    image = write("vhdx", tmp_path, content)
    real_put = SnapshotWriter.put
    calls = {"n": 0}

    def put_dies_once(self: SnapshotWriter, index: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        real_put(self, index, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])
        patch.setattr(SnapshotWriter, "put", put_dies_once)
        cli("--json", "convert", str(image), "--volumes-only", "--yes")
    catalog = Catalog.open(lab_env.state_dir)
    [job] = [j for j in catalog.jobs() if j.kind == "convert-image"]
    catalog.update_job(job.id, status="running")  # what a killed process leaves; its lease is not renewed
    [half_written] = _managed(lab_env)["snapshots"]
    steps = catalog.job(job.id).steps
    assert steps["preflight"]["status"] == "done" and steps["disk 0: write"]["status"] != "done"
    resumed = cli("--json", "jobs", "resume", job.id)
    assert resumed.exit_code == 0, resumed.stderr
    out = resumed.json()
    assert half_written not in out["snapshot_ids"]
    [volume_id] = out["volume_ids"].values()
    assert _checksum(lab_env, volume_id) == content.sha256(padded_to=GIB)
    assert _managed(lab_env) == {"snapshots": [], "images": []} and catalog.live_intermediates(job.id) == []


def test_the_demo_step_converts_an_image_into_a_verified_instance(lab_env: LabEnv) -> None:
    from rich.console import Console

    from skyvault.cli.context import AppState
    from skyvault.demo.convert import convert_step
    from skyvault.demo.runner import Demo

    demo = Demo(workdir=lab_env.config_path.parent, seed=1, console=Console(width=200), lab=lab_env.lab)
    demo.app = AppState(config_option=str(lab_env.config_path))
    message = convert_step(demo)
    assert "byte-identical" in message and "instance removed" in message
    assert _managed(lab_env) == {"snapshots": [], "images": []}
