"""Steps are rows of their own: an upsert per step, states kept exactly, resets by name."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from skyvault.catalog import Catalog
from skyvault.catalog.models import JobStepRow
from skyvault.errors import NotFoundError

STATES: list[dict[str, Any]] = [
    {"status": "running", "started_at": "2026-12-01T12:00:00.123456+00:00"},
    {"status": "done", "result": {"snapshots": {"/dev/xvda": "snap-1"}}, "duration_s": 1.25},
    {"status": "done", "result": None, "duration_s": 0.0},
    {"status": "failed", "error": "boom"},
    {"status": "done", "deleted": 2},
    {"status": "failed", "deleted": 1, "leftovers": {"snap-9": "stuck"}},
    {},
]
# Values that do not fit their column are kept verbatim (in ``extra``; key order may differ).
ODD = {"status": 3, "error": {"code": "X"}, "duration_s": 2, "started_at": "yesterday", "result": [1, "a"]}


@pytest.mark.parametrize("state", [*STATES, ODD])
def test_a_state_reads_back_exactly(catalog: Catalog, state: dict[str, Any]) -> None:
    job = catalog.start_job("k", {})
    catalog.record_step(job.id, "step", state)
    read = catalog.job(job.id).steps["step"]
    assert read == state
    assert {k: type(v) for k, v in read.items()} == {k: type(v) for k, v in state.items()}
    if state is not ODD:
        assert list(read) == list(state)  # what skyvault writes keeps its key order (JSON output is stable)


def test_record_step_updates_one_row_in_place(catalog: Catalog) -> None:
    job = catalog.start_job("k", {})
    catalog.record_step(job.id, "capture", {"status": "running"})
    catalog.record_step(job.id, "snapshot", {"status": "running"})
    catalog.record_step(job.id, "capture", {"status": "done", "result": 1, "duration_s": 0.5})
    steps = catalog.job(job.id).steps
    assert list(steps) == ["capture", "snapshot"]  # first-run order, not update order
    assert steps["capture"] == {"status": "done", "result": 1, "duration_s": 0.5}
    with catalog.session() as session:
        assert session.scalar(select(func.count()).select_from(JobStepRow)) == 2
        finished = session.scalars(select(JobStepRow.finished_at).where(JobStepRow.name == "capture")).one()
        assert finished is not None  # the catalog dates terminal states


def test_steps_of_two_jobs_stay_apart(catalog: Catalog) -> None:
    first, second = catalog.start_job("k", {}), catalog.start_job("k", {})
    catalog.record_step(first.id, "a", {"status": "done"})
    catalog.record_step(second.id, "a", {"status": "failed"})
    assert {j.id: j.steps for j in catalog.jobs()} == {
        first.id: {"a": {"status": "done"}},
        second.id: {"a": {"status": "failed"}},
    }
    assert [j.steps for j in catalog.jobs(status="running")] == [{"a": {"status": "done"}}, {"a": {"status": "failed"}}]


def test_a_step_moves_updated_at(catalog: Catalog) -> None:
    job = catalog.start_job("k", {})
    catalog.record_step(job.id, "a", {"status": "running"})
    assert catalog.job(job.id).updated_at > job.updated_at


def test_reset_steps_keeps_only_the_named(catalog: Catalog) -> None:
    job = catalog.start_job("backup-ec2", {})
    for name in ("capture", "snapshot", "copy", "cleanup"):
        catalog.record_step(job.id, name, {"status": "done"})
    catalog.reset_steps(job.id, keep=["capture"])
    assert catalog.job(job.id).steps == {"capture": {"status": "done"}}
    catalog.record_step(job.id, "snapshot", {"status": "running"})
    assert list(catalog.job(job.id).steps) == ["capture", "snapshot"]
    catalog.reset_steps(job.id, keep=[])
    assert catalog.job(job.id).steps == {}


def test_steps_are_not_a_job_field_any_more(catalog: Catalog) -> None:
    job = catalog.start_job("k", {})
    with pytest.raises(TypeError, match="record_step"):
        catalog.update_job(job.id, steps={})


def test_steps_of_an_unknown_job(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.record_step("job-nope", "a", {"status": "done"})
    with pytest.raises(NotFoundError):
        catalog.reset_steps("job-nope", keep=[])
