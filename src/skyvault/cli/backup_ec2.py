"""``skyvault backup ec2 INSTANCE_ID...``: snapshots (+ changed-block copies into the library) per instance.

One ``backup-ec2`` job per instance, run in this process (``cli.jobrun``). Progress goes to stderr; with
``--json`` stdout carries only ``{"recovery_point": ID, "stats": {...}}`` (a list of them for several instances).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skyvault.cli import options
from skyvault.cli.context import AppState, default_account, state
from skyvault.cli.jobrun import print_backups, runner
from skyvault.cli.library import library_config
from skyvault.jobs.spec import JobSpec
from skyvault.services.ec2.backup import JOB_KIND, backup_params
from skyvault.services.ec2.copy import DEFAULT_WORKERS


def _library(st: AppState, copy: bool | None, name: str | None) -> str | None:
    """The library to copy into: ``--library``/the default one unless ``--no-copy``; None for no copy."""
    wanted = copy if copy is not None else bool(name or st.config().default_library)
    return library_config(st, name)[0] if wanted else None


def _line(result: dict[str, Any]) -> str:
    s = result["stats"]
    calls = sum(s["api_calls"].values())
    return (
        f"{result['recovery_point']}: {s['blocks_listed']} blocks listed, {s['blocks_read']} read "
        f"({s['bytes_read']:,} bytes), {s['bytes_stored']:,} bytes stored, {calls} API calls, {s['duration_s']} s"
    )


def print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    for result in results:
        for warning in result.get("warnings", []):
            st.err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    print_backups(st, results, _line)


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
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="Block reads in flight per volume (paced by AWS's quotas).")
    ] = DEFAULT_WORKERS,
) -> None:
    """Back up EC2 instances: crash-consistent snapshots, then changed-block copies into the library."""
    st = state(ctx)
    name = default_account(st, account)
    where = region or st.config().account(name).regions[0]
    chosen = _library(st, copy, library)
    jobs = runner(st)
    results = [
        jobs.run(
            JobSpec(
                JOB_KIND,
                backup_params(
                    instance_id=instance_id, account=name, region=where, library=chosen, copy=chosen is not None,
                    app_consistent=app_consistent, workers=workers,
                ),
            )
        )
        for instance_id in instance_ids
    ]  # fmt: skip
    print_results(st, results)


def register(backup_app: typer.Typer) -> None:
    """Add ``backup ec2`` to the ``backup`` group."""
    backup_app.command("ec2")(backup_ec2_command)
