"""``skyvault cleanup [--dry-run]``: remove what crashed jobs left behind, by catalog record, tag and age.

Three sweeps:
1. the catalog's live intermediates of jobs that are over (failed, or "running" without progress for the grace
   period: a crashed process) go through the same cleaners a job runs at its end;
2. resources tagged ``skyvault:managed=true`` in every configured account and region that are orphans by the
   rules in ``skyvault.services.ec2.cleanup`` (intermediates whose job is over, snapshots of crashed jobs);
3. recovery points past their retention (``backup ... --retain-days N``) are expired by their kind's driver,
   which deletes only their snapshots and copies that still carry skyvault's tag.
Nothing without skyvault's tag is ever touched; ``--dry-run`` only lists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from skyvault.catalog import Catalog
from skyvault.cli.context import state
from skyvault.cli.tables import Column, print_table
from skyvault.engine.jobs import JobRunner
from skyvault.engine.retention import due, expire_due
from skyvault.services.ec2 import cleanup as ec2_cleanup


def stale_jobs(catalog: Catalog, older_than: timedelta, now: datetime) -> dict[str, list[Any]]:
    """Job ID -> live intermediates, for jobs that are over (their intermediates should not exist)."""
    jobs = {job.id: job for job in catalog.jobs()}
    stale: dict[str, list[Any]] = {}
    for item in catalog.live_intermediates():
        if not ec2_cleanup.job_alive(jobs.get(item.job_id), now, older_than):
            stale.setdefault(item.job_id, []).append(item)
    return stale


def register(root: typer.Typer) -> None:
    @root.command("cleanup")
    def cleanup_command(
        ctx: typer.Context,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; change nothing.")] = False,
        older_than: Annotated[
            float, typer.Option(min=0, help="Grace period in minutes: younger resources and jobs are left alone.")
        ] = 60.0,
        account: Annotated[list[str] | None, typer.Option(help="Only these configured accounts.")] = None,
        region: Annotated[list[str] | None, typer.Option(help="Only these regions.")] = None,
    ) -> None:
        """Remove orphaned skyvault intermediates (snapshots, volumes, AMIs) by tag and age."""
        st = state(ctx)
        config = st.config()
        factory = st.factory()
        catalog = Catalog.open(st.state_dir)
        now = datetime.now(UTC)
        grace = timedelta(minutes=older_than)
        names = account or sorted(config.accounts)
        targets = [(n, r) for n in names for r in config.account(n).regions if not region or r in region]

        intermediates = stale_jobs(catalog, grace, now)
        report: dict[str, Any] = {"dry_run": dry_run, "intermediates": [], "orphans": [], "failed": []}
        runner = JobRunner(catalog, factory)
        for job_id, items in sorted(intermediates.items()):
            for item in items:
                report["intermediates"].append(
                    {
                        "job": job_id,
                        "type": item.resource_type,
                        "id": item.id,
                        "account": item.account,
                        "region": item.region,
                    }
                )
            if not dry_run:
                leftovers = runner.cleanup(job_id)
                report["failed"].extend({"job": job_id, "id": i} for i in leftovers)
                job = catalog.job(job_id)
                if job.status == "running":
                    catalog.update_job(job_id, status="abandoned", error="crashed; intermediates removed by cleanup")

        orphans = ec2_cleanup.find_orphans(factory, catalog, targets, older_than=grace, now=now)
        for orphan in ec2_cleanup.removal_order(orphans):
            entry = orphan.to_json()
            if not dry_run:
                try:
                    ec2_cleanup.remove_orphan(factory, orphan)
                    entry["removed"] = True
                except Exception as exc:  # report and go on: one stuck resource must not strand the rest
                    entry["removed"] = False
                    entry["error"] = str(exc)
                    report["failed"].append({"id": orphan.resource_id, "error": str(exc)})
            report["orphans"].append(entry)

        expiring = [p for p in due(catalog, now) if p.account in names and (not region or p.region in region)]
        report["expired"] = [{"recovery_point": p.id, "kind": p.kind, "resource": p.resource_id} for p in expiring]
        if expiring and not dry_run:
            expiry = expire_due(catalog, factory, now=now, only={p.id for p in expiring})
            report["snapshots_expired"] = expiry.snapshots_deleted
            report["failed"].extend({"recovery_point": i, "error": e} for i, e in expiry.failed.items())
            for row in report["expired"]:
                row["expired"] = row["recovery_point"] in expiry.expired

        if st.json_output:
            st.emit_json(report)
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
            [row["account"], row["region"], row["type"], row["id"], f"intermediate of job {row['job']}"]
            for row in report["intermediates"]
        ]
        rows += [[row["account"], row["region"], row["type"], row["id"], row["reason"]] for row in report["orphans"]]
        rows += [
            ["", "", f"{row['kind']} recovery point", row["recovery_point"], "retention expired"]
            for row in report["expired"]
        ]
        print_table(st.table_console, f"cleanup ({verb})", columns, rows)
        if report["failed"]:
            st.info(f"[red]{len(report['failed'])} could not be removed[/red] (see --json for details)")
