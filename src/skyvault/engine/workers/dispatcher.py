"""``CeleryDispatcher``: the ``JobDispatcher`` of scale-out. Jobs are recorded in the (shared) catalog and their IDs
sent to the Celery queue of their region; any worker consuming that queue runs them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from skyvault.catalog import Catalog
from skyvault.catalog.records import Job
from skyvault.config import is_queue_name
from skyvault.engine.dispatch import DONE
from skyvault.engine.workers.app import DEFAULT_QUEUE, send_job
from skyvault.errors import ConfigError, JobError, SkyvaultError
from skyvault.jobs.spec import JobSpec

if TYPE_CHECKING:
    from celery import Celery


class CeleryDispatcher:
    """Submit: ``Catalog.submit_job`` (idempotent on ``run_key``), then the job's ID to ``queue`` (a region name,
    else ``default``) only when the job is new, so a run key submitted twice is queued and run once.
    Wait: polls the catalog every ``poll_s`` until each job is finished or failed, whichever worker ran it."""

    def __init__(self, catalog: Catalog, app: Celery, *, poll_s: float = 0.5) -> None:
        self.catalog = catalog
        self.app = app
        self.poll_s = poll_s

    def submit(self, spec: JobSpec, *, queue: str | None = None, run_key: str | None = None) -> str:
        target = queue or DEFAULT_QUEUE
        if not is_queue_name(target):
            raise ConfigError(f"queue {target!r}: a worker queue is a region name (us-east-1) or 'default'")
        job, created = self.catalog.submit_job(spec.kind, spec.params, queue=target, run_key=run_key)
        if created:
            try:
                send_job(self.app, job.id, target)
            except Exception as exc:  # kombu's OperationalError and kin: the broker is unreachable
                raise JobError(
                    f"job {job.id} is recorded but its message could not reach the broker: {exc}",
                    hint="the workers' sweep sends it again after [workers] requeue_queued_after_s",
                ) from exc
        return job.id

    def wait(self, job_ids: Sequence[str], *, timeout_s: float | None = None) -> list[Job]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pending = list(dict.fromkeys(job_ids))
        while pending:
            pending = [job_id for job_id in pending if self.catalog.job(job_id).status not in DONE]
            if not pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise SkyvaultError(
                    f"{len(pending)} job(s) did not finish within {timeout_s} s: {', '.join(pending[:5])}",
                    hint="are workers consuming their queues? (skyvault worker --queues REGION,...)",
                )
            time.sleep(self.poll_s)
        return [self.catalog.job(job_id) for job_id in job_ids]

    def close(self) -> None:
        self.app.close()
