"""The job runner: steps and cleanup, a lease held while the body runs and renewed by a heartbeat, resume
refused while another owner's lease is live, a lost lease stopping the job, cancel."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.kit import DriversForTests, ManualPace, SetClock
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.errors import AwsError, ConflictError, JobError, NotFoundError
from skyvault.jobs import JobContext, JobSpec, ProgressEvent
from skyvault.services.contract import JobEnvironment


def _runner(env: JobEnvironment, drivers: DriversForTests, **kwargs: Any) -> JobRunner:
    return JobRunner(env, drivers=drivers.lookup(), **kwargs)


def test_a_job_runs_its_steps_cleans_up_and_releases_its_lease(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests, events: list[ProgressEvent]
) -> None:
    seen: dict[str, Any] = {}

    def body(ctx: JobContext, spec: JobSpec) -> str:
        ctx.intermediate("thing", "a", "acct", "us-east-1")
        ctx.intermediate("thing", "b", "acct", "us-east-1")
        held = catalog.job(ctx.job_id)
        seen["owner"], seen["live"] = held.lease_owner, held.lease_live(datetime.now(UTC))
        return ctx.step("make", lambda: f"made {spec.params['x']}")

    drivers.add("backup-test", body)
    runner = _runner(env, drivers, owner="me:1:x")
    assert runner.run(JobSpec("backup-test", {"x": 1})) == "made 1"
    assert seen == {"owner": "me:1:x", "live": True}
    (job,) = catalog.jobs()
    assert job.status == "completed" and job.params == {"x": 1} and job.duration_s is not None
    assert job.steps["make"]["result"] == "made 1" and job.steps["cleanup"] == {"status": "done", "deleted": 2}
    assert sorted(drivers.deleted) == ["a", "b"] and catalog.live_intermediates() == []
    assert job.lease_owner is None and not job.lease_live(datetime.now(UTC))
    assert any(e.step == "cleanup" and "deleted intermediate" in e.message for e in events)


def test_a_failed_job_cleans_up_keeps_its_error_and_releases_its_lease(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    def body(ctx: JobContext, _spec: JobSpec) -> None:
        ctx.intermediate("thing", "temp", "acct", "us-east-1")
        ctx.intermediate("thing", "gone-never-made", "acct", "us-east-1")
        ctx.intermediate("thing", "stuck-1", "acct", "us-east-1")
        ctx.step("boom", lambda: (_ for _ in ()).throw(AwsError("copy failed", code="X")))

    drivers.add("backup-test", body)
    with pytest.raises(AwsError, match="copy failed"):
        _runner(env, drivers).run(JobSpec("backup-test"))
    (job,) = catalog.jobs()
    assert job.status == "failed" and "copy failed" in (job.error or "") and job.lease_owner is None
    assert drivers.deleted == ["temp"] and [i.id for i in catalog.live_intermediates()] == ["stuck-1"]
    assert set(job.steps["cleanup"]["leftovers"]) == {"stuck-1"}


def test_an_unknown_kind_is_refused_before_a_job_is_recorded(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    with pytest.raises(NotFoundError):
        _runner(env, drivers).run(JobSpec("backup-nothing"))
    assert catalog.jobs() == []


def test_resume_skips_finished_steps_after_removing_the_crashed_runs_intermediates(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    ran: list[str] = []
    fail = {"second": True}

    def second() -> str:
        ran.append("second")
        if fail["second"]:
            raise AwsError("throttled", code="Throttling")
        return "two"

    def first() -> str:
        ran.append("first")
        return "one"

    def body(ctx: JobContext, _spec: JobSpec) -> list[str]:
        one = ctx.step("first", first)
        ctx.intermediate("thing", f"temp-{len(ran)}", "acct", "us-east-1")
        return [one, ctx.step("second", second)]

    drivers.add("backup-test", body)
    with pytest.raises(AwsError):
        _runner(env, drivers).run(JobSpec("backup-test"))
    (job,) = catalog.jobs()
    catalog.record_intermediate(job.id, "thing", "left-by-crash", "acct", "us-east-1")
    fail["second"] = False
    assert _runner(env, drivers).resume(job.id) == ["one", "two"]
    assert ran == ["first", "second", "second"]
    assert drivers.prepared == [job.id] and "left-by-crash" in drivers.deleted
    assert catalog.job(job.id).status == "completed" and catalog.live_intermediates() == []


def test_resume_refuses_a_finished_job(env: JobEnvironment, catalog: Catalog, drivers: DriversForTests) -> None:
    drivers.add("backup-test", lambda ctx, spec: 1)
    runner = _runner(env, drivers)
    runner.run(JobSpec("backup-test"))
    (job,) = catalog.jobs()
    with pytest.raises(ConflictError, match="nothing to resume"):
        runner.resume(job.id)


def test_resume_of_a_live_job_is_refused_until_its_lease_expires(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    """Issue 12 item 6: a second process must not run a job whose owner is alive."""
    drivers.add("backup-test", lambda ctx, spec: ctx.step("only", lambda: "done"))
    job = catalog.start_job("backup-test", {}, owner="other-host:42:abcd", lease_s=120)
    catalog.record_intermediate(job.id, "thing", "theirs", "acct", "us-east-1")
    clock = SetClock()
    with pytest.raises(ConflictError, match="other-host:42:abcd") as refused:
        _runner(env, drivers, clock=clock).resume(job.id)
    assert refused.value.exit_code == 17
    assert drivers.deleted == [] and drivers.prepared == []  # nothing of the live job was touched
    clock.advance(121)
    assert _runner(env, drivers, clock=clock).resume(job.id) == "done"
    assert drivers.deleted == ["theirs"] and catalog.job(job.id).status == "completed"


def test_the_heartbeat_renews_the_lease_while_the_body_runs(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    started, finish = threading.Event(), threading.Event()
    job_ids: list[str] = []

    def body(ctx: JobContext, _spec: JobSpec) -> str:
        job_ids.append(ctx.job_id)
        started.set()
        assert finish.wait(60)
        return "ok"

    drivers.add("backup-test", body)
    clock, pace = SetClock(), ManualPace()
    runner = _runner(env, drivers, lease_s=100, clock=clock, pace=pace)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(runner.run(JobSpec("backup-test"))))
    worker.start()
    assert started.wait(60)
    for _ in range(3):
        clock.advance(25)  # a quarter of the lease
        pace.tick()
        held = catalog.job(job_ids[0])
        assert held.lease_expires_at is not None
        assert held.lease_expires_at.replace(tzinfo=UTC) == clock.now + timedelta(seconds=100)
    assert held.lease_live(clock.now + timedelta(seconds=99))  # 175 s after the start: alive thanks to renewals
    assert set(pace.intervals) == {25.0}  # every lease_s / 4
    finish.set()
    worker.join()
    assert results == ["ok"] and catalog.job(job_ids[0]).lease_owner is None


def test_a_job_whose_lease_was_taken_over_stops_at_its_next_step_and_leaves_the_job_alone(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    started = threading.Event()
    job_ids: list[str] = []

    def body(ctx: JobContext, _spec: JobSpec) -> None:
        job_ids.append(ctx.job_id)
        ctx.step("one", lambda: 1)
        ctx.intermediate("thing", "mine", "acct", "us-east-1")
        started.set()
        assert ctx.lease_lost.wait(60)
        ctx.step("two", lambda: 2)

    drivers.add("backup-test", body)
    pace = ManualPace()
    runner = _runner(env, drivers, owner="slow:1:a", lease_s=60, pace=pace)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(JobSpec("backup-test"))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(60)
    # The owner looked dead long enough (e.g. a frozen VM) and another process took the job over.
    assert catalog.acquire_lease(job_ids[0], "rescuer:2:b", 60, now=datetime.now(UTC) + timedelta(seconds=61))
    pace.release()
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], JobError)
    job = catalog.job(job_ids[0])
    assert job.status == "running" and job.lease_owner == "rescuer:2:b" and "two" not in job.steps
    assert drivers.deleted == [] and [i.id for i in catalog.live_intermediates()] == ["mine"]


def test_cancel_refuses_a_live_job_unless_forced(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    job = catalog.start_job("backup-test", {}, owner="other:1:a", lease_s=120)
    catalog.record_intermediate(job.id, "thing", "temp", "acct", "us-east-1")
    runner = _runner(env, drivers)
    with pytest.raises(ConflictError, match="running in other:1:a"):
        runner.cancel(job.id)
    assert catalog.job(job.id).status == "running" and drivers.deleted == []
    assert runner.cancel(job.id, force=True) == {"job": job.id, "status": "cancelled", "leftovers": []}
    cancelled = catalog.job(job.id)
    assert cancelled.status == "cancelled" and cancelled.lease_owner is None and drivers.deleted == ["temp"]
    with pytest.raises(ConflictError, match="already cancelled"):
        runner.cancel(job.id)


def test_cancel_of_a_crashed_job_needs_no_force(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    job = catalog.start_job("backup-test", {}, owner="gone:1:a", lease_s=120)
    runner = _runner(env, drivers, clock=SetClock(datetime.now(UTC) + timedelta(seconds=121)))
    assert runner.cancel(job.id)["status"] == "cancelled"
