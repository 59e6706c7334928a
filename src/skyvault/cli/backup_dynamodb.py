"""``skyvault backup dynamodb TABLE...``: tables into the library by parallel Scan or by an export to S3, or native
on-demand backups.

One ``backup-dynamodb`` job for the tables given, run in this process (``cli.jobrun``). With ``--json`` stdout
carries only ``{"recovery_point": ID, "stats": {...}}`` (a list of them when several tables are given).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skyvault.cli import options
from skyvault.cli.backup_databases import _account_and_region
from skyvault.cli.context import AppState, state
from skyvault.cli.jobrun import print_backups, runner
from skyvault.cli.library import library_config
from skyvault.jobs.spec import JobSpec
from skyvault.services.dynamodb.jobs import (
    BACKUP_JOB,
    DEFAULT_FRACTION,
    DEFAULT_ON_DEMAND_RATE,
    LIBRARY_METHODS,
    METHODS,
    backup_params,
)

HELP = (
    "Back up DynamoDB tables: parallel Scan or an export to S3 into the library (incremental), or native on-demand "
    "backups."
)


def _line(result: dict[str, Any]) -> str:
    s = result["stats"]
    if s.get("method") == "native":
        return f"{result['recovery_point']}: on-demand backup of {s.get('items')} items in {s['duration_s']} s"
    if s.get("method") == "export":
        return (
            f"{result['recovery_point']}: {s.get('export_type', 'full')} export, {s['items']:,} items "
            f"({s['data_files']} files) into {s['segments']} segments, {s['bytes']:,} bytes, "
            f"{s['new_bytes']:,} new ({s['reused_segments']} segments unchanged) in {s['duration_s']} s, "
            "no read capacity used"
        )
    return (
        f"{result['recovery_point']}: {s['items']:,} items in {s['segments']} segments, {s['bytes']:,} bytes, "
        f"{s['new_bytes']:,} new ({s['reused_segments']} segments unchanged) in {s['duration_s']} s "
        f"({s['items_per_s']} items/s, {s['consumed_read_units']} read units)"
    )


def print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    print_backups(st, results, _line)


def backup_dynamodb_command(
    ctx: typer.Context,
    tables: Annotated[list[str], typer.Argument(help="Table names.")],
    method: Annotated[str, typer.Option(help="scan (into the library), native (CreateBackup) or export.")] = "scan",
    max_read_fraction: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Scan: at most this fraction of the provisioned read capacity.")
    ] = DEFAULT_FRACTION,
    on_demand_read_rate: Annotated[
        float, typer.Option(min=1.0, help="Scan of an on-demand table: read units per second.")
    ] = DEFAULT_ON_DEMAND_RATE,
    consistent_read: Annotated[bool, typer.Option("--consistent-read", help="Scan: strongly consistent.")] = False,
    raise_read_capacity: Annotated[
        int | None,
        typer.Option(min=1, help="Scan: raise the provisioned read capacity to N for the scan (always reverted)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Scan: segments read in parallel.")] = 4,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
    account: Annotated[str | None, typer.Option(help="Configured account (default: the only one).")] = None,
    region: Annotated[
        str | None, typer.Option(help="Region (default: the account's first).", callback=options.region)
    ] = None,
    retain_days: Annotated[
        float | None, typer.Option(min=0, help="Expire the point (and a native backup) after this many days.")
    ] = None,
    export_bucket: Annotated[
        str | None, typer.Option(help="Export: the S3 bucket DynamoDB exports to (needs PITR on the table).")
    ] = None,
    keep_export: Annotated[
        bool, typer.Option("--keep-export", help="Export: keep the exported files in the bucket after ingesting.")
    ] = False,
    full_export: Annotated[
        bool,
        typer.Option("--full-export", help="Export: a full export even when an incremental one could be applied."),
    ] = False,
) -> None:
    """Back up DynamoDB tables: parallel Scan or an export to S3 into the library, or native on-demand backups."""
    st = state(ctx)
    if method not in METHODS:
        raise typer.BadParameter("must be scan, native or export", param_hint="--method")
    if method != "scan" and raise_read_capacity is not None:
        raise typer.BadParameter("applies to --method scan only", param_hint="--raise-read-capacity")
    if method != "export" and (export_bucket or keep_export or full_export):
        raise typer.BadParameter("applies to --method export only", param_hint="--export-bucket/--keep-export")
    if method == "export" and not export_bucket:
        raise typer.BadParameter("--method export needs the bucket to export to", param_hint="--export-bucket")
    name, where = _account_and_region(st, account, region)
    library_name = library_config(st, library)[0] if method in LIBRARY_METHODS else None
    params = backup_params(
        tables=tables, account=name, region=where, method=method, library=library_name,
        max_read_fraction=max_read_fraction, on_demand_read_rate=on_demand_read_rate,
        consistent_read=consistent_read, raise_read_capacity=raise_read_capacity, workers=workers,
        retain_days=retain_days, export_bucket=export_bucket, keep_export=keep_export,
        full_export=full_export,
    )  # fmt: skip
    print_results(st, runner(st).run(JobSpec(BACKUP_JOB, params)))


def register(backup_app: typer.Typer) -> None:
    """Add ``backup dynamodb`` to the ``backup`` group."""
    backup_app.command("dynamodb")(backup_dynamodb_command)
