"""``skyvault backup s3 BUCKET[/PREFIX]...``: S3 objects (or every version with ``--versions``) into the library.

One ``backup-s3`` job for the locations given, run in this process (``cli.jobrun``); each location becomes one
recovery point of kind ``s3`` whose library snapshot is a tree of its objects.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skyvault.cli import options
from skyvault.cli.context import AppState, default_account, state
from skyvault.cli.jobrun import runner
from skyvault.cli.library import library_config
from skyvault.jobs.spec import JobSpec
from skyvault.services.s3.jobs import BACKUP_JOB, backup_params


def _line(result: dict[str, Any]) -> str:
    s = result["stats"]
    skipped = f", {s['skipped']} SKIPPED (archived, see --json)" if s.get("skipped") else ""
    markers = f", {s['delete_markers']} delete markers" if s.get("delete_markers") else ""
    return (
        f"{result['recovery_point']}: {s['objects']} objects{markers} ({s['fetched']} read, {s['reused']} unchanged"
        f"{skipped}), {s['bytes_fetched']:,} bytes read, {s.get('new_bytes', 0):,} stored in {s['duration_s']} s "
        f"({s['objects_per_s']} objects/s)"
    )


def print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    for result in results:
        for skipped in result["stats"].get("skipped_objects", []):
            st.err_console.print(
                f"[yellow]skipped:[/yellow] {skipped['key']} ({skipped.get('version_id') or 'current'}): "
                f"{skipped['reason']}",
                highlight=False,
            )
    shown = [{"recovery_point": r["recovery_point"], "stats": r["stats"]} for r in results]
    if st.json_output:
        st.emit_json(shown[0] if len(shown) == 1 else shown)
        return
    for result in shown:
        st.info(_line(result))


def backup_s3_command(
    ctx: typer.Context,
    locations: Annotated[
        list[str],
        typer.Argument(help="BUCKET, BUCKET/PREFIX, or an S3 on Outposts access point ARN (optionally /PREFIX)."),
    ],
    versions: Annotated[
        bool, typer.Option("--versions", help="Keep every object version and delete marker, not only the current.")
    ] = False,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
    account: Annotated[str | None, typer.Option(help="Configured account (default: the admin/only one).")] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="Region asked for the bucket's location (default: the account's first).", callback=options.region
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="Requests in flight (small objects are latency-bound).")
    ] = 64,
) -> None:
    """Back up S3 buckets, prefixes or S3 on Outposts access points into the library, incrementally.

    With --json: {"recovery_point": ID, "stats": {...}} for one location, a list of those for several. Objects in
    archive storage classes that are not restored are skipped and listed in stats.skipped_objects.
    """
    st = state(ctx)
    name = default_account(st, account)
    where = region or st.config().account(name).regions[0]
    chosen, _cfg = library_config(st, library)
    params = backup_params(locations=locations, account=name, region=where, library=chosen, versions=versions,
                           workers=workers)  # fmt: skip
    print_results(st, runner(st).run(JobSpec(BACKUP_JOB, params)))


def register(backup_app: typer.Typer) -> None:
    """Add ``backup s3`` to the ``backup`` group."""
    backup_app.command("s3")(backup_s3_command)
