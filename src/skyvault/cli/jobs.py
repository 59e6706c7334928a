"""``skyvault jobs list|show|resume|cancel`` and the contract's commands that later issues build (they say so)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skyvault.cli import jobrun, results
from skyvault.cli.context import state
from skyvault.cli.tables import Column, print_table

if TYPE_CHECKING:
    from skyvault.catalog import Job

app = typer.Typer(help="Jobs: list, show, resume, cancel.", no_args_is_help=True)


def _lease_state(job: Job, now: datetime) -> str:
    if job.lease_live(now):
        return "alive"
    return "expired" if job.lease_owner is not None else "-"


def _job_json(job: Job, now: datetime) -> dict[str, Any]:
    data = job.to_dict()
    data["lease_owner"] = job.lease_owner
    data["lease_expires_at"] = job.lease_expires_at.isoformat() if job.lease_expires_at else None
    data["heartbeat_at"] = job.heartbeat_at.isoformat() if job.heartbeat_at else None
    data["lease"] = _lease_state(job, now)
    return data


@app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only jobs in this state (running, failed, completed...).")] = None,
) -> None:
    """List jobs, oldest first. ``lease``: alive (its process renews it), expired (its process died), - (none)."""
    st = state(ctx)
    catalog = st.catalog_if_any()  # none yet: no jobs, and listing creates nothing
    jobs = catalog.jobs(status=status) if catalog else []
    now = datetime.now(UTC)
    if st.json_output:
        st.emit_json([_job_json(j, now) for j in jobs])
        return
    columns = [
        Column("id", identifier=True),
        Column("kind"),
        Column("status"),
        Column("lease", hide_rank=4),
        Column("created", hide_rank=2),
        Column("duration", hide_rank=3, justify="right"),
        Column("error", hide_rank=1),
    ]
    rows = [
        [
            j.id,
            j.kind,
            j.status,
            _lease_state(j, now),
            j.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{j.duration_s:.1f} s" if j.duration_s is not None else "-",
            (j.error or "")[:60],
        ]
        for j in jobs
    ]
    print_table(st.table_console, "jobs", columns, rows)


@app.command("show")
def jobs_show(ctx: typer.Context, job_id: str) -> None:
    """One job with its parameters, steps, lease and the intermediates it still holds."""
    st = state(ctx)
    data = _job_json(st.job(job_id), datetime.now(UTC))
    catalog = st.catalog()
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
    """Run a failed or crashed job again; steps that finished are not repeated. A live job is refused."""
    st = state(ctx)
    kind = st.job(job_id).kind
    result = jobrun.runner(st).resume(job_id)
    results.print_result(st, kind, result)


@app.command("cancel")
def jobs_cancel(
    ctx: typer.Context,
    job_id: str,
    force: Annotated[
        bool, typer.Option("--force", help="Also a job whose lease is live (its process is gone, or must stop).")
    ] = False,
) -> None:
    """Give up a failed or crashed job: delete the intermediates it holds and mark it cancelled."""
    st = state(ctx)
    st.job(job_id)  # an unknown job is refused before anything is opened or created
    from skyvault.engine.runner import JobRunner  # the catalog (SQLAlchemy): not for ``jobs --help``

    result = JobRunner(jobrun.environment(st)).cancel(job_id, force=force)
    if st.json_output:
        st.emit_json(result)
    else:
        leftovers = result["leftovers"]
        st.info(f"{job_id}: cancelled" + (f"; could not delete {', '.join(leftovers)}" if leftovers else ""))


def register_cleanup(root: typer.Typer) -> None:
    from skyvault.cli import cleanup

    cleanup.register(root)  # beside the jobs commands: cleanup works on the intermediates jobs record
