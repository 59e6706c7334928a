"""``skyvault plans list|show NAME`` and ``skyvault backup --plan NAME [--dry-run]``.

``plans show`` resolves the plan through discovery: what it selects right now, what it leaves out and why. ``backup
--plan`` runs the plan once now: one job per selected resource through the in-process dispatcher (parallel within
the plan's per-account limit), each a catalog job that ``jobs resume`` can finish; then the plan's retention.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from skyvault.cli.context import AppState, state
from skyvault.cli.tables import Column, print_table
from skyvault.config import PlanConfig
from skyvault.errors import JobError

app = typer.Typer(help="Backup plans: list, show what a plan selects now.", no_args_is_help=True)


def _schedule_facts(plan: PlanConfig, now: datetime) -> dict[str, Any]:
    if plan.schedule is None:
        return {"next_run": None, "rpo_s": None}
    from skyvault.engine import cron

    return {
        "next_run": cron.next_slot(plan.schedule, plan.timezone, now).isoformat(),
        "rpo_s": cron.rpo(plan.schedule, plan.timezone, now=now).total_seconds(),
    }


def plan_json(name: str, plan: PlanConfig, now: datetime) -> dict[str, Any]:
    return {"name": name, **plan.model_dump(mode="json"), **_schedule_facts(plan, now)}


def _retention_text(plan: PlanConfig) -> str:
    r = plan.retention
    if r.keeps_everything:
        return "keep all"
    parts = [f"{label} {n}" for label, n in (("last", r.keep_last), ("daily", r.daily), ("weekly", r.weekly),
             ("monthly", r.monthly), ("yearly", r.yearly)) if n]  # fmt: skip
    if r.min_age_days:
        parts.append(f"min age {r.min_age_days:g} d")
    return ", ".join(parts)


def _selector_text(plan: PlanConfig) -> str:
    parts = [*plan.tags, *(f"id {i}" for i in plan.ids)] or ["everything"]
    parts += [f"not {t}" for t in plan.exclude_tags] + [f"not {i}" for i in plan.exclude_ids]
    return ", ".join(parts)


@app.command("list")
def plans_list(ctx: typer.Context) -> None:
    """List the configured plans with their schedule, next run, retention and last run."""
    st = state(ctx)
    config = st.config()
    now = datetime.now(UTC)
    catalog = st.catalog_if_any()
    last = {name: (catalog.plan_runs(name, limit=1) if catalog else []) for name in config.plans}
    data = []
    for name, plan in config.plans.items():
        entry = plan_json(name, plan, now)
        entry["last_run"] = last[name][0].to_dict() if last[name] else None
        data.append(entry)
    if st.json_output:
        st.emit_json(data)
        return
    columns = [
        Column("plan", identifier=True),
        Column("services"),
        Column("selects"),
        Column("schedule", hide_rank=3),
        Column("next run", hide_rank=2),
        Column("retention", hide_rank=4),
        Column("last run", hide_rank=1),
    ]
    rows = [
        [
            e["name"],
            ", ".join(f"{s} ({config.plans[e['name']].mode(s)})" for s in e["services"]),
            _selector_text(config.plans[e["name"]]),
            f"{e['schedule']} {e['timezone']}" if e["schedule"] else "manual",
            e["next_run"][:16].replace("T", " ") if e["next_run"] else "-",
            _retention_text(config.plans[e["name"]]),
            f"{e['last_run']['status']} {e['last_run']['scheduled_for'][:16]}" if e["last_run"] else "-",
        ]
        for e in data
    ]
    print_table(st.table_console, "plans", columns, rows)


@app.command("show")
def plans_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Plan name.")],
    runs: Annotated[int, typer.Option(min=0, max=1000, help="How many recent runs to show.")] = 10,
) -> None:
    """What a plan selects right now (through discovery), what it leaves out and why, and its recent runs."""
    st = state(ctx)
    config = st.config()
    plan = config.plan(name)
    from skyvault.engine.plans import resolve, target_of

    selection = resolve(st.factory(), name)
    now = datetime.now(UTC)
    catalog = st.catalog_if_any()
    recent = catalog.plan_runs(name, limit=runs) if catalog else []
    data = plan_json(name, plan, now)
    data["selected"] = [
        {**r.to_json(), "mode": target_of(config, plan, r).mode, "library": target_of(config, plan, r).library}
        for r in selection.selected
    ]
    for entry in data["selected"]:
        entry.pop("details", None)
        entry.pop("arn", None)
    data["excluded"] = [e.to_json() for e in selection.excluded]
    data["missing_ids"] = selection.missing_ids
    data["discovery_failures"] = [f.to_json() for f in selection.failures]
    data["runs"] = [r.to_dict() for r in recent]
    if st.json_output:
        st.emit_json(data)
        return
    st.console.print(
        f"[bold]{name}[/bold]: {_selector_text(plan)}; "
        f"{plan.schedule + ' ' + plan.timezone if plan.schedule else 'manual only'}"
        + (f", next run {data['next_run'][:16]}" if data["next_run"] else "")
        + f"; retention: {_retention_text(plan)}",
        highlight=False,
    )
    columns = [
        Column("account", hide_rank=2),
        Column("region", hide_rank=3),
        Column("service"),
        Column("id", identifier=True),
        Column("name", hide_rank=1),
        Column("mode / why not"),
    ]
    rows = [[s["account"], s["region"], s["service"], s["id"], s["name"] or "-", s["mode"]] for s in data["selected"]]
    rows += [
        [e["account"], e["region"], e["service"], e["id"], e["name"] or "-", f"excluded: {e['reason']}"]
        for e in data["excluded"]
    ]
    rows += [["", "", "", i, "-", "not found by discovery"] for i in selection.missing_ids]
    print_table(st.table_console, f"plan {name}: {len(selection.selected)} selected", columns, rows)
    for failure in selection.failures:
        st.err_console.print(f"[yellow]discovery failed[/yellow] {failure.to_json()}", highlight=False)
    if recent:
        run_columns = [Column("scheduled for"), Column("status"), Column("duration", hide_rank=1), Column("error")]
        run_rows = [
            [
                r.scheduled_for.strftime("%Y-%m-%d %H:%M"),
                r.status,
                f"{r.duration_s:.1f} s" if r.duration_s is not None else "-",
                (r.error or "")[:80],
            ]
            for r in recent
        ]
        print_table(st.table_console, "recent runs", run_columns, run_rows)


def run_plan_now(st: AppState, name: str, *, dry_run: bool) -> None:
    """``skyvault backup --plan NAME [--dry-run]``."""
    config = st.config()
    plan = config.plan(name)
    from skyvault.engine.plans import job_for, resolve, run_key, target_of

    selection = resolve(st.factory(), name)
    now = datetime.now(UTC)
    if dry_run:
        would = []
        for resource in selection.selected:
            target = target_of(config, plan, resource)
            spec = job_for(target)
            would.append({
                "account": target.account, "region": target.region, "service": target.service,
                "resource": target.resource_id, "mode": target.mode, "job_kind": spec.kind, "queue": target.region,
                "run_key": run_key(name, now, target),
            })  # fmt: skip
        data = {
            "plan": name,
            "dry_run": True,
            "would_run": would,
            "excluded": [e.to_json() for e in selection.excluded],
            "missing_ids": selection.missing_ids,
            "discovery_failures": [f.to_json() for f in selection.failures],
        }
        if st.json_output:
            st.emit_json(data)
            return
        columns = [Column("account"), Column("region"), Column("service"), Column("resource", identifier=True),
                   Column("mode"), Column("job")]  # fmt: skip
        rows = [[w["account"], w["region"], w["service"], w["resource"], w["mode"], w["job_kind"]] for w in would]
        print_table(st.table_console, f"plan {name}: would run {len(would)} job(s)", columns, rows)
        return
    _run(st, name, plan, selection, now)


def plan_runner_factory(st: AppState, plan: PlanConfig, env: Any = None) -> Any:
    """One job environment for every job of a run (one passphrase prompt per library, asked here, before any
    thread starts), and a fresh runner per job."""
    from skyvault.cli.jobrun import environment, progress_printer
    from skyvault.engine.runner import JobRunner

    env = env or environment(st, progress_printer(st))
    if plan.uses_library:
        env.open_library(plan.library or st.config().default_library).close()
    return lambda: JobRunner(env)


def _run(st: AppState, name: str, plan: PlanConfig, selection: Any, now: datetime) -> None:
    from skyvault.engine.dispatch import InProcessDispatcher
    from skyvault.engine.planretention import apply_retention
    from skyvault.engine.plans import run_plan

    catalog = st.catalog()
    workers = max(1, min(16, plan.max_parallel_per_account * max(1, len(plan.accounts or st.config().accounts))))
    make_runner = plan_runner_factory(st, plan)
    dispatcher = InProcessDispatcher(make_runner, workers=workers, per_account=plan.max_parallel_per_account)
    try:
        outcome = run_plan(
            dispatcher, catalog, st.config(), name, selection, scheduled_for=now, now=now, trigger="manual"
        )
    finally:
        dispatcher.close()
    retention = apply_retention(
        catalog, st.factory(), st.config(), name, now=datetime.now(UTC), open_library=make_runner().env.open_library
    )
    data = outcome.to_json()
    points = {p.job_id: p for p in catalog.recovery_points(status=None) if p.job_id}
    for job in data["jobs"]:
        point = points.get(job["job"])
        job["recovery_point"] = point.id if point is not None and point.status != "failed" else None
    data["retention"] = retention.to_json()
    if st.json_output:
        st.emit_json(data)
    else:
        columns = [Column("account", hide_rank=2), Column("region", hide_rank=3), Column("resource", identifier=True),
                   Column("job", identifier=True), Column("status"), Column("recovery point", identifier=True),
                   Column("error", hide_rank=1)]  # fmt: skip
        rows = [
            [j["account"], j["region"], j["resource"], j["job"], j["status"], j["recovery_point"] or "-",
             (j["error"] or "")[:80]]
            for j in data["jobs"]
        ]  # fmt: skip
        print_table(st.table_console, f"plan {name}: run {outcome.run.status}", columns, rows)
        st.info(retention.line())
    if outcome.run.status != "completed":
        raise JobError(
            f"plan {name}: {outcome.run.error}",
            hint="skyvault jobs resume JOB finishes a failed job; skyvault plans show " + name,
        )
