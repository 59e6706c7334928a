"""Cleanup: a failed job leaves nothing; 'skyvault cleanup' removes crashed jobs' leftovers by catalog record, tag
and age, and never touches a resource skyvault did not tag (or one a restore made for the user)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.errors import AwsError, NotFoundError
from skyvault.services.ec2 import backup as ec2_backup
from skyvault.services.ec2.cleanup import SNAPSHOTS
from skyvault.services.ec2.tagging import ROLE_BASE, ROLE_INTERMEDIATE, ROLE_RESTORED, skyvault_tags, tag_list

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _managed_snapshots(ec2_env: Ec2Env) -> list[dict[str, Any]]:
    snapshots = ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return [s for s in snapshots if any(t["Key"] == "skyvault:managed" for t in s.get("Tags", []))]


def test_failed_backup_deletes_its_snapshots(ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_copy(*_: Any, **__: Any) -> Any:
        raise AwsError("simulated failure while copying")

    monkeypatch.setattr(ec2_backup, "copy_snapshot", broken_copy)
    result = cli("--json", "backup", "ec2", ec2_env.instance_id)
    assert result.exit_code == AwsError.exit_code
    assert _managed_snapshots(ec2_env) == []
    catalog = Catalog.open(ec2_env.env.state_dir)
    [job] = catalog.jobs()
    assert job.status == "failed" and job.steps["cleanup"]["deleted"] == 1
    assert catalog.recovery_points(kind="ec2") == []


def _snapshot(ec2_env: Ec2Env, volume_id: str, tags: dict[str, str] | None) -> str:
    params: dict[str, Any] = {"VolumeId": volume_id}
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "snapshot", "Tags": tag_list(tags)}]
    return str(ec2_env.ec2().create_snapshot(**params)["SnapshotId"])


def test_cleanup_removes_only_crashed_jobs_leftovers(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    crashed = catalog.start_job("backup-ec2", {"instance_id": ec2_env.instance_id})  # "running", never finished
    token = "svt-crashed0001"
    catalog.record_intermediate(crashed.id, SNAPSHOTS, token, "admin", "us-east-1")
    temp = _snapshot(
        ec2_env, ec2_env.root_volume, skyvault_tags(job_id=crashed.id, source="x", role=ROLE_INTERMEDIATE, token=token)
    )
    base = _snapshot(ec2_env, ec2_env.data_volume, skyvault_tags(job_id=crashed.id, source="x", role=ROLE_BASE))
    untagged = _snapshot(ec2_env, ec2_env.root_volume, None)
    users = _snapshot(ec2_env, ec2_env.root_volume, {"team": "payments", "skyvault:job": crashed.id})  # not managed
    restored = _snapshot(ec2_env, ec2_env.data_volume, skyvault_tags(job_id=crashed.id, source="x", role=ROLE_RESTORED))
    ours = _snapshot(ec2_env, ec2_env.data_volume, skyvault_tags(job_id="job-elsewhere", source="x", role=ROLE_BASE))
    # A real, completed backup: its base snapshots are referenced by a recovery point and must stay.
    point = cli("--json", "backup", "ec2", ec2_env.instance_id).json()
    kept_by_point = set(catalog.recovery_point(point["recovery_point"]).native.values())

    # Default grace period: every tagged resource is too young for the sweep; the catalog's intermediates of a job
    # that holds no lease go whatever their age (a live job's heartbeat would keep its lease).
    young = cli("--json", "cleanup", "--dry-run").json()
    assert [i["id"] for i in young["intermediates"]] == [token] and young["orphans"] == []

    planned = cli("--json", "cleanup", "--dry-run", "--older-than", "0").json()
    assert [i["id"] for i in planned["intermediates"]] == [token]
    assert {o["id"] for o in planned["orphans"]} == {temp, base}
    assert {temp, base} <= {s["SnapshotId"] for s in _managed_snapshots(ec2_env)}  # dry run changed nothing

    done = cli("--json", "cleanup", "--older-than", "0").json()
    assert done["failed"] == []
    left = {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert temp not in left and base not in left
    assert {untagged, users, restored, ours} <= left
    assert kept_by_point <= left
    assert catalog.job(crashed.id).status == "abandoned"
    again = cli("--json", "cleanup", "--older-than", "0").json()
    assert again["intermediates"] == [] and again["orphans"] == []


def _pending_snapshot(ec2_env: Ec2Env, tags: dict[str, str]) -> str:
    """A snapshot still in progress (``pending``): one the EBS direct APIs were given and not yet completed."""
    ebs: Any = ec2_env.setup.client("admin", "us-east-1", "ebs").raw
    return str(ebs.start_snapshot(VolumeSize=1, Tags=tag_list(tags), Timeout=60)["SnapshotId"])


def _state(ec2_env: Ec2Env, snapshot_id: str) -> str | None:
    try:
        found = ec2_env.ec2().describe_snapshots(OwnerIds=["self"], SnapshotIds=[snapshot_id])["Snapshots"]
    except NotFoundError:
        return None
    return str(found[0]["State"]) if found else None


def test_cleanup_never_deletes_a_snapshot_in_progress(ec2_env: Ec2Env, cli: Cli) -> None:
    # A crashed job's snapshot that is still pending may be a first snapshot of a large volume or a cross-region
    # copy still running: the sweep leaves it for a later run (it is not an orphan yet) instead of deleting it
    # (an intermediate) or failing on it (a backup's own snapshot).
    catalog = Catalog.open(ec2_env.env.state_dir)
    crashed = catalog.start_job("backup-ec2", {"instance_id": ec2_env.instance_id})
    base = _pending_snapshot(ec2_env, skyvault_tags(job_id=crashed.id, source="x", role=ROLE_BASE))
    temp = _pending_snapshot(ec2_env, skyvault_tags(job_id=crashed.id, source="x", role=ROLE_INTERMEDIATE))
    done = cli("--json", "cleanup", "--older-than", "0").json()
    assert done["failed"] == [] and {o["id"] for o in done["orphans"]} & {base, temp} == set()
    assert _state(ec2_env, base) == "pending" and _state(ec2_env, temp) == "pending"


def test_a_backups_token_snapshots_go_except_those_still_in_progress(ec2_env: Ec2Env, cli: Cli) -> None:
    # A backup records its snapshots by token only (CreateSnapshots answers with several IDs): the job-end cleaner
    # deletes those that are completed and keeps the intermediate for a later run while one is still in progress.
    catalog = Catalog.open(ec2_env.env.state_dir)
    crashed = catalog.start_job("backup-ec2", {"instance_id": ec2_env.instance_id})
    token = "svt-crashed0002"
    catalog.record_intermediate(crashed.id, SNAPSHOTS, token, "admin", "us-east-1")
    tags = skyvault_tags(job_id=crashed.id, source="x", role=ROLE_BASE, token=token)
    pending = _pending_snapshot(ec2_env, tags)
    finished = _snapshot(ec2_env, ec2_env.data_volume, tags)
    deadline = time.monotonic() + 30
    while _state(ec2_env, finished) != "completed":  # the lab's eventual consistency: visible after a moment
        assert time.monotonic() < deadline
        time.sleep(0.2)
    report = cli("--json", "cleanup").json()
    assert _state(ec2_env, finished) is None  # deleted
    assert _state(ec2_env, pending) == "pending"  # never deleted while in progress
    assert [f["id"] for f in report["failed"]] == [token]  # kept as a leftover: a later cleanup retries it
    assert [i.id for i in catalog.live_intermediates()] == [token]
