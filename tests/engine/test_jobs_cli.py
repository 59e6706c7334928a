"""``skyvault jobs``: the lease in list/show, and resume/cancel refusing a job whose lease is live (exit 17)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.config import load_config, state_dir

Cli = Callable[..., CliResult]


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    config_path = tmp_path / "skyvault.toml"
    config_path.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config_path))
    return Catalog.open(state_dir(load_config(config_path), config_path))


def test_list_and_show_report_the_lease(catalog: Catalog, cli: Cli) -> None:
    alive = catalog.start_job("backup-ec2", {}, owner="host-a:10:aa", lease_s=3600).id
    dead = catalog.start_job("backup-ec2", {}, owner="host-b:20:bb", lease_s=0.001).id
    never = catalog.start_job("backup-rds", {}).id
    listed = {j["id"]: j for j in cli("--json", "jobs", "list").json()}
    assert {k: listed[k]["lease"] for k in (alive, dead, never)} == {alive: "alive", dead: "expired", never: "-"}
    table = cli("jobs", "list").stdout
    for job_id, state in ((alive, "alive"), (dead, "expired")):
        (row,) = [line for line in table.splitlines() if job_id in line]  # whole IDs, never cut
        assert state in row
    shown = cli("--json", "jobs", "show", alive).json()
    assert shown["lease"] == "alive" and shown["lease_owner"] == "host-a:10:aa"
    assert shown["lease_expires_at"] and shown["heartbeat_at"] and shown["live_intermediates"] == []


def test_resume_and_cancel_refuse_a_live_job(catalog: Catalog, cli: Cli) -> None:
    """Issue 12 item 6: `jobs resume` of a job still running elsewhere made both fail; now it is refused."""
    job = catalog.start_job("backup-ec2", {}, owner="host-a:10:aa", lease_s=3600)
    catalog.record_intermediate(job.id, "ec2-snapshots", "svt-0001", "admin", "us-east-1")
    resumed = cli("jobs", "resume", job.id)
    assert resumed.exit_code == 17 and "running in host-a:10:aa" in resumed.stderr
    cancelled = cli("jobs", "cancel", job.id)
    assert cancelled.exit_code == 17 and "--force" in cancelled.stderr
    still = catalog.job(job.id)
    assert still.status == "running" and still.lease_owner == "host-a:10:aa" and still.steps == {}
    assert [i.id for i in catalog.live_intermediates(job.id)] == ["svt-0001"]


def test_cancel_force_takes_a_live_job_over(catalog: Catalog, cli: Cli) -> None:
    job = catalog.start_job("backup-rds", {}, owner="host-a:10:aa", lease_s=3600)
    result = cli("--json", "jobs", "cancel", job.id, "--force")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"job": job.id, "status": "cancelled", "leftovers": []}
    cancelled = catalog.job(job.id)
    assert cancelled.status == "cancelled" and cancelled.lease_owner is None
    again = cli("jobs", "resume", job.id)
    assert again.exit_code == 17 and "nothing to resume" in again.stderr
