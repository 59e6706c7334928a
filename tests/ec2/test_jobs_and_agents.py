"""Jobs around EC2 backups (resume after a failure, cancel) and the application-consistent mode (SSM scripts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.errors import AwsError, JobError
from skyvault.services.ec2 import agents
from skyvault.services.ec2 import backup as ec2_backup
from skyvault.services.ec2.cleanup import SNAPSHOTS
from skyvault.services.ec2.copy import copy_snapshot

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.json()


def test_failed_backup_resumes_with_new_snapshots(ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    real_copy = copy_snapshot
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the second volume fails once
            raise AwsError("simulated network failure")
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(ec2_backup, "copy_snapshot", flaky)
    failed = cli("--json", "backup", "ec2", ec2_env.instance_id)
    assert failed.exit_code == AwsError.exit_code
    catalog = Catalog.open(ec2_env.env.state_dir)
    [job] = catalog.jobs()
    assert job.status == "failed" and job.steps["capture"]["status"] == "done"

    resumed = _ok(cli("--json", "jobs", "resume", job.id))
    point = catalog.recovery_point(resumed["recovery_point"])
    assert point.job_id == job.id and len(point.native) == 2
    assert catalog.job(job.id).status == "completed"
    live = {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert set(point.native.values()) <= live  # the failed attempt's snapshots were replaced, not reused
    shown = _ok(cli("--json", "jobs", "show", job.id))
    assert shown["live_intermediates"] == []
    again = cli("--json", "jobs", "resume", job.id)
    assert again.exit_code == 17  # completed: nothing to resume


def test_cancel_crashed_job_removes_its_intermediates(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    # Its lease says another process holds it: alive as far as anyone can tell.
    crashed = catalog.start_job("backup-ec2", {"instance_id": ec2_env.instance_id}, owner="elsewhere", lease_s=600)
    token = "svt-cancelme0001"
    catalog.record_intermediate(crashed.id, SNAPSHOTS, token, "admin", "us-east-1")
    tags = [{"Key": "skyvault:managed", "Value": "true"}, {"Key": "skyvault:token", "Value": token}]
    snapshot = ec2_env.ec2().create_snapshot(
        VolumeId=ec2_env.root_volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
    )["SnapshotId"]
    refused = cli("--json", "jobs", "cancel", crashed.id)  # it looks alive (its lease is live)
    assert refused.exit_code == 17
    result = _ok(cli("--json", "jobs", "cancel", crashed.id, "--force"))
    assert result == {"job": crashed.id, "status": "cancelled", "leftovers": []}
    live = {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshot not in live


def test_app_consistent_backup_runs_pre_and_post_scripts(ec2_env: Ec2Env, cli: Cli) -> None:
    result = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy", "--app-consistent"))
    calls = result["stats"]["api_calls"]
    assert calls["SendCommand"] == 2 and calls["GetCommandInvocation"] >= 2 and calls["CreateSnapshots"] == 1


def test_failing_pre_script_takes_no_snapshot(ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "PRE_COMMANDS", ["exit 3"])
    real = agents.run_script

    def scripted(*args: Any, **kwargs: Any) -> str:
        commands = args[4]
        if commands == ["exit 3"]:
            raise JobError("skyvault pre-snapshot: SSM command ended Failed: exit 3")
        return real(*args, **kwargs)

    monkeypatch.setattr(agents, "run_script", scripted)
    result = cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy", "--app-consistent")
    assert result.exit_code == 14 and "pre-snapshot" in result.stderr
    managed = [
        s
        for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]
        if any(t["Key"] == "skyvault:managed" for t in s.get("Tags", []))
    ]
    assert managed == []


def test_crashed_backup_resumes_without_reading_deleted_snapshots(
    ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skyvault.engine.runner import JobRunner

    def crash(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt  # the process dies mid-copy

    with monkeypatch.context() as patch:
        patch.setattr(ec2_backup, "copy_snapshot", crash)
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])  # a dead process cleans nothing
        cli("--json", "backup", "ec2", ec2_env.instance_id)
    catalog = Catalog.open(ec2_env.env.state_dir)
    [job] = catalog.jobs()
    catalog.update_job(job.id, status="running")  # what a killed process leaves (its lease has expired)
    crashed_snapshots = set(catalog.job(job.id).steps["snapshot"]["result"]["snapshots"].values())
    assert len(catalog.live_intermediates(job.id)) == 1

    resumed = _ok(cli("--json", "jobs", "resume", job.id))
    point = catalog.recovery_point(resumed["recovery_point"])
    assert set(point.native.values()).isdisjoint(crashed_snapshots)
    live = {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert crashed_snapshots.isdisjoint(live) and set(point.native.values()) <= live
