"""``skyvault jobs`` and the contract's commands that later issues build (they say so)."""

from __future__ import annotations

import typer

from skyvault.cli.unbuilt import not_built

app = typer.Typer(help="Jobs: list, show, resume, cancel.", no_args_is_help=True)


@app.command("list")
def jobs_list() -> None:
    """List jobs."""
    not_built("jobs list", 5)


def register_unbuilt(root: typer.Typer) -> None:
    @root.command("cleanup")
    def cleanup() -> None:
        """Remove orphaned skyvault intermediates (snapshots, volumes, AMIs) by tag and age."""
        not_built("cleanup", 5)

    @root.command("convert")
    def convert() -> None:
        """Convert a VM disk image into EC2 (EBS direct write or VM Import/Export)."""
        not_built("convert", 5)

    @root.command("schedule")
    def schedule() -> None:
        """Run backup plans on their schedule."""
        not_built("schedule", 5)

    @root.command("report")
    def report() -> None:
        """Protection report (table, json, html)."""
        not_built("report", 5)
