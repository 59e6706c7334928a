"""``schedule run --once`` and ``schedule status`` in the lab: a catch-up runs the plan's latest slot once through
discovery and the dispatcher; the slots before it are recorded missed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from conftest import CliResult
from skyvault.catalog import Catalog

from .conftest import Estate

Cli = Callable[..., CliResult]


def test_schedule_run_once_catches_up_once_and_status_shows_missed_runs(estate: Estate, cli: Cli) -> None:
    instance = estate.instance("web", "admin", "us-east-1", {"backup": "hourly"})
    estate.add_plans(hourly={"services": ["ec2"], "accounts": ["admin"], "tags": ["backup=hourly"],
                             "schedule": "*/10 * * * *"})  # fmt: skip
    first = cli("--json", "schedule", "run", "--once")
    assert first.exit_code == 0, first.stderr
    assert first.json()["leader"] and len(first.json()["skipped"]) == 1  # first sight: nothing counts as missed
    catalog = Catalog.open(estate.env.state_dir)
    assert catalog.jobs() == []
    # Pretend the scheduler last ran 35 minutes earlier: three or four slots are due now.
    baseline = catalog.plan_runs("hourly")[0]
    earlier = baseline.scheduled_for - timedelta(minutes=30)
    assert catalog.record_plan_slot("hourly", earlier, "completed") is not None
    with catalog.session() as session, session.begin():
        from skyvault.catalog.models import PlanRunRow

        session.delete(session.get(PlanRunRow, baseline.id))
    tick = cli("--json", "schedule", "run", "--once")
    assert tick.exit_code == 0, tick.stderr
    report = tick.json()
    assert len(report["ran"]) == 1 and report["ran"][0]["status"] == "completed" and len(report["missed"]) >= 2
    jobs = catalog.jobs()
    assert len(jobs) == 1 and jobs[0].params["instance_id"] == instance
    assert jobs[0].run_key == f"hourly/{report['ran'][0]['scheduled_for']}/admin/us-east-1/{instance}"
    assert cli("--json", "schedule", "run", "--once").json()["ran"] == []  # the same slot never runs twice

    status = cli("--json", "schedule", "status").json()
    entry = status["plans"][0]
    assert entry["last_run"]["status"] == "completed" and len(entry["missed"]) == len(report["missed"])
    assert status["leader"] is None  # --once gives the lease back
    assert datetime.fromisoformat(entry["next_run"]) > datetime.now(UTC)
    assert "missed" in cli("schedule", "status").stdout
