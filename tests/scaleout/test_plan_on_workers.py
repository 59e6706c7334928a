"""``skyvault backup --plan`` with ``[workers]`` configured: the plan's jobs go to the region queues of two real
worker processes (Redis broker, PostgreSQL catalog) and run there against the lab; each region's job runs on the
worker of that region, once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from conftest import CliResult, LabEnv
from plans.conftest import Estate
from scaleout.servers import PostgresServer, RedisServer
from scaleout.workers import WorkerProcess, start_worker
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.config import SkyvaultConfig, save_config

PLAN = {"services": ["ec2"], "tags": ["backup=daily"], "accounts": ["admin", "tenant-a"], "schedule": None}


@pytest.fixture
def estate(lab_env: LabEnv) -> Estate:
    return Estate(lab_env, ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False))


@pytest.fixture
def workers(estate: Estate, redis: RedisServer, postgres: PostgresServer) -> Iterator[dict[str, WorkerProcess]]:
    pg_url = postgres.create_database()
    Catalog.upgrade(pg_url)
    data = estate.env.config.model_dump(mode="json")
    data["catalog_url"] = pg_url
    data["workers"] = {"broker_url": redis.url(2), "lease_s": 30, "sweep_interval_s": 1}
    config = SkyvaultConfig.model_validate(data)
    save_config(config, estate.env.config_path)
    estate.env.config = config
    where, path = estate.env.config_path.parent, estate.env.config_path
    env = {"SKYVAULT_CONFIG": str(path)}
    started = {
        "us-east-1": start_worker("east", ["us-east-1"], path, where, env),
        "eu-west-1": start_worker("west", ["eu-west-1"], path, where, env),
    }
    try:
        for worker in started.values():
            worker.wait_ready()
        yield started
    finally:
        for worker in started.values():
            worker.stop()


def test_a_plan_runs_on_the_workers_of_its_regions(
    estate: Estate, workers: dict[str, WorkerProcess], cli: Callable[..., CliResult]
) -> None:
    east = estate.instance("web-us", "admin", "us-east-1", {"backup": "daily"})
    west = estate.instance("web-eu", "tenant-a", "eu-west-1", {"backup": "daily"})
    estate.instance("scratch", "admin", "us-east-1", {"backup": "never"})
    estate.add_plans(daily=PLAN)
    ran = cli("--json", "backup", "--plan", "daily")
    assert ran.exit_code == 0, ran.stderr + "".join(w.text()[-1500:] for w in workers.values())
    result = ran.json()
    assert result["run"]["status"] == "completed"
    assert {j["resource"] for j in result["jobs"]} == {east, west}
    assert estate.env.config.catalog_url is not None
    catalog = Catalog(estate.env.config.catalog_url)
    jobs = {j.id: j for j in catalog.jobs()}
    assert len(jobs) == 2 and all(j.status == "completed" for j in jobs.values())
    for region, worker in workers.items():
        (job_id,) = [j.id for j in jobs.values() if j.queue == region]
        assert [action for action, _ in worker.handled()[job_id]] == ["claimed"], worker.text()[-2000:]
        other = next(w for r, w in workers.items() if r != region)
        assert job_id not in other.handled()  # the other region's worker never touched it
    assert {p.resource_id for p in catalog.recovery_points()} == {east, west}
    assert re.search(r"job job-\w+: completed by", workers["eu-west-1"].text())
