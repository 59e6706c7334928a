"""The orphan rules of 'skyvault cleanup', decided without AWS: what is old enough, whose job is over, what a
recovery point still references, and what never qualifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from skyvault.catalog import Job
from skyvault.services.contract import SweepScope
from skyvault.services.ec2.cleanup import _judge
from skyvault.services.ec2.tagging import ROLE_BASE, ROLE_INTERMEDIATE, ROLE_RESTORED, skyvault_tags

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OLD = NOW - 2 * HOUR


def _job(status: str, updated: datetime) -> Job:
    return Job(
        id="job-1", kind="backup-ec2", status=status, created_at=updated, updated_at=updated, params={}, steps={}
    )


def judge(
    tags: dict[str, str],
    *,
    jobs: dict[str, Job] | None = None,
    created: datetime = OLD,
    live: frozenset[str] = frozenset(),
    **kw: Any,
) -> str | None:
    return _judge(
        tags,
        created,
        is_snapshot=kw.get("is_snapshot", True),
        snapshot_id=kw.get("snapshot_id", "snap-1"),
        jobs=jobs or {},
        referenced=kw.get("referenced", set()),
        scope=SweepScope(older_than=HOUR, now=NOW, live_jobs=live),
    )


def test_only_managed_and_old_enough() -> None:
    tags = skyvault_tags(job_id="job-1", source="i-1", role=ROLE_INTERMEDIATE)
    assert judge({**tags, "skyvault:managed": "false"}) is None
    assert judge({"Name": "mine"}) is None
    assert judge(tags, created=NOW - HOUR / 2) is None
    assert judge(tags) is not None


def test_intermediate_of_a_live_job_stays_while_its_lease_is_live() -> None:
    tags = skyvault_tags(job_id="job-1", source="i-1", role=ROLE_INTERMEDIATE)
    running = {"job-1": _job("running", NOW - 3 * HOUR)}  # no step for hours: a long copy, or a crash
    assert judge(tags, jobs=running, live=frozenset({"job-1"})) is None  # its heartbeat runs: it stays
    assert "job-1" in (judge(tags, jobs=running) or "")  # its lease expired: crashed
    assert "failed" in (judge(tags, jobs={"job-1": _job("failed", OLD)}) or "")
    assert "unknown" in (judge(tags) or "")  # an intermediate never outlives its job, whoever ran it


def test_snapshots_of_recovery_points_are_judged_by_this_catalog_only() -> None:
    tags = skyvault_tags(job_id="job-1", source="i-1", role=ROLE_BASE)
    failed = {"job-1": _job("failed", OLD)}
    assert judge(tags, jobs=failed) is not None  # crashed between snapshot and catalog
    assert judge(tags, jobs=failed, referenced={"snap-1"}) is None  # a recovery point uses it
    assert judge(tags) is None  # another catalog's job: not ours to judge
    assert judge(tags, jobs=failed, is_snapshot=False) is None


def test_restored_resources_are_never_orphans() -> None:
    tags = skyvault_tags(job_id="job-1", source="rp-1", role=ROLE_RESTORED)
    assert judge(tags, jobs={"job-1": _job("failed", OLD)}) is None
