"""``skyvault report``: per resource the last good point against the RPO, failures and their reasons, unprotected
resources, per plan job success and durations, per library stored against logical bytes; one self-contained HTML."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from ec2.conftest import PASSPHRASE, add_library
from skyvault.catalog import Catalog
from skyvault.config import PLAN_MODES
from skyvault.engine.plans import job_for
from skyvault.engine.report import job_resources
from skyvault.engine.runner import JobRunner
from skyvault.errors import LibraryError
from skyvault.jobs.spec import JobSpec
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment, PlanTarget
from skyvault.services.ec2.backup import JOB_KIND, backup_params

from .conftest import Estate

Cli = Callable[..., CliResult]


def _unreachable(name: str | None) -> Repository:
    raise LibraryError(f"library {name} is unreachable from this worker (no passphrase)")


def test_report_in_table_json_and_html(
    estate: Estate, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", PASSPHRASE)
    add_library(estate.env, tmp_path / "library")
    web = estate.instance("web", "admin", "us-east-1", {"backup": "hourly"})
    api = estate.instance("api", "tenant-a", "eu-west-1", {"backup": "hourly"})
    stray = estate.instance("stray", "admin", "eu-west-1", {})
    plan = {"services": ["ec2"], "tags": ["backup=hourly"], "modes": {"ec2": "library"}, "schedule": "15 * * * *"}
    # Back up web only (the plan narrowed to its region for now), then let api's backup fail for a real reason.
    estate.add_plans(hourly={**plan, "accounts": ["admin"], "regions": ["us-east-1"]})
    assert cli("backup", "--plan", "hourly").exit_code == 0
    estate.add_plans(hourly={**plan, "accounts": ["admin", "tenant-a"]})
    catalog = Catalog.open(estate.env.state_dir)
    env = JobEnvironment(catalog=catalog, factory=estate.env.factory(), open_library=_unreachable)
    spec = JobSpec(JOB_KIND, backup_params(instance_id=api, account="tenant-a", region="eu-west-1", library="main"))
    with pytest.raises(LibraryError):
        JobRunner(env).run(spec)

    report = cli("report", "--format", "json")
    assert report.exit_code == 0, report.stderr
    data = report.json()
    rows = {r["id"]: r for r in data["resources"]}
    assert set(rows) == {web, api}
    assert rows[web]["status"] == "ok" and rows[web]["rpo_s"] == 3600 and rows[web]["last_good"]["age_s"] < 600
    assert rows[api]["status"] == "never" and rows[api]["failures_since_last_good"] == 1
    assert "unreachable from this worker" in rows[api]["failures"][0]["error"]
    assert [u["id"] for u in data["unprotected"]] == [stray]
    stats = data["plans"][0]
    assert (stats["plan"], stats["jobs"], stats["completed"], stats["success_rate"]) == ("hourly", 1, 1, 1.0)
    assert stats["mean_duration_s"] > 0 and stats["runs"] == 1
    library = data["libraries"][0]
    assert library["library"] == "main" and library["snapshots"] == 1
    assert library["logical_bytes"] == 1024**3 and 0 < library["stored_bytes"] < library["logical_bytes"]
    today = data["protection_over_time"][-1]
    assert (today["protected"], today["total"]) == (1, 2) and len(data["protection_over_time"]) == 30

    out = tmp_path / "report.html"
    assert cli("report", "--format", "html", "--output", str(out)).exit_code == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and web in page and stray in page
    assert "unreachable from this worker" in page
    external = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page) + re.findall(r"url\(", page)
    assert external == [] and "<script" not in page  # self-contained: no asset, no script

    table = cli("report")
    assert table.exit_code == 0 and "unprotected" in table.stdout and "late" not in table.stdout
    assert cli("report", "--output", str(out)).exit_code == 2


@pytest.mark.parametrize("service", list(PLAN_MODES))
def test_a_failed_plan_job_of_every_service_counts_against_its_resource(service: str) -> None:
    # The report files failed backups under the resources their parameters name: every driver's plan job must name
    # its resource as discovery does (S3 and DynamoDB jobs name theirs in "locations" and "tables").
    resource = {"ec2": "i-0123456789abcdef0", "s3": "skyvault-media", "dynamodb": "orders"}.get(service, "orders-db")
    for mode in PLAN_MODES[service]:
        target = PlanTarget(service, resource, "admin", "us-east-1", mode, library="main")
        assert job_resources(job_for(target).params) == [resource]


def test_an_s3_prefix_job_counts_against_its_bucket() -> None:
    assert job_resources({"locations": ["s3://media/images/2026/", "logs"]}) == ["media", "logs"]
