"""``skyvault backup rds|aurora|redshift|docdb ID...``: native snapshots of databases, with extra copies.

One ``backup-<kind>`` job for the IDs given, run in this process (``cli.jobrun``); its params carry
``--timeout``/``--poll``, so ``jobs resume`` waits as the first run did. Progress goes to stderr; with ``--json``
stdout carries only ``{"recovery_point": ID, "stats": {...}}`` (a list of them when several IDs are given).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from skyvault.cli import options
from skyvault.cli.context import AppState, state
from skyvault.cli.jobrun import print_backups, runner
from skyvault.errors import ConfigError
from skyvault.jobs.spec import JobSpec
from skyvault.services.rds.jobs import backup_params
from skyvault.services.rds.waiting import WaitPolicy

KINDS = ("rds", "aurora", "docdb", "redshift")
_HELP = {
    "rds": "RDS DB instances (DB snapshots).",
    "aurora": "Aurora clusters (cluster snapshots; restores add the writer after the cluster).",
    "docdb": "DocumentDB clusters (cluster snapshots; restores add the instances after the cluster).",
    "redshift": "Redshift clusters (manual snapshots; vault copies by restore-and-snapshot).",
}


def _account_and_region(st: AppState, account: str | None, region: str | None) -> tuple[str, str]:
    config = st.config()
    if account is None:
        if len(config.accounts) != 1:
            raise ConfigError("say which account with --account", hint="skyvault accounts list")
        account = next(iter(config.accounts))
    return account, region or config.account(account).regions[0]


def _line(result: dict[str, Any]) -> str:
    stats = result["stats"]
    return (
        f"{result['recovery_point']}: {stats['snapshots']} snapshot(s) ({stats['copies']} extra copies) "
        f"in {stats['duration_s']} s, {stats['api_calls']} API calls"
    )


def print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    print_backups(st, results, _line)


def _option_group_map(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise typer.BadParameter(f"{item!r}: expected SOURCE=DEST", param_hint="--option-group-map")
        mapping[source.strip()] = target.strip()
    return mapping


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
        timeout: Annotated[
            float, typer.Option(help="Seconds to wait for a step that reports no progress (e.g. a restore).")
        ] = 4 * 3600,
        poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 15.0,
        stall: Annotated[
            float,
            typer.Option(min=1, help="Seconds a snapshot or copy may report no progress before it counts as stuck."),
        ] = 2 * 3600,
        vault_subnet_group: Annotated[
            str | None,
            typer.Option(help="Redshift --copy-to-account: the vault's subnet group for the temporary cluster."),
        ] = None,
        retain_days: Annotated[
            float | None, typer.Option(min=0, help="Expire the point and its snapshots after this many days.")
        ] = None,
        option_group_map: Annotated[
            list[str] | None,
            typer.Option(
                help="RDS --copy-to-region: SOURCE=DEST, the option group to name in the destination region "
                "(repeatable; default: a group of the same name there, else skyvault-<name>, created)."
            ),
        ] = None,
    ) -> None:
        st = state(ctx)
        name, where = _account_and_region(st, account, region)
        if copy_to_account is not None:
            st.config().account(copy_to_account)  # a precise error now rather than after the snapshot
        if vault_subnet_group is not None and (kind != "redshift" or copy_to_account is None):
            raise typer.BadParameter(
                "applies to 'backup redshift --copy-to-account' only", param_hint="--vault-subnet-group"
            )
        mapping = _option_group_map(option_group_map or [])
        if mapping and (kind != "rds" or copy_to_region is None):
            raise typer.BadParameter("applies to 'backup rds --copy-to-region' only", param_hint="--option-group-map")
        params = backup_params(
            resources=identifiers, account=name, region=where, copy_to_region=copy_to_region,
            copy_to_account=copy_to_account, wait=WaitPolicy(timeout_s=timeout, poll_s=poll, stall_s=stall),
            retain_days=retain_days, vault_subnet_group=vault_subnet_group, option_group_map=mapping,
        )  # fmt: skip
        print_results(st, runner(st).run(JobSpec(f"backup-{kind}", params)))

    command.__doc__ = f"Back up {_HELP[kind]}"
    return command


def register(backup_app: typer.Typer) -> None:
    """Add ``backup rds|aurora|docdb|redshift`` to the ``backup`` group."""
    for kind in KINDS:
        backup_app.command(kind)(_command(kind))
