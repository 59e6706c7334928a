"""What a worker does with a job ID it was handed: run it if it is queued, resume it if its worker died, else
nothing. Every decision is the catalog's (a conditional claim, a conditional lease), so the same ID handed to
several workers, or twice to one, runs the job once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from skyvault.engine.runner import DriverLookup, JobRunner
from skyvault.errors import ConflictError, NotFoundError
from skyvault.services.contract import JobEnvironment

log = logging.getLogger("skyvault.worker")

RAN = "ran"
RESUMED = "resumed"
SKIPPED = "skipped"
FAILED = "failed"


class JobHandler:
    """Runs job IDs in a worker: ``handler(job_id)`` -> ``ran``, ``resumed``, ``skipped`` or ``failed``.

    Each call runs under a runner of its own (its own lease owner, ``host:pid:random``), with ``lease_s`` from the
    worker's configuration: another worker resumes the job only after that much time without a heartbeat.
    """

    def __init__(
        self,
        env: JobEnvironment,
        *,
        lease_s: float,
        clock: Callable[[], datetime] | None = None,
        drivers: DriverLookup | None = None,
    ) -> None:
        self.env = env
        self.lease_s = lease_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._drivers = drivers

    def __call__(self, job_id: str) -> str:
        catalog = self.env.catalog
        try:
            job = catalog.job(job_id)
        except NotFoundError:
            log.warning("job %s: not in the catalog (another catalog's job?): dropped", job_id)
            return SKIPPED
        runner = JobRunner(self.env, lease_s=self.lease_s, drivers=self._drivers)
        if job.status == "queued":
            outcome, start = RAN, runner.run_queued
        elif job.status == "running" and not job.lease_live(self._clock()):
            outcome, start = RESUMED, runner.resume
        else:
            holder = f" (held by {job.lease_owner})" if job.status == "running" else ""
            log.info("job %s: %s%s: nothing to do here", job_id, job.status, holder)
            return SKIPPED
        log.info(
            "job %s: %s (%s, queue %s) by %s",
            job_id,
            "claimed" if outcome == RAN else "resuming",
            job.kind,
            job.queue,
            runner.owner,
        )
        try:
            start(job_id)
        except ConflictError as exc:
            if catalog.job(job_id).lease_owner != runner.owner:
                log.info("job %s: taken by another worker first: %s", job_id, exc)
                return SKIPPED
            log.warning("job %s: failed: %s", job_id, exc)
            return FAILED
        except Exception as exc:  # the runner recorded the failure in the job; the worker goes on
            log.warning("job %s: failed: %s", job_id, exc)
            return FAILED
        ended = catalog.job(job_id)
        log.info("job %s: %s by %s in %s s", job_id, ended.status, runner.owner, ended.duration_s)
        return outcome
