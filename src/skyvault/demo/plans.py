"""The demo's plan step: a ``demo-daily`` plan in ``skyvault.toml`` (added if missing) selects what the estate tags
``backup=daily`` (each account's app instance, orders database and orders table), runs once now as ``skyvault
backup --plan demo-daily`` would (one job per resource through the in-process dispatcher, then the plan's
retention), and the protection report follows (``skyvault report`` prints it in full; ``--format html``
draws the chart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from rich.console import Console

from skyvault.cli.context import AppState
from skyvault.cli.jobrun import environment, runner
from skyvault.config import PlanConfig, SkyvaultConfig
from skyvault.engine.dispatch import InProcessDispatcher
from skyvault.engine.planretention import apply_retention
from skyvault.engine.plans import resolve, run_plan
from skyvault.engine.report import build_report

PLAN = "demo-daily"
DEMO_PLAN = {
    "services": ["ec2", "rds", "dynamodb"],
    "tags": ["backup=daily"],
    "schedule": "0 3 * * *",
    "timezone": "UTC",
    "retention": {"keep_last": 3, "daily": 7, "weekly": 4},
}


class DemoLike(Protocol):
    console: Console
    results: dict[str, Any]

    def require_app(self) -> AppState: ...


def plans_step(demo: DemoLike) -> str:
    app = demo.require_app()
    config = app.config()
    added = PLAN not in config.plans
    if added:
        data = config.model_dump(mode="json")
        data["plans"] = {**data.get("plans", {}), PLAN: PlanConfig.model_validate(DEMO_PLAN).model_dump(mode="json")}
        app.save(SkyvaultConfig.model_validate(data))
    selection = resolve(app.factory(), PLAN)
    now = datetime.now(UTC)
    dispatcher = InProcessDispatcher(lambda: runner(app), workers=6, per_account=2)
    try:
        outcome = run_plan(
            dispatcher, app.catalog(), app.config(), PLAN, selection, scheduled_for=now, now=now, trigger="demo"
        )
    finally:
        dispatcher.close()
    retention = apply_retention(
        app.catalog(), app.factory(), app.config(), PLAN, now=datetime.now(UTC),
        open_library=environment(app).open_library,
    )  # fmt: skip
    report = build_report(
        app.factory(), app.catalog(), now=datetime.now(UTC), library_stats=_no_library_stats,
        resources=demo.results["discovery"].resources if "discovery" in demo.results else None,
    )  # fmt: skip
    protected = report["resources"]
    ok = sum(1 for r in protected if r["status"] == "ok")
    done = sum(1 for _, job in outcome.jobs if job.status == "completed")
    return (
        f"{'added' if added else 'kept'} plan {PLAN} (backup=daily: ec2, rds, dynamodb); run {outcome.run.status}: "
        f"{done}/{len(outcome.jobs)} jobs completed in {outcome.run.duration_s or 0:.1f}s; {retention.line()}; "
        f"report: {ok}/{len(protected)} protected resources within their RPO, "
        f"{len(report['unprotected'])} unprotected (try 'skyvault report --format html -o report.html')"
    )


def _no_library_stats(name: str) -> dict[str, Any]:
    raise LookupError(f"library {name}: see 'skyvault report' (the demo's summary skips library stats)")
