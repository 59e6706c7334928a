"""The Celery application: one task (run a catalog job by ID), one queue per region, late acknowledgement.

A message carries only a job ID: the job's kind and parameters are in the catalog (PostgreSQL when workers on
several machines share it), so a message delivered twice, late, or to another worker runs nothing twice: the
catalog's conditional claim and lease decide (``skyvault.engine.workers.task``).

Settings and why:
- ``task_acks_late`` + ``worker_prefetch_multiplier = 1``: a message is acknowledged when its job ended, and a
  worker holds no more messages than it has threads, so a worker killed mid-job leaves its message unacknowledged
  and the broker delivers it again (Redis: after ``visibility_timeout``); meanwhile the workers' sweep re-queues
  the job as soon as its lease expires (``skyvault.engine.workers.sweep``).
- ``task_reject_on_worker_lost``: a pool child that dies hands its message back instead of acknowledging it.
- no result backend: the catalog is where jobs' outcomes live.
- ``global_keyprefix`` (Redis): the queues are keys ``skyvault:<region>``, beside anything else in that Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

TASK_NAME = "skyvault.run_job"
DEFAULT_QUEUE = "default"
KEY_PREFIX = "skyvault:"


def make_app(
    broker_url: str, *, visibility_timeout_s: int = 3600, handler: Callable[[str], str] | None = None
) -> Celery:
    """The Celery app for ``broker_url``. ``handler`` (a worker's) runs a job ID; a submitter only sends."""
    from celery import Celery

    app = Celery("skyvault", broker=broker_url, set_as_current=False)
    transport: dict[str, Any] = {"visibility_timeout": visibility_timeout_s}
    if broker_url.startswith(("redis://", "rediss://")):
        transport["global_keyprefix"] = KEY_PREFIX
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        task_create_missing_queues=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        enable_utc=True,
    )
    if handler is not None:
        run = handler

        @app.task(name=TASK_NAME, acks_late=True)  # type: ignore[untyped-decorator]
        def run_job(job_id: str) -> str:
            return run(job_id)

    return app


def send_job(app: Celery, job_id: str, queue: str) -> None:
    """Put ``job_id`` on ``queue`` (a region name or ``default``)."""
    app.send_task(TASK_NAME, args=[job_id], queue=queue)
