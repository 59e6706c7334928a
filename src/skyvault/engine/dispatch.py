"""Where jobs run: the seam between what submits jobs (``backup --plan``, the scheduler) and what runs them.

A dispatcher takes ``JobSpec``s, records each as a ``queued`` job in the catalog (idempotent on ``run_key``, so
one scheduled run never backs a resource up twice) and has it run: in this process (``InProcessDispatcher``, the
default, SQLite is enough) or on Celery workers (``skyvault.engine.workers``, PostgreSQL catalog). ``wait``
returns the jobs as the catalog last recorded them, whoever ran them.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
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
    """Runs queued jobs on a bounded thread pool of this process, each under its own runner and lease.

    ``per_account`` bounds how many jobs of one account (``params["account"]``) run at once (the per-account API
    limits); the others wait in submission order, without holding a pool thread.
    """

    def __init__(
        self, make_runner: Callable[[], JobRunner], *, workers: int = 4, per_account: int | None = None
    ) -> None:
        self._make_runner = make_runner
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()
        self._per_account = per_account
        self._running: dict[str, int] = defaultdict(int)
        self._waiting: dict[str, deque[tuple[str, Future[object]]]] = defaultdict(deque)
        self._catalog = make_runner().catalog

    def submit(self, spec: JobSpec, *, queue: str | None = None, run_key: str | None = None) -> str:
        job, created = self._catalog.submit_job(spec.kind, spec.params, queue=queue, run_key=run_key)
        if created:
            future: Future[object] = Future()
            account = str(spec.params.get("account") or "")
            with self._lock:
                self._futures[job.id] = future
                if self._per_account is None or self._running[account] < self._per_account:
                    self._start(job.id, account, future)
                else:
                    self._waiting[account].append((job.id, future))
        return job.id

    def _start(self, job_id: str, account: str, future: Future[object]) -> None:
        """Under ``_lock``."""
        self._running[account] += 1
        self._pool.submit(self._run, job_id, account, future)

    def _run(self, job_id: str, account: str, future: Future[object]) -> None:
        outcome: object = None
        error: BaseException | None = None
        try:
            outcome = self._make_runner().run_queued(job_id)
        except BaseException as exc:
            error = exc
            self._fail_if_unclaimed(job_id, exc)
        with self._lock:
            self._running[account] -= 1
            if self._waiting[account]:
                next_id, next_future = self._waiting[account].popleft()
                self._start(next_id, account, next_future)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)

    def _fail_if_unclaimed(self, job_id: str, exc: BaseException) -> None:
        """A job that failed before any runner claimed it (its kind has no driver...) must not stay queued."""
        try:
            if self._catalog.job(job_id).status == "queued":
                self._catalog.update_job(job_id, status="failed", error=f"not run: {exc}"[:4000])
        except Exception:  # the catalog itself is failing: wait() reports what it last recorded
            pass

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
