"""``skyvault backup image PATH...``: back up raw disk images into the library (incremental per image).

One ``backup-image`` job for the paths given, run in this process (``cli.jobrun``); the job writes the library
snapshots and the catalog's recovery points.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skyvault.cli.context import state

if TYPE_CHECKING:
    from skyvault.cli.context import AppState

# The job runner (SQLAlchemy, for the catalog) and the library are imported when the command runs, not when its
# module is loaded: ``skyvault backup image --help`` imports neither (tests/core/test_startup.py).


def _line(result: dict[str, Any]) -> str:
    s = result["stats"]
    return (
        f"{result['recovery_point']}: {s['bytes_read']:,} bytes read, {s['bytes_stored']:,} stored "
        f"({s['blocks_new']} new, {s['blocks_unchanged']} unchanged, {s['blocks_zero']} zero blocks) "
        f"in {s['duration_s']} s ({s['mb_per_s']} MB/s)"
    )


def print_results(st: AppState, results: list[dict[str, Any]]) -> None:
    from skyvault.cli.jobrun import print_backups

    print_backups(st, results, _line)


def backup_image_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Raw disk image file(s) (or block devices).")],
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """Back up raw disk images into the library, incrementally against each image's previous recovery point.

    With --json: {"recovery_point": ID, "stats": {...}} for one image, a list of those for several.
    """
    from skyvault.cli.jobrun import open_early, runner
    from skyvault.cli.library import library_config

    st = state(ctx)
    name, _cfg = library_config(st, library)
    early = open_early(st, name)  # before the job and the catalog are imported: see open_early
    from skyvault.jobs.spec import JobSpec
    from skyvault.services.image.jobs import BACKUP_JOB, backup_params

    params = backup_params(paths=[str(p) for p in paths], library=name)
    print_results(st, runner(st, early=early).run(JobSpec(BACKUP_JOB, params)))


def register(backup_app: typer.Typer) -> None:
    """Add ``backup image`` to the ``backup`` group."""
    backup_app.command("image")(backup_image_command)
