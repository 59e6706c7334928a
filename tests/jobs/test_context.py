"""JobContext: steps recorded once and returned on resume, thread-safe steps, intermediates need a cleaner,
per-job API call counts that follow the job into its executor's threads, and a lost lease stops the next step."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from skyvault.aws.guard import CallCounter, bound_counter, counting_into
from skyvault.catalog import Catalog
from skyvault.errors import JobError, SkyvaultError
from skyvault.jobs import JobContext, ProgressEvent


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path)


def _context(catalog: Catalog, job_id: str, **kwargs: Any) -> JobContext:
    steps = catalog.job(job_id).steps
    return JobContext(job_id, catalog, None, steps=steps, has_cleaner=lambda t: t == "thing", **kwargs)  # type: ignore[arg-type]


def test_a_finished_step_is_recorded_and_returned_without_running_again(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    runs: list[str] = []

    def make(snapshot: str) -> dict[str, str]:
        runs.append(snapshot)
        return {"id": snapshot}

    first = _context(catalog, job.id)
    assert first.step("make", lambda: make("snap-1")) == {"id": "snap-1"}
    assert catalog.job(job.id).steps["make"]["status"] == "done"

    events: list[ProgressEvent] = []
    again = _context(catalog, job.id, progress=events.append)  # a new context, as a resumed job gets
    assert again.step("make", lambda: make("snap-2")) == {"id": "snap-1"}
    assert runs == ["snap-1"]
    assert any("done earlier" in e.message for e in events)


def test_a_failed_step_records_its_error_and_runs_again_on_resume(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})

    def boom() -> None:
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        _context(catalog, job.id).step("copy", boom)
    assert catalog.job(job.id).steps["copy"] == {"status": "failed", "error": "disk on fire"}
    assert _context(catalog, job.id).step("copy", lambda: 3) == 3


def test_steps_from_many_threads_are_all_recorded(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    context = _context(catalog, job.id)
    with context.executor(8) as pool:
        results = list(pool.map(lambda n: context.step(f"copy {n}", lambda: n * n), range(40)))
    assert results == [n * n for n in range(40)]
    recorded = catalog.job(job.id).steps
    assert {f"copy {n}" for n in range(40)} <= set(recorded)
    assert all(recorded[f"copy {n}"] == {**recorded[f"copy {n}"], "status": "done", "result": n * n} for n in range(40))


def test_progress_names_the_step_of_the_thread_that_reports(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    events: list[ProgressEvent] = []
    context = _context(catalog, job.id, progress=events.append)

    def copy() -> None:
        context.progress("blocks", 3, 10, "blocks")
        with context.executor(2) as pool:
            pool.submit(context.progress, "from a worker").result()

    context.step("copy vol-1", copy)
    context.progress("outside")
    assert events[0] == ProgressEvent(job.id, "copy vol-1", "blocks", 3, 10, "blocks")
    assert events[1].step == "copy vol-1" and events[1].message == "from a worker"
    assert events[2].step is None


def test_an_intermediate_needs_a_cleaner(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    context = _context(catalog, job.id)
    context.intermediate("thing", "t-1", "acct", "us-east-1")
    with pytest.raises(SkyvaultError, match="no driver declares a cleaner"):
        context.intermediate("unknown", "u-1", "acct", "us-east-1")
    assert [i.id for i in catalog.live_intermediates(job.id)] == ["t-1"]
    context.release("t-1")
    assert catalog.live_intermediates(job.id) == []


def test_the_cleanup_step_name_is_the_runners(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    with pytest.raises(SkyvaultError, match="reserved"):
        _context(catalog, job.id).step("cleanup", lambda: None)


def test_a_lost_lease_stops_the_job_at_the_next_step(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    lost = threading.Event()
    context = _context(catalog, job.id, lease_lost=lost)
    assert context.step("one", lambda: 1) == 1
    lost.set()
    with pytest.raises(JobError, match="another process took over") as raised:
        context.step("two", lambda: 2)
    assert raised.value.exit_code == 14
    assert "two" not in catalog.job(job.id).steps


def test_executor_tasks_count_into_the_jobs_counter() -> None:
    """Worker threads start with an empty context: the executor carries the job's counter into them."""
    counter = CallCounter()
    context = JobContext("job-x", None, None, steps={}, has_cleaner=bool, counter=counter)  # type: ignore[arg-type]

    def call(operation: str) -> None:
        found = bound_counter()
        assert found is not None, "the job's counter did not reach the worker thread"
        found.add(operation)

    with counting_into(counter), context.executor(4) as pool:
        list(pool.map(call, ["GetSnapshotBlock"] * 10 + ["ListSnapshotBlocks"]))
    plain = threading.Thread(target=lambda: seen.append(bound_counter()))
    seen: list[CallCounter | None] = []
    with counting_into(counter):
        plain.start()
        plain.join()
    assert seen == [None]  # a bare thread does not inherit it (why the executor exists)
    assert context.api_calls() == {"GetSnapshotBlock": 10, "ListSnapshotBlocks": 1}
