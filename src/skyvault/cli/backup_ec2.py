"""``skyvault backup ec2 INSTANCE_ID...``: snapshots (+ changed-block copies into the library) per instance.

Also registers the restorer for "ec2" recovery points (``skyvault restore RP``), giving it the CLI's way of
opening a library (passphrase from the environment or a prompt).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from skyvault.catalog import Catalog
from skyvault.cli import options
from skyvault.cli.backup import app as backup_app
from skyvault.cli.context import AppState, state
from skyvault.cli.library import library_config, open_library
from skyvault.config import AuthMethod
from skyvault.engine.jobs import JobRunner, ProgressCallback, ProgressEvent
from skyvault.errors import ConfigError
from skyvault.library.repository import Repository
from skyvault.services.ec2 import restore as ec2_restore
from skyvault.services.ec2.backup import BackupOptions, backup_instance, resume_backup_instance
from skyvault.services.ec2.copy import DEFAULT_WORKERS


def _open_for_restore(context: Any, library: str | None) -> Repository:
    return open_library(context, library)


ec2_restore.register(_open_for_restore)


def progress_printer(st: AppState) -> ProgressCallback:
    """Step messages on stderr; per-block events only every 10% (a copy emits one per block)."""

    def show(event: ProgressEvent) -> None:
        if st.json_output and st.verbose == 0:
            return
        if event.total:
            step = max(1, int(event.total) // 10)
            if event.done is None or (int(event.done) % step and event.done != event.total):
                return
        st.err_console.print(f"[dim]{event.job_id}[/dim] {event.message}", highlight=False)

    return show


def default_account(st: AppState, account: str | None) -> str:
    """``--account``, else the only account, else the only one not reached through another (the admin)."""
    config = st.config()
    if account is not None:
        config.account(account)
        return account
    if len(config.accounts) == 1:
        return next(iter(config.accounts))
    direct = [name for name, a in config.accounts.items() if a.auth is not AuthMethod.ASSUME_ROLE]
    if len(direct) == 1:
        return direct[0]
    raise ConfigError("say which account with --account", hint="skyvault accounts list")


@contextlib.contextmanager
def _library(st: AppState, copy: bool | None, name: str | None) -> Iterator[tuple[str | None, Repository | None]]:
    config = st.config()
    wanted = copy if copy is not None else bool(name or config.default_library)
    if not wanted:
        yield None, None
        return
    chosen, _cfg = library_config(st, name)
    repo = open_library(st, chosen)
    try:
        with repo.lock(purpose="backup ec2"):
            yield chosen, repo
    finally:
        repo.close()


def resume_backup(st: AppState, catalog: Catalog, job_id: str) -> dict[str, Any]:
    """``skyvault jobs resume`` for a backup-ec2 job: the same library, copy and SSM choices as the first run."""
    params = catalog.job(job_id).params
    runner = JobRunner(catalog, st.factory(), progress=progress_printer(st))
    with _library(st, bool(params.get("copy")), params.get("library")) as (library_name, repo):
        options = BackupOptions(
            copy=repo is not None, library=library_name, app_consistent=bool(params.get("app_consistent"))
        )
        outcome = resume_backup_instance(runner, job_id, catalog=catalog, repo=repo, options=options)
    return {"recovery_point": outcome.recovery_point, "stats": outcome.stats}


@backup_app.command("ec2")
def backup_ec2_command(
    ctx: typer.Context,
    instance_ids: Annotated[list[str], typer.Argument(help="EC2 instance ID(s).")],
    account: Annotated[str | None, typer.Option(help="Configured account (default: the admin/only one).")] = None,
    region: Annotated[
        str | None, typer.Option(help="Region (default: the account's first).", callback=options.region)
    ] = None,
    copy: Annotated[
        bool | None,
        typer.Option("--copy/--no-copy", help="Copy changed blocks into the library (default: on with a library)."),
    ] = None,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
    app_consistent: Annotated[
        bool, typer.Option("--app-consistent", help="Run SSM pre/post-snapshot scripts (policy ec2-agents).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Parallel block reads per volume.")] = DEFAULT_WORKERS,
) -> None:
    """Back up EC2 instances: crash-consistent snapshots, then changed-block copies into the library."""
    st = state(ctx)
    name = default_account(st, account)
    where = region or st.config().account(name).regions[0]
    catalog = st.catalog()
    runner = JobRunner(catalog, st.factory(), progress=progress_printer(st))
    results: list[dict[str, Any]] = []
    with _library(st, copy, library) as (library_name, repo):
        options = BackupOptions(
            copy=repo is not None, library=library_name, app_consistent=app_consistent, workers=workers
        )
        for instance_id in instance_ids:
            outcome = backup_instance(
                runner,
                catalog=catalog,
                account=name,
                region=where,
                instance_id=instance_id,
                repo=repo,
                options=options,
                progress=lambda message: st.info(message) if not st.json_output else None,
            )
            results.append({"recovery_point": outcome.recovery_point, "stats": outcome.stats})
            for warning in outcome.warnings:
                st.err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if st.json_output:
        st.emit_json(results[0] if len(results) == 1 else results)
        return
    for result in results:
        s = result["stats"]
        calls = sum(s["api_calls"].values())
        st.info(
            f"{result['recovery_point']}: {s['blocks_listed']} blocks listed, {s['blocks_read']} read "
            f"({s['bytes_read']:,} bytes), {s['bytes_stored']:,} bytes stored, {calls} API calls, {s['duration_s']} s"
        )
