"""The job runner: runs a ``JobSpec`` under a lease, resumes it in any process, cleans up after it.

::

    runner = JobRunner(env)                       # env: the catalog, clients, library opener, progress callback
    result = runner.run(JobSpec("backup-rds", {...}))
    result = runner.resume(job_id)                # here or in another process, after a crash

``run`` records the job (kind and parameters: all it takes to run it again) with a lease held by this runner's
``owner``, and calls the body its driver declares (``registry.job_body``) with a ``JobContext``. While the body
runs, a heartbeat thread renews the lease every ``lease_s / 4``; a job is dead only when its lease has expired,
so ``skyvault cleanup`` and ``jobs resume``/``cancel`` in other processes leave a live job alone however long a
step takes. If a renewal finds another owner (the lease had expired and someone resumed the job), the context's
``lease_lost`` is set and the body stops at its next step, leaving the job, its steps and its intermediates to
the new owner.

When the body returns or raises, every live intermediate of the job is deleted by its driver's cleaner
(``registry.cleaner_for``); a cleaner failure is recorded in the job (step ``cleanup``) and left for ``skyvault
cleanup``, and never hides the body's own error. The job ends ``completed``, ``completed-with-leftovers`` or
``failed`` with its duration, and the lease is released.

``resume`` takes the lease (refused with ``ConflictError`` while another owner's is live), lets the driver
forget what must run again (``prepare_resume``), deletes the intermediates the crashed run left (they belong to
steps that did not finish, which run again) and runs the body again: finished steps return their recorded
results instead of running twice. Every AWS call made while the body runs, in its thread or in the context's
executors, counts for this job only (``JobContext.api_calls``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from skyvault.aws.guard import CallCounter, counting_into
from skyvault.catalog import Catalog
from skyvault.errors import ConflictError, NotFoundError
from skyvault.jobs.context import CLEANUP_STEP, JobContext, ProgressEvent
from skyvault.jobs.spec import JobSpec
from skyvault.services import registry
from skyvault.services.contract import Cleaner, JobBody, JobEnvironment, ResumePreparer

log = logging.getLogger(__name__)

FINISHED = ("completed", "completed-with-leftovers", "cancelled")
"""Job states with nothing left to resume or cancel."""

Clock = Callable[[], datetime]


class Pace(Protocol):
    """Waits ``seconds`` between heartbeats, or less when ``stop`` is set; returns True to stop beating."""

    def __call__(self, stop: threading.Event, seconds: float, /) -> bool: ...


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _wait_on_stop(stop: threading.Event, seconds: float) -> bool:
    return stop.wait(seconds)


def default_owner() -> str:
    """``host:pid:random``: unique per runner, and says which machine and process holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _registry_preparer(job_kind: str) -> ResumePreparer:
    return registry.driver_for_kind(JobSpec(job_kind).subject).prepare_resume


@dataclass(frozen=True)
class DriverLookup:
    """Where the runner finds a job kind's body and resume preparer, and an intermediate type's cleaner.

    The registry by default; tests of the runner itself give it their own small bodies.
    """

    body: Callable[[str], JobBody] = registry.job_body
    prepare_resume: Callable[[str], ResumePreparer] = _registry_preparer
    cleaner: Callable[[str], Cleaner | None] = registry.cleaner_for


class Heartbeat:
    """Renews one job's lease every ``lease_s / 4`` on its own thread; sets ``lost`` when someone else holds it."""

    def __init__(
        self,
        catalog: Catalog,
        job_id: str,
        owner: str,
        lease_s: float,
        *,
        lost: threading.Event,
        clock: Clock = _wall_clock,
        pace: Pace = _wait_on_stop,
    ) -> None:
        self.catalog = catalog
        self.job_id = job_id
        self.owner = owner
        self.lease_s = lease_s
        self.lost = lost
        self._clock = clock
        self._pace = pace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id}", daemon=True)

    def beat(self) -> bool:
        """Renew the lease once; False (and ``lost`` set) when another owner holds it now."""
        try:
            renewed = self.catalog.renew_lease(self.job_id, self.owner, self.lease_s, now=self._clock())
        except Exception as exc:  # a busy or unreachable catalog: try again next beat, the lease has slack
            log.warning("job %s: could not renew its lease: %s", self.job_id, exc)
            return True
        if not renewed:
            log.warning("job %s: another process took over its lease; stopping at the next step", self.job_id)
            self.lost.set()
        return renewed

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._pace(self._stop, self.lease_s / 4):
            if not self.beat():
                return


class JobRunner:
    def __init__(
        self,
        env: JobEnvironment,
        *,
        owner: str | None = None,
        lease_s: float = 120.0,
        drivers: DriverLookup | None = None,
        clock: Clock = _wall_clock,
        pace: Pace = _wait_on_stop,
    ) -> None:
        self.env = env
        self.catalog = env.catalog
        self.owner = owner or default_owner()
        self.lease_s = lease_s
        self.drivers = drivers or DriverLookup()
        self._clock = clock
        self._pace = pace

    # -- running ------------------------------------------------------------------------------------------
    def run(self, spec: JobSpec) -> Any:
        """Record the job, hold its lease and run its body; returns the body's result."""
        body = self.drivers.body(spec.kind)  # an unknown kind fails before a job is recorded
        job = self.catalog.start_job(spec.kind, spec.params, owner=self.owner, lease_s=self.lease_s)
        return self._execute(job.id, spec, body, {})

    def run_queued(self, job_id: str) -> Any:
        """Claim a ``queued`` job (``Catalog.submit_job``) and run it: what a worker does with a job it was handed.
        ``ConflictError`` when another runner claimed it first or it is not queued any more."""
        job = self.catalog.job(job_id)
        spec = JobSpec(job.kind, job.params)
        body = self.drivers.body(spec.kind)
        if not self.catalog.claim_job(job_id, self.owner, self.lease_s, now=self._clock()):
            raise ConflictError(f"job {job_id} is {self.catalog.job(job_id).status}, not queued: not run again")
        return self._execute(job_id, spec, body, {})

    def resume(self, job_id: str) -> Any:
        """Run a failed or crashed job again under this runner's lease; finished steps are not repeated."""
        job = self.catalog.job(job_id)
        if job.status in FINISHED:
            raise ConflictError(f"job {job_id} is {job.status}: nothing to resume")
        spec = JobSpec(job.kind, job.params)
        body = self.drivers.body(spec.kind)
        self._take_lease(job_id)
        try:
            self.drivers.prepare_resume(spec.kind)(self.catalog, job)
            self.catalog.update_job(job_id, status="running", error=None)
            # Intermediates left by a crash belong to steps that did not finish and will run again: remove them
            # first so the re-run does not trip over its own half-made resources.
            self.cleanup(job_id)
            steps = self.catalog.job(job_id).steps
        except BaseException:
            self.catalog.release_lease(job_id, self.owner)
            raise
        return self._execute(job_id, spec, body, steps)

    def cancel(self, job_id: str, *, force: bool = False) -> dict[str, Any]:
        """Give a job up: delete its intermediates and mark it cancelled. A live job only with ``force``.

        With ``force`` the lease is taken over: if the job's process is in fact alive, its next heartbeat finds
        the lease gone and the job stops at its next step.
        """
        job = self.catalog.job(job_id)
        if job.status in FINISHED:
            raise ConflictError(f"job {job_id} is already {job.status}")
        if force:
            now = self._clock()
            self.catalog.update_job(job_id, lease_owner=self.owner, lease_expires_at=now, heartbeat_at=now)
        self._take_lease(job_id, hint="stop its process (Ctrl-C), or --force if that process is gone")
        try:
            leftovers = self.cleanup(job_id)
            self.catalog.update_job(job_id, status="cancelled", error=job.error or "cancelled by the user")
        finally:
            self.catalog.release_lease(job_id, self.owner)
        return {"job": job_id, "status": "cancelled", "leftovers": leftovers}

    def cleanup(self, job_id: str) -> list[str]:
        """Delete the job's live intermediates (newest first); return the IDs that could not be deleted."""
        items = sorted(self.catalog.live_intermediates(job_id), key=lambda i: i.created_at, reverse=True)
        failures: dict[str, str] = {}
        for item in items:
            cleaner = self.drivers.cleaner(item.resource_type)
            if cleaner is None:
                failures[item.id] = f"no cleaner for {item.resource_type}"
                continue
            try:
                cleaner(self.env.factory, item)
            except NotFoundError:
                pass  # recorded before creation and never created, or already deleted: nothing left
            except Exception as exc:  # keep going: one stuck intermediate must not strand the others
                failures[item.id] = str(exc)[:500]
                continue
            self.catalog.mark_deleted(item.id)
            self._progress(job_id, f"deleted intermediate {item.resource_type} {item.id}")
        if items:
            state: dict[str, Any] = {
                "status": "done" if not failures else "failed",
                "deleted": len(items) - len(failures),
            }
            if failures:
                state["leftovers"] = failures
            with contextlib.suppress(NotFoundError):  # a job this catalog does not know: nowhere to record it
                self.catalog.record_step(job_id, CLEANUP_STEP, state)
        return list(failures)

    # -- internals ----------------------------------------------------------------------------------------
    def _take_lease(self, job_id: str, *, hint: str | None = None) -> None:
        if self.catalog.acquire_lease(job_id, self.owner, self.lease_s, now=self._clock()):
            return
        held = self.catalog.job(job_id)
        until = held.lease_expires_at.strftime("%Y-%m-%d %H:%M:%S UTC") if held.lease_expires_at else "?"
        raise ConflictError(
            f"job {job_id} is running in {held.lease_owner} (its lease runs until {until})",
            hint=hint or "wait for it to finish; a crashed job can be resumed once its lease has expired",
        )

    def _execute(self, job_id: str, spec: JobSpec, body: JobBody, steps: dict[str, Any]) -> Any:
        lost = threading.Event()
        counter = CallCounter()
        context = JobContext(
            job_id,
            self.catalog,
            lambda: self.env.factory,  # made when a step first calls AWS, not before
            steps=steps,
            has_cleaner=lambda resource_type: self.drivers.cleaner(resource_type) is not None,
            progress=self.env.progress,
            counter=counter,
            lease_lost=lost,
        )
        heartbeat = Heartbeat(
            self.catalog, job_id, self.owner, self.lease_s, lost=lost, clock=self._clock, pace=self._pace
        )
        started = time.monotonic()
        heartbeat.start()
        try:
            with counting_into(counter):
                try:
                    result = body(context, spec, self.env)
                except BaseException as exc:
                    if lost.is_set():
                        raise  # the job, its steps and its intermediates are the new owner's now
                    self.cleanup(job_id)
                    duration = round(time.monotonic() - started, 3)
                    self.catalog.update_job(job_id, status="failed", error=str(exc)[:4000], duration_s=duration)
                    raise
                if lost.is_set():
                    return result  # finished, but the job is the new owner's now: it records the end
                leftovers = self.cleanup(job_id)
            self.catalog.update_job(
                job_id,
                status="completed" if not leftovers else "completed-with-leftovers",
                duration_s=round(time.monotonic() - started, 3),
            )
            return result
        finally:
            heartbeat.stop()
            self.catalog.release_lease(job_id, self.owner)

    def _progress(self, job_id: str, message: str) -> None:
        if self.env.progress is not None:
            self.env.progress(ProgressEvent(job_id, CLEANUP_STEP, message))
