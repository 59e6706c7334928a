"""Running a worker in this process: the Celery worker (a thread pool of ``concurrency`` threads consuming
``queues``) and the sweep beside it, until SIGTERM (finish the running jobs) or SIGINT/SIGQUIT."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from skyvault.engine.workers.app import make_app, send_job
from skyvault.engine.workers.sweep import Sweeper
from skyvault.engine.workers.task import JobHandler

log = logging.getLogger("skyvault.worker")


def worker_name(queues: Sequence[str]) -> str:
    return f"skyvault-{'+'.join(queues)}@{socket.gethostname()}:{os.getpid()}"


def serve(
    handler: JobHandler,
    *,
    broker_url: str,
    queues: Sequence[str],
    concurrency: int,
    sweep_interval_s: float,
    requeue_queued_after_s: float,
    visibility_timeout_s: int = 3600,
) -> int:
    """Consume ``queues`` until stopped; the worker's exit code."""
    app = make_app(broker_url, visibility_timeout_s=visibility_timeout_s, handler=handler)
    sweeper = Sweeper(
        handler.env.catalog,
        queues,
        lambda job_id, queue: send_job(app, job_id, queue),
        interval_s=sweep_interval_s,
        requeue_queued_after_s=requeue_queued_after_s,
    )
    worker = app.Worker(
        hostname=worker_name(queues),
        queues=list(queues),
        concurrency=concurrency,
        pool_cls="threads",  # one process: jobs share its catalog engine and AWS clients; a job is I/O-bound
        without_gossip=True,
        without_mingle=True,
        quiet=True,
        loglevel="WARNING",
    )
    from celery.signals import worker_ready

    def announce(**_: object) -> None:
        log.info("%s ready: consuming %s", worker_name(queues), ",".join(queues))

    worker_ready.connect(announce, weak=False)
    sweeper.start()
    try:
        worker.start()
    finally:
        sweeper.stop()
    return int(worker.exitcode or 0)
