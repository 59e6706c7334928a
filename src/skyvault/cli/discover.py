"""``skyvault discover``: inventory of protectable resources across the configured accounts and regions.

Filters (``--account``, ``--region``, ``--service``) may be repeated or given comma-separated; each narrows the
scope (regions narrow each account's configured regions). Output: a table on stdout, or with ``--json`` a list of
resources (``account``, ``region``, ``service``, ``id``, ``arn``, ``name``, ``size_bytes``, ``tags``, plus
``details``). Failures never hide the rest: they are reported on stderr (with ``--json``: one JSON object per
line) and the exit status is the exit code of the worst failure class (auth > access denied > config >
throttled > AWS error > not found > other), 0 when everything was discovered.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from skyvault.cli import options
from skyvault.cli.context import AppState, state
from skyvault.engine.discovery import DEFAULT_WORKERS, DiscoveryResult, discover
from skyvault.errors import SkyvaultError
from skyvault.services.base import SERVICES, Resource


class DiscoveryIncompleteError(SkyvaultError):
    """Some accounts/regions/services could not be discovered; carries the worst failure's exit code."""

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated options and comma-separated lists both work: ``-s ec2 -s rds`` == ``-s ec2,rds``."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _tags_text(resource: Resource, limit: int = 60) -> str:
    text = ", ".join(f"{k}={v}" for k, v in sorted(resource.tags.items()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_table(st: AppState, result: DiscoveryResult) -> None:
    table = Table(title="Discovered resources", show_lines=False)
    for column in ("Account", "Region", "Service", "ID"):
        table.add_column(column, no_wrap=True)  # identifiers are copied into other commands: never split them
    table.add_column("Name", overflow="ellipsis")
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("Tags", overflow="ellipsis", no_wrap=True, max_width=60)  # one line per resource
    for r in result.resources:
        table.add_row(r.account, r.region, r.service, r.id, r.name or "", human_size(r.size_bytes), _tags_text(r))
    console = st.table_console
    console.print(table)
    known = result.known_bytes()
    accounts = len({r.account for r in result.resources})
    console.print(
        f"{len(result.resources)} resources in {accounts} account(s), {human_size(known)} of known size; "
        f"{result.tasks} lookups in {result.elapsed_s:.1f}s"
    )


def _report_failures(st: AppState, result: DiscoveryResult, json_output: bool) -> None:
    if json_output:
        for failure in result.failures:
            sys.stderr.write(json.dumps(failure.to_json(), default=str) + "\n")
        sys.stderr.flush()
        return
    for f in result.failures:
        where = (
            f"account {f.account!r}" + (f", {f.region}" if f.region else "") + (f", {f.service}" if f.service else "")
        )
        st.err_console.print(f"[red]failed[/red] {where}: {type(f.error).__name__}: {f.error}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("discover")
    def discover_command(
        ctx: typer.Context,
        account: Annotated[
            list[str] | None, typer.Option("--account", "-a", help="Only these accounts (repeat or a,b).")
        ] = None,
        region: Annotated[
            list[str] | None,
            typer.Option("--region", "-r", help="Only these regions (repeat or a,b).", callback=options.regions),
        ] = None,
        service: Annotated[
            list[str] | None,
            typer.Option("--service", "-s", help=f"Only these services (repeat or a,b): {', '.join(SERVICES)}."),
        ] = None,
        json_flag: Annotated[
            bool, typer.Option("--json", help="JSON list on stdout (same as the global --json).")
        ] = False,
        parallel: Annotated[int, typer.Option(min=1, max=64, help="Concurrent lookups.")] = DEFAULT_WORKERS,
    ) -> None:
        """Inventory of EC2, EBS, RDS, Aurora, Redshift, DocumentDB, DynamoDB and S3 across accounts and regions."""
        st = state(ctx)
        json_output = json_flag or st.json_output
        result = discover(
            st.factory(),
            accounts=_split(account),
            regions=_split(region),
            services=_split(service),
            max_workers=parallel,
        )
        if json_output:
            st.emit_json([r.to_json() for r in result.resources])
        else:
            _print_table(st, result)
        _report_failures(st, result, json_output)
        if result.failures:
            raise DiscoveryIncompleteError(
                f"discovery incomplete: {len(result.failures)} of {result.tasks} lookups failed "
                f"({len(result.resources)} resources found elsewhere were listed)",
                exit_code=result.exit_code,
                hint="each failure above names its account, region and service",
            )
