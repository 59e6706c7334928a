"""``skyvault worker [--queues REGION,...] [--concurrency N]``: run queued jobs as a Celery worker.

Needs ``[workers]`` in skyvault.toml (the broker) and, for workers on several machines, a shared catalog
(``catalog_url``, PostgreSQL). Also where ``backup --plan`` and ``schedule run`` find the workers:
``celery_dispatcher(st)``, when ``[workers]`` is configured.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Annotated

import typer

from skyvault.cli import jobrun
from skyvault.cli.context import AppState, state
from skyvault.config import SkyvaultConfig, WorkersConfig, is_queue_name, url_with_password
from skyvault.errors import ConfigError

if TYPE_CHECKING:
    from skyvault.engine.workers.dispatcher import CeleryDispatcher
    from skyvault.jobs import ProgressEvent

log = logging.getLogger("skyvault.worker")


def workers_config(config: SkyvaultConfig) -> WorkersConfig:
    if config.workers is None:
        raise ConfigError(
            "no [workers] section in the configuration: workers need a broker",
            hint='add [workers] broker_url = "redis://HOST:6379/0" (docs/scaleout.md)',
        )
    return config.workers


def broker_url(workers: WorkersConfig) -> str:
    """The broker URL with its password from ``password_env`` (read here, in the CLI, at run time)."""
    if workers.password_env is None:
        return workers.broker_url
    password = os.environ.get(workers.password_env)
    if not password:
        raise ConfigError(f"workers.password_env: environment variable {workers.password_env} is not set")
    return url_with_password(workers.broker_url, password)


def default_queues(config: SkyvaultConfig) -> list[str]:
    """Every region the configured accounts name, then ``default``."""
    regions = dict.fromkeys(region for account in config.accounts.values() for region in account.regions)
    return [*regions, "default"]


def parse_queues(text: str) -> list[str]:
    queues = [q.strip() for q in text.split(",") if q.strip()]
    bad = [q for q in queues if not is_queue_name(q)]
    if not queues or bad:
        raise typer.BadParameter(
            f"not a queue: {', '.join(bad) or '(none given)'}; queues are region names (us-east-1) or 'default'",
            param_hint="--queues",
        )
    return list(dict.fromkeys(queues))


def celery_dispatcher(st: AppState) -> CeleryDispatcher | None:
    """Where ``backup --plan`` and ``schedule run`` send jobs: Celery workers when the config has ``[workers]``,
    else None (they run them in this process, the default: SQLite is enough)."""
    config = st.config()
    if config.workers is None:
        return None
    from skyvault.engine.workers.app import make_app
    from skyvault.engine.workers.dispatcher import CeleryDispatcher

    app = make_app(broker_url(config.workers), visibility_timeout_s=config.workers.visibility_timeout_s)
    return CeleryDispatcher(st.catalog(), app)


def _log_progress(event: ProgressEvent) -> None:
    if event.total and event.done is not None and event.done < event.total:
        return  # counted events (one per block): only their end
    log.info("job %s: %s", event.job_id, event.message)


def register(root: typer.Typer) -> None:
    @root.command("worker")
    def worker(
        ctx: typer.Context,
        queues: Annotated[
            str | None,
            typer.Option(
                "--queues",
                help="Comma-separated queues to consume: region names and/or 'default' "
                "(default: every configured account's regions, and 'default').",
            ),
        ] = None,
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at once (threads).")
        ] = 4,
    ) -> None:
        """Run queued jobs: a Celery worker consuming region queues.

        Jobs come from 'backup --plan' and the scheduler when the config has a workers section (its
        broker_url). A worker killed mid-job leaves its job to another worker of the same queue once the
        job's lease expires (workers.lease_s). SIGTERM: finish the running jobs, then stop.
        """
        st = state(ctx)
        config = st.config()
        settings = workers_config(config)
        chosen = parse_queues(queues) if queues is not None else default_queues(config)
        url = broker_url(settings)
        from skyvault.engine.workers.serve import serve, worker_name
        from skyvault.engine.workers.task import JobHandler

        handler = JobHandler(jobrun.environment(st, _log_progress), lease_s=settings.lease_s)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)  # a daemon's log: which job ran where is its point
        from skyvault.catalog.engine import safe_url

        log.info(
            "%s: queues %s, %d threads, catalog %s",
            worker_name(chosen),
            ",".join(chosen),
            concurrency,
            safe_url(st.catalog_url),
        )
        code = serve(
            handler,
            broker_url=url,
            queues=chosen,
            concurrency=concurrency,
            sweep_interval_s=settings.sweep_interval_s,
            requeue_queued_after_s=settings.requeue_queued_after_s,
            visibility_timeout_s=settings.visibility_timeout_s,
        )
        if code:
            raise typer.Exit(code)
