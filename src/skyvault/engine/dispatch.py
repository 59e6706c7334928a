"""Where jobs run: the seam between what submits jobs (``backup --plan``, the scheduler) and what runs them.

A dispatcher takes ``JobSpec``s, records each as a ``queued`` job in the catalog (idempotent on ``run_key``, so
one scheduled run never backs a resource up twice) and has it run: in this process (``InProcessDispatcher``, the
default, SQLite is enough) or on Celery workers (``skyvault.engine.workers``, PostgreSQL catalog). ``wait``
returns the jobs as the catalog last recorded them, whoever ran them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from skyvault.catalog.records import Job
from skyvault.engine.runner import FINISHED, JobRunner
from skyvault.errors import SkyvaultError
from skyvault.jobs.spec import JobSpec

DONE = (*FINISHED, "failed")


class JobDispatcher(Protocol):
    def submit(self, spec: JobSpec, *, queue: str | None = None, run_key: str | None = None) -> str:
        """Queue ``spec``; the job's ID. A ``run_key`` already submitted returns that job's ID and queues nothing."""
        ...

    def wait(self, job_ids: Sequence[str], *, timeout_s: float | None = None) -> list[Job]:
        """The jobs once each is finished or failed (in the order asked); ``SkyvaultError`` on timeout."""
        ...


class InProcessDispatcher:
    """Runs queued jobs on a bounded thread pool of this process, each under its own runner and lease."""

    def __init__(self, make_runner: Callable[[], JobRunner], *, workers: int = 4) -> None:
        self._make_runner = make_runner
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()
        self._catalog = make_runner().catalog

    def submit(self, spec: JobSpec, *, queue: str | None = None, run_key: str | None = None) -> str:
        job, created = self._catalog.submit_job(spec.kind, spec.params, queue=queue, run_key=run_key)
        if created:
            with self._lock:
                self._futures[job.id] = self._pool.submit(self._run, job.id)
        return job.id

    def _run(self, job_id: str) -> object:
        return self._make_runner().run_queued(job_id)

    def wait(self, job_ids: Sequence[str], *, timeout_s: float | None = None) -> list[Job]:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for job_id in job_ids:
            with self._lock:
                future = self._futures.get(job_id)
            if future is None:
                continue  # submitted earlier (another run, another process): the catalog says how it ended
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(timeout=remaining)
            except TimeoutError:
                raise SkyvaultError(f"job {job_id} did not finish within {timeout_s} s") from None
            except Exception:
                pass
        return [self._catalog.job(job_id) for job_id in job_ids]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
