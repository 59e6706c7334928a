"""``skyvault schedule run [--once]`` and ``skyvault schedule status``: plans on their cron schedules.

``run`` ticks every ``--interval`` seconds (and at each plan's next slot) until interrupted; ``--once`` ticks once
and exits, for cron or a systemd timer. Several schedulers may run at once: one leads through the catalog
(``skyvault.engine.scheduler``). Jobs run in this process through the in-process dispatcher.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from skyvault.cli.context import AppState, state
from skyvault.cli.tables import Column, print_table

app = typer.Typer(help="Run backup plans on their schedule.", no_args_is_help=True)


def _scheduler(st: AppState, lease_s: float) -> Any:
    from skyvault.cli.jobrun import environment, progress_printer
    from skyvault.cli.plans import plan_runner_factory
    from skyvault.engine.dispatch import InProcessDispatcher, JobDispatcher
    from skyvault.engine.runner import default_owner
    from skyvault.engine.scheduler import PlanExecutor, Scheduler

    config = st.config()
    env = environment(st, progress_printer(st))  # one passphrase prompt per library, before any thread starts
    runners = {name: plan_runner_factory(st, plan, env) for name, plan in config.plans.items() if plan.schedule}

    def dispatcher(name: str) -> JobDispatcher:
        limit = config.plan(name).max_parallel_per_account
        return InProcessDispatcher(runners[name], workers=min(16, limit * max(1, len(config.accounts))),
                                   per_account=limit)  # fmt: skip

    def close(used: JobDispatcher) -> None:
        if isinstance(used, InProcessDispatcher):
            used.close()

    executor = PlanExecutor(
        factory=st.factory(), catalog=st.catalog(), make_dispatcher=dispatcher,
        open_library=env.open_library, close_dispatcher=close,
    )  # fmt: skip
    return Scheduler(st.catalog(), config, executor, owner=default_owner(), lease_s=lease_s)


def _show_tick(st: AppState, report: Any) -> None:
    if st.json_output:
        st.emit_json(report.to_json())
        return
    if not report.leader:
        st.info(f"{report.at:%Y-%m-%d %H:%M:%S}: another scheduler leads; nothing to do here")
        return
    for entry in report.skipped:
        st.info(f"{entry['plan']}: first seen; runs from its next slot (slot {entry['scheduled_for']} skipped)")
    for entry in report.interrupted:
        st.info(f"[yellow]{entry['plan']}: the run of {entry['scheduled_for']} was interrupted[/yellow]")
    for entry in report.missed:
        st.info(f"[yellow]{entry['plan']}: missed {entry['scheduled_for']}[/yellow]")
    for entry in report.ran:
        how = " (catch-up)" if entry["catch_up"] else ""
        st.info(f"{entry['plan']}: {entry['scheduled_for']}{how}: {entry['status']}"
                + (f": {entry['error']}" if entry["error"] else ""))  # fmt: skip


@app.command("run")
def schedule_run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Tick once and exit (cron, systemd timers).")] = False,
    interval: Annotated[float, typer.Option(min=1, max=3600, help="Seconds between ticks.")] = 30.0,
    lease: Annotated[float, typer.Option(min=10, max=3600, help="Seconds the leader lease lasts unrenewed.")] = 90.0,
) -> None:
    """Run backup plans on their schedule; one leader among several schedulers (through the catalog)."""
    st = state(ctx)
    scheduler = _scheduler(st, lease)
    try:
        if once:
            _show_tick(st, scheduler.tick())
            return
        while True:
            report = scheduler.tick()
            if report.ran or report.missed or report.skipped or report.interrupted:
                _show_tick(st, report)
            now = datetime.now(UTC)
            wake = scheduler.next_wakeup(now)
            pause = interval if wake is None else min(interval, max(1.0, (wake - now).total_seconds() + 1))
            time.sleep(pause)
    finally:
        scheduler.release()


@app.command("status")
def schedule_status(
    ctx: typer.Context,
    runs: Annotated[int, typer.Option(min=1, max=1000, help="Recent runs counted per plan.")] = 50,
) -> None:
    """The leader, and per plan its next slot, last run, and the missed and failed runs among the recent ones."""
    st = state(ctx)
    config = st.config()
    catalog = st.catalog_if_any()
    now = datetime.now(UTC)
    from skyvault.engine import cron
    from skyvault.engine.scheduler import LEADER

    lease = catalog.scheduler_lease(LEADER) if catalog else None
    plans: list[dict[str, Any]] = []
    for name, plan in config.plans.items():
        recent = catalog.plan_runs(name, limit=runs) if catalog else []
        plans.append({
            "plan": name, "schedule": plan.schedule, "timezone": plan.timezone,
            "next_run": cron.next_slot(plan.schedule, plan.timezone, now).isoformat() if plan.schedule else None,
            "last_run": recent[0].to_dict() if recent else None,
            "missed": [r.scheduled_for.isoformat() for r in recent if r.status == "missed"],
            "failed": [{"scheduled_for": r.scheduled_for.isoformat(), "error": r.error}
                       for r in recent if r.status in ("failed", "interrupted")],
        })  # fmt: skip
    leader: dict[str, Any] | None = (
        {"owner": lease[0], "expires_at": lease[1].isoformat(), "live": lease[1] > now} if lease else None
    )
    if st.json_output:
        st.emit_json({"leader": leader, "plans": plans})
        return
    st.console.print(
        f"leader: {leader['owner']} ({'live' if leader['live'] else 'expired'} until {leader['expires_at'][:19]})"
        if leader else "leader: none (no scheduler has run)", highlight=False,
    )  # fmt: skip
    columns = [Column("plan", identifier=True), Column("schedule"), Column("next run", hide_rank=3),
               Column("last run"), Column("missed", justify="right"), Column("failed", justify="right"),
               Column("last error", hide_rank=1)]  # fmt: skip
    rows = [
        [p["plan"], f"{p['schedule']} {p['timezone']}" if p["schedule"] else "manual",
         (p["next_run"] or "-")[:16].replace("T", " "),
         f"{p['last_run']['status']} {p['last_run']['scheduled_for'][:16]}" if p["last_run"] else "-",
         str(len(p["missed"])), str(len(p["failed"])), ((p["failed"][0]["error"] or "") if p["failed"] else "")[:80]]
        for p in plans
    ]  # fmt: skip
    print_table(st.table_console, "schedules", columns, rows)
