"""``skyvault backup rds|aurora|redshift|docdb ID...``: native snapshots of databases, with extra copies.

Also registers the restorers for the four kinds (``skyvault restore RP``) with the CLI's progress drawing.
Progress goes to stderr; with ``--json`` stdout carries only ``{"recovery_point": ID, "stats": {...}}`` (a list
of them when several IDs are given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from skyvault.catalog import Catalog
from skyvault.cli import options
from skyvault.cli.backup import app as backup_app
from skyvault.cli.context import AppState, state
from skyvault.engine import databases
from skyvault.engine.jobs import ProgressCallback, ProgressEvent
from skyvault.errors import ConfigError
from skyvault.services.rds.waiting import WaitPolicy

_HELP = {
    "rds": "RDS DB instances (DB snapshots).",
    "aurora": "Aurora clusters (cluster snapshots; restores add the writer after the cluster).",
    "docdb": "DocumentDB clusters (cluster snapshots; restores add the instances after the cluster).",
    "redshift": "Redshift clusters (manual snapshots; vault copies by restore-and-snapshot).",
}


def _progress(st: AppState) -> ProgressCallback:
    def show(event: ProgressEvent) -> None:
        if st.json_output and st.verbose == 0:
            return
        st.err_console.print(f"[dim]{event.job_id}[/dim] {event.message}", highlight=False)

    return show


def _wait_policy(_: Any) -> WaitPolicy:
    return WaitPolicy()


databases.register(lambda context: _progress(context) if isinstance(context, AppState) else None, _wait_policy)


def _account_and_region(st: AppState, account: str | None, region: str | None) -> tuple[str, str]:
    config = st.config()
    if account is None:
        if len(config.accounts) != 1:
            raise ConfigError("say which account with --account", hint="skyvault accounts list")
        account = next(iter(config.accounts))
    return account, region or config.account(account).regions[0]


def _print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    if st.json_output:
        st.emit_json(results[0] if len(results) == 1 else results)
        return
    for result in results:
        stats = result["stats"]
        st.info(
            f"{result['recovery_point']}: {stats['snapshots']} snapshot(s) ({stats['copies']} extra copies) "
            f"in {stats['duration_s']} s, {stats['api_calls']} API calls"
        )


JOB_KINDS = tuple(f"backup-{kind}" for kind in databases.KINDS)


def resume_database_backup(st: AppState, catalog: Catalog, job_id: str) -> None:
    """``skyvault jobs resume`` for backup-rds|aurora|docdb|redshift jobs: prints like the backup itself."""
    _print_results(st, databases.resume_backup(catalog, st.factory(), job_id, progress=_progress(st)))


def _command(kind: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context,
        identifiers: Annotated[list[str], typer.Argument(help="Identifiers of the instances/clusters.")],
        account: Annotated[str | None, typer.Option(help="Configured account (default: the only one).")] = None,
        region: Annotated[
            str | None, typer.Option(help="Region (default: the account's first).", callback=options.region)
        ] = None,
        copy_to_region: Annotated[
            str | None, typer.Option(help="Also keep a copy in this region.", callback=options.region)
        ] = None,
        copy_to_account: Annotated[
            str | None, typer.Option(help="Also keep a copy in this configured (vault) account.")
        ] = None,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for each snapshot/copy.")] = 4 * 3600,
        poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 15.0,
        retain_days: Annotated[
            float | None, typer.Option(min=0, help="Expire the point and its snapshots after this many days.")
        ] = None,
    ) -> None:
        st = state(ctx)
        name, where = _account_and_region(st, account, region)
        if copy_to_account is not None:
            st.config().account(copy_to_account)  # a precise error now rather than after the snapshot
        request = databases.BackupRequest(
            kind=kind,
            resources=identifiers,
            account=name,
            region=where,
            copy_to_region=copy_to_region,
            copy_to_account=copy_to_account,
            wait=WaitPolicy(timeout_s=timeout, poll_s=poll),
            retain_days=retain_days,
        )
        _print_results(st, databases.backup(st.catalog(), st.factory(), request, progress=_progress(st)))

    command.__doc__ = f"Back up {_HELP[kind]}"
    return command


for _kind in databases.KINDS:
    backup_app.command(_kind)(_command(_kind))
