"""``skyvault jobs list|show|resume|cancel`` and the contract's commands that later issues build (they say so)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from skyvault.catalog import Catalog
from skyvault.cli.context import state
from skyvault.cli.tables import Column, print_table
from skyvault.cli.unbuilt import not_built
from skyvault.engine.jobs import JobRunner
from skyvault.errors import ConflictError, NotBuiltError
from skyvault.services.ec2.cleanup import job_alive

app = typer.Typer(help="Jobs: list, show, resume, cancel.", no_args_is_help=True)
FINISHED = ("completed", "completed-with-leftovers", "cancelled")


@app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this state (running, failed, completed...).")] = None,
) -> None:
    """List jobs, oldest first."""
    st = state(ctx)
    jobs = Catalog.open(st.state_dir).jobs(status=status)
    if st.json_output:
        st.emit_json([j.to_dict() for j in jobs])
        return
    columns = [
        Column("id", identifier=True),
        Column("kind"),
        Column("status"),
        Column("created", hide_rank=2),
        Column("duration", hide_rank=3, justify="right"),
        Column("error", hide_rank=1),
    ]
    rows = [
        [
            j.id,
            j.kind,
            j.status,
            j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{j.duration_s:.1f} s" if j.duration_s is not None else "-",
            (j.error or "")[:60],
        ]
        for j in jobs
    ]
    print_table(st.table_console, "jobs", columns, rows)


@app.command("show")
def jobs_show(ctx: typer.Context, job_id: str) -> None:
    """One job with its parameters, steps and the intermediates it still holds."""
    st = state(ctx)
    catalog = Catalog.open(st.state_dir)
    data = catalog.job(job_id).to_dict()
    data["live_intermediates"] = [
        {"type": i.resource_type, "id": i.id, "account": i.account, "region": i.region}
        for i in catalog.live_intermediates(job_id)
    ]
    if st.json_output:
        st.emit_json(data)
        return
    from rich.pretty import Pretty

    st.console.print(Pretty(data))


@app.command("resume")
def jobs_resume(ctx: typer.Context, job_id: str) -> None:
    """Run a failed or crashed job again; steps that finished are not repeated."""
    st = state(ctx)
    catalog = Catalog.open(st.state_dir)
    job = catalog.job(job_id)
    if job.status in FINISHED:
        raise ConflictError(f"job {job_id} is {job.status}: nothing to resume")
    from skyvault.cli.backup_databases import JOB_KINDS as DATABASE_JOBS

    if job.kind in DATABASE_JOBS:  # backup-rds|aurora|docdb|redshift (cli/backup_databases.py)
        from skyvault.cli.backup_databases import resume_database_backup

        resume_database_backup(st, catalog, job_id)
        return
    if job.kind != "backup-ec2":
        raise NotBuiltError(f"resuming {job.kind!r} jobs is not built yet", hint="cancel it and run the command again")
    from skyvault.cli.backup_ec2 import resume_backup

    result = resume_backup(st, catalog, job_id)
    if st.json_output:
        st.emit_json(result)
    else:
        st.info(f"{job_id}: resumed, recovery point {result['recovery_point']}")


@app.command("cancel")
def jobs_cancel(
    ctx: typer.Context,
    job_id: str,
    force: Annotated[bool, typer.Option("--force", help="Also a job that looks alive (its process is gone).")] = False,
) -> None:
    """Give up a failed or crashed job: delete the intermediates it holds and mark it cancelled."""
    st = state(ctx)
    catalog = Catalog.open(st.state_dir)
    job = catalog.job(job_id)
    if job.status in FINISHED:
        raise ConflictError(f"job {job_id} is already {job.status}")
    # Jobs run in the process that started them: a live one cannot be interrupted from here.
    if job_alive(job, datetime.now(UTC), timedelta(minutes=60)) and not force:
        raise ConflictError(
            f"job {job_id} is running (updated {job.updated_at.isoformat()})",
            hint="stop its process (Ctrl-C), or --force if that process is gone",
        )
    leftovers = JobRunner(catalog, st.factory()).cleanup(job_id)
    catalog.update_job(job_id, status="cancelled", error=job.error or "cancelled by the user")
    result = {"job": job_id, "status": "cancelled", "leftovers": leftovers}
    if st.json_output:
        st.emit_json(result)
    else:
        st.info(f"{job_id}: cancelled" + (f"; could not delete {', '.join(leftovers)}" if leftovers else ""))


def register_unbuilt(root: typer.Typer) -> None:
    from skyvault.cli import cleanup

    cleanup.register(root)  # registered here, beside the commands still to be built

    @root.command("convert")
    def convert() -> None:
        """Convert a VM disk image into EC2 (EBS direct write or VM Import/Export)."""
        not_built("convert")

    @root.command("schedule")
    def schedule() -> None:
        """Run backup plans on their schedule."""
        not_built("schedule")

    @root.command("report")
    def report() -> None:
        """Protection report (table, json, html)."""
        not_built("report")
