"""The generic job runner: steps, resume, intermediates recorded first, cleanup on success and on failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyvault.catalog import Catalog, IntermediateResource
from skyvault.engine.jobs import JobContext, JobRunner, ProgressEvent, register_cleaner
from skyvault.errors import AwsError, NotFoundError, SkyvaultError

DELETED: list[str] = []


def _delete(_factory: Any, item: IntermediateResource) -> None:
    if item.id.startswith("gone-"):
        raise NotFoundError(item.id)
    if item.id.startswith("stuck-"):
        raise AwsError("still in use", code="InvalidSnapshotState")
    DELETED.append(item.id)


register_cleaner("test-thing", _delete)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    DELETED.clear()
    return Catalog.open(tmp_path)


def test_success_runs_steps_and_deletes_intermediates_newest_first(catalog: Catalog) -> None:
    events: list[ProgressEvent] = []
    runner = JobRunner(catalog, factory=None, progress=events.append)

    def body(job: JobContext) -> str:
        job.intermediate("test-thing", "a", "acct", "us-east-1")
        job.intermediate("test-thing", "b", "acct", "us-east-1")
        return job.step("make", lambda: "made")

    assert runner.run("test", {"x": 1}, body) == "made"
    assert sorted(DELETED) == ["a", "b"]
    (job,) = catalog.jobs()
    assert job.status == "completed" and job.params == {"x": 1} and job.duration_s is not None
    assert job.steps["make"]["status"] == "done" and job.steps["make"]["result"] == "made"
    assert job.steps["cleanup"] == {"status": "done", "deleted": 2}
    assert catalog.live_intermediates() == []
    assert any(e.step == "cleanup" and "deleted intermediate" in e.message for e in events)


def test_failure_cleans_up_and_keeps_the_original_error(catalog: Catalog) -> None:
    def body(job: JobContext) -> None:
        job.intermediate("test-thing", "temp", "acct", "us-east-1")
        job.intermediate("test-thing", "gone-never-created", "acct", "us-east-1")
        job.step("boom", lambda: (_ for _ in ()).throw(AwsError("copy failed", code="X")))

    with pytest.raises(AwsError, match="copy failed"):
        JobRunner(catalog, None).run("test", {}, body)
    (job,) = catalog.jobs()
    assert job.status == "failed" and "copy failed" in (job.error or "")
    assert job.steps["boom"]["status"] == "failed"
    assert DELETED == ["temp"] and catalog.live_intermediates() == []


def test_cleaner_failure_is_recorded_not_raised(catalog: Catalog) -> None:
    def body(job: JobContext) -> int:
        job.intermediate("test-thing", "stuck-1", "acct", "us-east-1")
        job.intermediate("test-thing", "fine", "acct", "us-east-1")
        return 7

    assert JobRunner(catalog, None).run("test", {}, body) == 7
    (job,) = catalog.jobs()
    assert job.status == "completed-with-leftovers"
    assert set(job.steps["cleanup"]["leftovers"]) == {"stuck-1"} and DELETED == ["fine"]
    assert [i.id for i in catalog.live_intermediates()] == ["stuck-1"]


def test_resume_skips_finished_steps(catalog: Catalog) -> None:
    calls: list[str] = []

    def recorded(name: str, result: str) -> Callable[[], str]:
        def step() -> str:
            calls.append(name)
            return result

        return step

    def body(job: JobContext) -> str:
        first = job.step("snapshot", recorded("snapshot", "snap-1"))
        if len(calls) == 1:
            raise SkyvaultError("crashed after the snapshot")
        return first + job.step("copy", recorded("copy", "+copy"))

    runner = JobRunner(catalog, None)
    with pytest.raises(SkyvaultError):
        runner.run("test", {}, body)
    (job,) = catalog.jobs()
    calls.append("restart")
    assert runner.resume(job.id, body) == "snap-1+copy"
    assert calls == ["snapshot", "restart", "copy"]  # the snapshot was not taken twice
    assert catalog.job(job.id).status == "completed"


def test_unknown_intermediate_type_is_a_bug(catalog: Catalog) -> None:
    def body(job: JobContext) -> None:
        job.intermediate("no-such-type", "x", "acct", "us-east-1")

    with pytest.raises(SkyvaultError, match="no cleaner"):
        JobRunner(catalog, None).run("test", {}, body)


def test_resume_after_a_crash_removes_the_crashed_runs_intermediates_first(catalog: Catalog) -> None:
    # A killed process ran no cleanup: its job is "running" with a live intermediate and one finished step.
    job = catalog.start_job("test", {})
    catalog.record_step(job.id, "snapshot", {"status": "done", "result": "snap-1"})
    catalog.record_intermediate(job.id, "test-thing", "half-made-copy", "acct", "us-east-1")
    seen_at_start: list[str] = []

    def body(context: JobContext) -> str:
        seen_at_start.extend(DELETED)
        return context.step("snapshot", lambda: "taken again")

    assert JobRunner(catalog, None).resume(job.id, body) == "snap-1"
    assert seen_at_start == ["half-made-copy"] and catalog.live_intermediates() == []
