"""The workers' sweep: every ``sweep_interval_s``, each worker re-queues the jobs of its queues that nobody runs.

A worker killed mid-job (SIGKILL, a lost machine) stops renewing its job's lease; once the lease has expired the
sweep puts the job's ID on its queue again, and the worker that takes it resumes the job (finished steps are not
repeated). A job still ``queued`` long after it was submitted (its message was lost, or the submitter died
between recording it and sending it) is sent again too. Each worker sends a job at most once per expired lease
(or per queued state): duplicates across workers are harmless, since the catalog lets one runner take the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from skyvault.catalog import Catalog

log = logging.getLogger("skyvault.worker")


class Sweeper:
    def __init__(
        self,
        catalog: Catalog,
        queues: Sequence[str],
        send: Callable[[str, str], None],
        *,
        interval_s: float,
        requeue_queued_after_s: float,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.catalog = catalog
        self.queues = list(queues)
        self.send = send
        self.interval_s = interval_s
        self.requeue_queued_after_s = requeue_queued_after_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sent: set[tuple[str, str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="skyvault-sweep", daemon=True)

    def sweep_once(self) -> list[str]:
        """Re-queue what nobody runs; the IDs sent."""
        now = self._clock()
        jobs = self.catalog.recoverable_jobs(
            self.queues, now, queued_before=now - timedelta(seconds=self.requeue_queued_after_s)
        )
        current: set[tuple[str, str, str]] = set()
        sent: list[str] = []
        for job in jobs:
            marker = job.lease_expires_at if job.status == "running" else job.updated_at
            key = (job.id, job.status, marker.isoformat() if marker else "-")
            current.add(key)
            if key in self._sent:
                continue  # sent once for this state already: a busy queue takes its time
            assert job.queue is not None  # recoverable_jobs selects by queue
            log.info("job %s: %s and nobody runs it: re-queued on %s", job.id, job.status, job.queue)
            self.send(job.id, job.queue)
            sent.append(job.id)
        self._sent = current  # forget jobs that moved on
        return sent

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep_once()
            except Exception as exc:  # a catalog or broker hiccup: next round
                log.warning("sweep failed (tried again in %s s): %s", self.interval_s, exc)
