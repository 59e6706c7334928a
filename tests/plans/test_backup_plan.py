"""``plans list|show`` and ``backup --plan``: selection by tags across accounts and regions, one job per resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import CliResult
from skyvault.catalog import Catalog

from .conftest import Estate

Cli = Callable[..., CliResult]

DAILY = {
    "services": ["ec2", "rds"],
    "accounts": ["admin", "tenant-a"],
    "tags": ["backup=daily"],
    "exclude_tags": ["legal=skip"],
    "schedule": "0 3 * * *",
    "timezone": "Europe/Paris",
    "retention": {"keep_last": 2, "daily": 7},
}


def _seed(estate: Estate) -> None:
    estate.instance("web-us", "admin", "us-east-1", {"backup": "daily"})
    estate.instance("web-eu", "tenant-a", "eu-west-1", {"backup": "daily", "team": "web"})
    estate.instance("scratch", "admin", "us-east-1", {"backup": "never"})
    estate.instance("skipped", "tenant-a", "us-east-1", {"backup": "daily", "legal": "skip"})
    estate.database("orders", "tenant-a", "us-east-1", {"backup": "daily"})
    estate.database("billing", "admin", "eu-west-1", {"backup": "daily"})
    estate.database("sandbox", "admin", "us-east-1", {"backup": "weekly"})


def _ids(entries: list[dict[str, Any]], key: str = "id") -> set[str]:
    return {e[key] for e in entries}


def test_plan_selects_by_tags_across_accounts_and_regions_and_runs_one_job_per_resource(
    estate: Estate, cli: Cli
) -> None:
    _seed(estate)
    estate.add_plans(daily=DAILY, web={**DAILY, "services": ["ec2"], "tags": ["team=web"], "schedule": None})
    listed = cli("--json", "plans", "list").json()
    assert [p["name"] for p in listed] == ["daily", "web"]
    assert listed[0]["next_run"] and listed[0]["rpo_s"] == 86400 and listed[1]["next_run"] is None

    shown = cli("--json", "plans", "show", "daily")
    assert shown.exit_code == 0, shown.stderr
    data = shown.json()
    i, d = estate.instances, estate.databases
    expected = {i["web-us"], i["web-eu"], d["orders"], d["billing"]}
    assert _ids(data["selected"]) == expected
    assert {(s["account"], s["region"]) for s in data["selected"]} == {
        ("admin", "us-east-1"),
        ("tenant-a", "eu-west-1"),
        ("tenant-a", "us-east-1"),
        ("admin", "eu-west-1"),
    }
    assert [(e["id"], e["reason"]) for e in data["excluded"]] == [(i["skipped"], "exclude_tags: legal=skip")]
    assert cli("--json", "plans", "show", "web").json()["selected"][0]["id"] == i["web-eu"]

    dry = cli("--json", "backup", "--plan", "daily", "--dry-run").json()
    assert dry["dry_run"] and _ids(dry["would_run"], "resource") == expected
    assert {w["job_kind"] for w in dry["would_run"]} == {"backup-ec2", "backup-rds"}
    assert all(w["queue"] == w["region"] and w["run_key"].startswith("daily/") for w in dry["would_run"])
    catalog = Catalog.open(estate.env.state_dir)
    assert catalog.jobs() == []  # a dry run submits nothing

    ran = cli("--json", "backup", "--plan", "daily")
    assert ran.exit_code == 0, ran.stderr
    result = ran.json()
    assert result["run"]["status"] == "completed" and _ids(result["jobs"], "resource") == expected
    jobs = catalog.jobs()
    assert len(jobs) == 4 and all(j.status == "completed" and j.run_key for j in jobs)
    assert {j.queue for j in jobs} == {"us-east-1", "eu-west-1"}
    points = catalog.recovery_points()
    assert {p.resource_id for p in points} == expected
    assert all(j["recovery_point"] in {p.id for p in points} for j in result["jobs"])
    runs = catalog.plan_runs("daily")
    assert len(runs) == 1 and runs[0].summary["trigger"] == "manual" and runs[0].summary["completed"] == 4

    after = cli("--json", "plans", "show", "daily").json()
    assert after["runs"][0]["status"] == "completed"


def test_a_failed_job_fails_the_run_with_its_reason_and_exit_14(estate: Estate, cli: Cli) -> None:
    estate.instance("web-us", "admin", "us-east-1", {"backup": "daily"})
    estate.add_plans(daily={**DAILY, "services": ["ec2"], "ids": ["i-00000000000000000"], "tags": ["backup=daily"]})
    result = cli("--json", "backup", "--plan", "daily")
    assert result.exit_code == 14
    assert "i-00000000000000000: not found by discovery" in result.stderr
    data = result.json()
    assert data["missing_ids"] == ["i-00000000000000000"] and data["run"]["status"] == "failed"
    assert [j["status"] for j in data["jobs"]] == ["completed"]


def test_unknown_plan_and_misplaced_options(estate: Estate, cli: Cli) -> None:
    estate.add_plans(daily=DAILY)
    missing = cli("backup", "--plan", "nightly")
    assert missing.exit_code == 4 and "no plan named 'nightly' (known: daily)" in missing.stderr
    assert cli("backup", "--plan", "daily", "rds", "db-1").exit_code == 2
    assert cli("plans", "show", "nightly").exit_code == 4
