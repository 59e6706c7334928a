"""Kills at the last steps of an EC2 backup, then ``jobs resume`` (issue 12 item 5), and volumes copied in
parallel (issue 9). A kill is simulated by a ``KeyboardInterrupt`` in the step, with the runner's end-of-job
cleanup disabled (a dead process cleans nothing) and the job left ``running`` with no live lease."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.jobs.context import JobContext
from skyvault.services.ec2 import backup as ec2_backup
from skyvault.services.ec2 import launch, snapshots
from skyvault.services.ec2.copy import copy_snapshot

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.json()


def _live_snapshots(ec2_env: Ec2Env) -> set[str]:
    return {s["SnapshotId"] for s in ec2_env.ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}


@contextlib.contextmanager
def killed_at(owner: Any, name: str) -> Iterator[None]:
    """Inside: the first call of ``owner.name`` kills the process (later calls are real) and the runner's
    end-of-job cleanup does nothing (a dead process cleans nothing). Resume outside, with both restored."""
    real = getattr(owner, name)
    calls = {"n": 0}

    def first_call_dies(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])
        patch.setattr(owner, name, first_call_dies)
        yield


def _crashed_job(catalog: Catalog, kind: str = "backup-ec2") -> str:
    [job] = [j for j in catalog.jobs() if j.kind == kind and j.status != "completed"]
    catalog.update_job(job.id, status="running")  # what a killed process leaves; its lease is not renewed
    return job.id


def test_kill_while_retiring_bases_then_resume_retires_them(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    first = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    bases = set(catalog.recovery_point(first).native.values())
    assert len(bases) == 2 and bases <= _live_snapshots(ec2_env)

    with killed_at(snapshots, "delete_managed_snapshot"):
        cli("--json", "backup", "ec2", ec2_env.instance_id)  # dies deleting the first base
    job_id = _crashed_job(catalog)
    steps = catalog.job(job_id).steps
    assert next(iter(steps)) == "plan" and steps["plan"]["result"]["previous_point"] == first
    assert steps["record"]["status"] == "done" and steps["retire bases"]["status"] != "done"
    assert bases <= _live_snapshots(ec2_env)

    resumed = _ok(cli("--json", "jobs", "resume", job_id))
    assert resumed["recovery_point"] == steps["plan"]["result"]["point_id"]
    assert bases.isdisjoint(_live_snapshots(ec2_env))  # retired on resume, not left forever
    previous = catalog.recovery_point(first)
    assert previous.native == {} and set(previous.captured_config["retired_snapshots"]) == bases
    own = set(catalog.recovery_point(resumed["recovery_point"]).native.values())
    assert own <= _live_snapshots(ec2_env)  # the job's own bases stay for the next incremental copy


def test_kill_after_the_point_is_written_then_resume_makes_no_second_point(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    with killed_at(JobContext, "release"):  # the point row is written just before the release
        cli("--json", "backup", "ec2", ec2_env.instance_id)
    job_id = _crashed_job(catalog)
    [written] = [p for p in catalog.recovery_points(kind="ec2", status=None) if p.job_id == job_id]
    assert len(catalog.live_intermediates(job_id)) == 1  # the snapshots were still the job's when it died

    resumed = _ok(cli("--json", "jobs", "resume", job_id))
    points = [p for p in catalog.recovery_points(kind="ec2", status=None) if p.job_id == job_id]
    assert [p.id for p in points] == [written.id] == [resumed["recovery_point"]]
    assert set(points[0].native.values()) <= _live_snapshots(ec2_env)  # resume did not delete the point's snapshots
    assert catalog.live_intermediates(job_id) == []
    assert catalog.job(job_id).status == "completed"


def test_kill_before_the_point_is_written_then_resume_snapshots_again(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    with killed_at(Catalog, "put_recovery_point"):
        cli("--json", "backup", "ec2", ec2_env.instance_id)
    job_id = _crashed_job(catalog)
    crashed = set(catalog.job(job_id).steps["snapshot"]["result"]["snapshots"].values())

    resumed = _ok(cli("--json", "jobs", "resume", job_id))
    point = catalog.recovery_point(resumed["recovery_point"])
    assert point.id == catalog.job(job_id).steps["plan"]["result"]["point_id"]
    assert set(point.native.values()).isdisjoint(crashed) and crashed.isdisjoint(_live_snapshots(ec2_env))


def test_volumes_of_one_instance_are_copied_at_the_same_time(
    ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_copying = threading.Barrier(2, timeout=60)  # one copy after the other would break it: the backup fails

    def copy_alongside(*args: Any, **kwargs: Any) -> Any:
        both_copying.wait()
        return copy_snapshot(*args, **kwargs)

    monkeypatch.setattr(ec2_backup, "copy_snapshot", copy_alongside)
    result = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    assert set(result["stats"]["volumes"]) == {ec2_env.root_volume, ec2_env.data_volume}
    assert result["stats"]["api_calls"]["GetSnapshotBlock"] == 24 + 16  # reads in the pool count for the job


def test_restore_killed_after_writing_snapshots_resumes_with_new_ones(ec2_env: Ec2Env, cli: Cli) -> None:
    catalog = Catalog.open(ec2_env.env.state_dir)
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    with killed_at(launch, "register_image"):  # dies after the library was written into new snapshots
        cli("--json", "restore", point, "--from", "library")
    job_id = _crashed_job(catalog, "restore-ec2")
    written = set(catalog.job(job_id).steps["write snapshots"]["result"]["snapshots"].values())
    assert written <= _live_snapshots(ec2_env)

    restored = _ok(cli("--json", "jobs", "resume", job_id))
    assert restored["from"] == "library" and restored["instance_id"]
    assert written.isdisjoint(restored["snapshot_ids"])  # written again: the crashed run's were intermediates
    assert written.isdisjoint(_live_snapshots(ec2_env)) and catalog.live_intermediates(job_id) == []


def test_backups_side_by_side_leave_no_base_forever(ec2_env: Ec2Env, cli: Cli) -> None:
    """Two backups of one instance that ran at the same time both planned from the same previous point; the one
    recorded last must retire the other's bases too (it supersedes them), or they are never deleted."""
    catalog = Catalog.open(ec2_env.env.state_dir)
    first = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]
    side = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]  # planned from `first`
    side_bases = set(catalog.recovery_point(side).native.values())
    assert side_bases and side_bases <= _live_snapshots(ec2_env)

    # The other backup planned before `side` was recorded: its previous point is `first` too.
    planned_from_first = catalog.recovery_point(first)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ec2_backup, "previous_copy_point", lambda *args, **kwargs: planned_from_first)
        last = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))["recovery_point"]

    own = set(catalog.recovery_point(last).native.values())
    live = _live_snapshots(ec2_env)
    assert own <= live
    assert side_bases.isdisjoint(live)  # superseded by the newest point: retired, not kept forever
    assert set(catalog.recovery_point(side).captured_config["retired_snapshots"]) == side_bases
