"""``skyvault cleanup [--dry-run]``: remove what crashed jobs left behind (``skyvault.engine.cleanup`` says how)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from skyvault.cli import jobrun, options
from skyvault.cli.context import state
from skyvault.cli.tables import Column, print_table

MAX_GRACE_MINUTES = 100 * 366 * 24 * 60  # a century: beyond it, "now minus the grace" leaves the calendar


def register(root: typer.Typer) -> None:
    @root.command("cleanup")
    def cleanup_command(
        ctx: typer.Context,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")] = False,
        older_than: Annotated[
            float,
            typer.Option(
                min=0,
                max=MAX_GRACE_MINUTES,
                help="Grace period in minutes: younger tagged resources are left alone (jobs: by lease).",
            ),
        ] = 60.0,
        account: Annotated[list[str] | None, typer.Option(help="Only these configured accounts.")] = None,
        region: Annotated[list[str] | None, typer.Option(help="Only these regions.", callback=options.regions)] = None,
    ) -> None:
        """Remove orphaned skyvault intermediates (snapshots, volumes, AMIs) by tag and age."""
        from skyvault.engine.cleanup import clean_up  # the catalog (SQLAlchemy): not for ``cleanup --help``
        from skyvault.engine.runner import JobRunner

        st = state(ctx)
        config = st.config()
        report = clean_up(
            JobRunner(jobrun.environment(st)),
            accounts=account or sorted(config.accounts),
            regions=region,
            older_than=timedelta(minutes=older_than),
            dry_run=dry_run,
        )
        if st.json_output:
            st.emit_json(report.to_json())
            return
        verb = "would remove" if dry_run else "removed"
        columns = [
            Column("account", hide_rank=2),
            Column("region", hide_rank=1),
            Column("type"),
            Column("id", identifier=True),
            Column("reason"),
        ]
        rows = [
            [i.account, i.region, i.resource_type, i.resource_id, f"intermediate of job {i.job}"]
            for i in report.intermediates
        ]
        rows += [
            [s.orphan.account, s.orphan.region, s.orphan.resource_type, s.orphan.resource_id, s.orphan.reason]
            for s in report.orphans
        ]
        rows += [["", "", f"{p.kind} recovery point", p.recovery_point, "retention expired"] for p in report.expired]
        print_table(st.table_console, f"cleanup ({verb})", columns, rows)
        if report.failed:
            st.info(f"[red]{len(report.failed)} could not be removed[/red] (see --json for details)")
