"""The generic job runner every backup and restore uses: steps, progress, intermediates, cleanup, resume.

A job is one run of a body function over a ``JobContext``::

    runner = JobRunner(catalog, factory, progress=callback)
    result = runner.run("backup-rds", {"resources": [...]}, lambda job: body(job))

Inside the body:

- ``job.step(name, fn)`` runs ``fn`` once and records its JSON-able result in the catalog; when the job is
  resumed (``runner.resume(job_id, body)``) finished steps return their recorded result instead of running again,
  so a crash mid-job never repeats a snapshot that already exists. Resuming first removes the intermediates the
  crashed run left (they belong to unfinished steps, which run again).
- ``job.intermediate(resource_type, resource_id, account, region)`` records a temporary resource in the catalog
  **before** the code creates it; a crash between the two leaves a record that cleanup treats as already gone.
- ``job.progress(message, done, total)`` forwards progress to the caller's callback (the CLI draws it; drivers
  never print).

When the body returns or raises, every live intermediate of the job is deleted by the cleaner registered for its
type (``register_cleaner``); a cleaner failure is recorded in the job (step ``cleanup``) and left for ``skyvault
cleanup``, and never hides the body's own error. The job ends ``completed`` or ``failed`` with its duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from skyvault.catalog import Catalog, IntermediateResource
from skyvault.errors import NotFoundError, SkyvaultError

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    job_id: str
    step: str | None
    message: str
    done: float | None = None
    total: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]
Cleaner = Callable[[Any, IntermediateResource], None]
"""Deletes one intermediate: ``(client factory, record)``. Raise ``NotFoundError`` if it is already gone."""

_CLEANERS: dict[str, Cleaner] = {}


def register_cleaner(resource_type: str, cleaner: Cleaner) -> None:
    """Register how to delete intermediates of ``resource_type`` (done by the driver that creates them)."""
    _CLEANERS[resource_type] = cleaner


def cleaner_for(resource_type: str) -> Cleaner | None:
    return _CLEANERS.get(resource_type)


def _no_progress(_: ProgressEvent) -> None:
    return None


class JobContext:
    """What a job body sees: its ID, steps, intermediates and progress."""

    def __init__(self, runner: JobRunner, job_id: str, steps: dict[str, Any]) -> None:
        self._runner = runner
        self.job_id = job_id
        self._steps = dict(steps)
        self._current: str | None = None

    @property
    def catalog(self) -> Catalog:
        return self._runner.catalog

    @property
    def factory(self) -> Any:
        return self._runner.factory

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` as the named step, once per job (a resumed job gets the recorded result back)."""
        recorded = self._steps.get(name)
        if isinstance(recorded, dict) and recorded.get("status") == "done":
            self.progress(f"{name}: done earlier, resuming after it")
            return recorded.get("result")  # type: ignore[return-value]
        started = time.monotonic()
        previous, self._current = self._current, name
        self._record(name, {"status": "running", "started_at": datetime.now(UTC).isoformat()})
        try:
            result = fn()
        except BaseException as exc:
            self._record(name, {"status": "failed", "error": str(exc)[:2000]})
            raise
        finally:
            self._current = previous
        self._record(name, {"status": "done", "result": result, "duration_s": round(time.monotonic() - started, 3)})
        return result

    def intermediate(self, resource_type: str, resource_id: str, account: str, region: str) -> None:
        """Record a temporary resource BEFORE creating it; it is deleted when the job ends, however it ends."""
        if cleaner_for(resource_type) is None:
            raise SkyvaultError(f"no cleaner registered for intermediate type {resource_type!r} (a skyvault bug)")
        self.catalog.record_intermediate(self.job_id, resource_type, resource_id, account, region)

    def release(self, resource_id: str) -> None:
        """The body deleted an intermediate itself (e.g. to free a name): mark it gone."""
        self.catalog.mark_deleted(resource_id)

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None:
        self._runner.progress(ProgressEvent(self.job_id, self._current, message, done, total))

    def _record(self, name: str, state: dict[str, Any]) -> None:
        self._steps[name] = state
        self.catalog.record_step(self.job_id, name, state)


class JobRunner:
    def __init__(self, catalog: Catalog, factory: Any, *, progress: ProgressCallback | None = None) -> None:
        self.catalog = catalog
        self.factory = factory
        self.progress: ProgressCallback = progress or _no_progress

    def run(self, kind: str, params: dict[str, Any], body: Callable[[JobContext], T]) -> T:
        job = self.catalog.start_job(kind, params)
        return self._execute(job.id, {}, body)

    def resume(self, job_id: str, body: Callable[[JobContext], T]) -> T:
        """Run ``body`` again under an existing job: finished steps are not repeated."""
        self.catalog.job(job_id)  # NotFoundError for an unknown job, before anything changes
        self.catalog.update_job(job_id, status="running", error=None)
        # Intermediates left by a crash belong to steps that did not finish and will run again: remove them first
        # so the re-run does not trip over its own half-made resources.
        self.cleanup(job_id)
        steps = {name: state for name, state in self.catalog.job(job_id).steps.items() if name != "cleanup"}
        return self._execute(job_id, steps, body)

    def _execute(self, job_id: str, steps: dict[str, Any], body: Callable[[JobContext], T]) -> T:
        context = JobContext(self, job_id, steps)
        started = time.monotonic()
        try:
            result = body(context)
        except BaseException as exc:
            self.cleanup(job_id, context)
            self.catalog.update_job(
                job_id, status="failed", error=str(exc)[:4000], duration_s=round(time.monotonic() - started, 3)
            )
            raise
        leftovers = self.cleanup(job_id, context)
        self.catalog.update_job(
            job_id,
            status="completed" if not leftovers else "completed-with-leftovers",
            duration_s=round(time.monotonic() - started, 3),
        )
        return result

    def cleanup(self, job_id: str, context: JobContext | None = None) -> list[str]:
        """Delete the job's live intermediates (newest first); return the IDs that could not be deleted."""
        items = sorted(self.catalog.live_intermediates(job_id), key=lambda i: i.created_at, reverse=True)
        failures: dict[str, str] = {}
        for item in items:
            cleaner = cleaner_for(item.resource_type)
            if cleaner is None:
                failures[item.id] = f"no cleaner for {item.resource_type}"
                continue
            try:
                cleaner(self.factory, item)
            except NotFoundError:
                pass  # recorded before creation and never created, or already deleted: nothing left
            except Exception as exc:  # keep going: one stuck intermediate must not strand the others
                failures[item.id] = str(exc)[:500]
                continue
            self.catalog.mark_deleted(item.id)
            self.progress(ProgressEvent(job_id, "cleanup", f"deleted intermediate {item.resource_type} {item.id}"))
        if items:
            state: dict[str, Any] = {
                "status": "done" if not failures else "failed",
                "deleted": len(items) - len(failures),
            }
            if failures:
                state["leftovers"] = failures
            self.catalog.record_step(job_id, "cleanup", state)
        return list(failures)
