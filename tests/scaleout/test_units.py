"""Worker pieces without servers: what a worker does with a job ID, the sweep, the configuration, the CLI's
refusals. (The servers' tests: test_workers.py, test_postgres_catalog.py, test_rate_limits.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from conftest import CliResult
from engine.kit import DriversForTests, no_library
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.config import parse_config
from skyvault.engine.workers.sweep import Sweeper
from skyvault.engine.workers.task import FAILED, RAN, RESUMED, SKIPPED, JobHandler
from skyvault.errors import ConfigError, JobError
from skyvault.jobs import JobContext, JobSpec
from skyvault.services.contract import JobEnvironment

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path / "state")


def _handler(catalog: Catalog, drivers: DriversForTests) -> JobHandler:
    env = JobEnvironment(catalog=catalog, factory=cast(ClientFactory, None), open_library=no_library)
    return JobHandler(env, lease_s=30, drivers=drivers.lookup())


def test_a_job_id_runs_once_however_often_it_is_delivered(catalog: Catalog) -> None:
    drivers = DriversForTests()
    runs: list[str] = []

    def body(ctx: JobContext, spec: JobSpec) -> str:
        runs.append(ctx.job_id)
        return ctx.step("make", lambda: "made")

    drivers.add("backup-test", body)
    handler = _handler(catalog, drivers)
    job, _ = catalog.submit_job("backup-test", {}, queue="us-east-1", run_key="r/1")
    assert handler(job.id) == RAN
    assert handler(job.id) == SKIPPED  # a redelivered message: the job is completed
    assert runs == [job.id] and catalog.job(job.id).status == "completed"
    assert handler("job-unknown") == SKIPPED


def test_a_running_job_is_resumed_only_once_its_lease_expired(catalog: Catalog) -> None:
    drivers = DriversForTests()
    drivers.add("backup-test", lambda ctx, _spec: ctx.step("make", lambda: "made"))
    handler = _handler(catalog, drivers)
    job, _ = catalog.submit_job("backup-test", {}, queue="us-east-1")
    now = datetime.now(UTC)
    assert catalog.claim_job(job.id, "dead-worker:1:x", 60, now=now)  # a worker claimed it ... and was killed
    assert handler(job.id) == SKIPPED  # its lease is live: nobody can tell it died
    assert catalog.job(job.id).lease_owner == "dead-worker:1:x"
    assert catalog.acquire_lease(job.id, "dead-worker:1:x", 60, now=now - timedelta(seconds=120))  # expired now
    assert handler(job.id) == RESUMED
    assert catalog.job(job.id).status == "completed"


def test_a_failing_job_is_recorded_failed_and_not_run_again(catalog: Catalog) -> None:
    drivers = DriversForTests()

    def boom(_ctx: JobContext, _spec: JobSpec) -> None:
        raise JobError("the volume is gone")

    drivers.add("backup-test", boom)
    handler = _handler(catalog, drivers)
    job, _ = catalog.submit_job("backup-test", {}, queue="us-east-1")
    assert handler(job.id) == FAILED
    failed = catalog.job(job.id)
    assert failed.status == "failed" and failed.error == "the volume is gone" and failed.lease_owner is None
    assert handler(job.id) == SKIPPED  # a failure is for the report (and the next run), not retried in a loop


def test_the_sweep_requeues_dead_and_forgotten_jobs_of_its_queues_once(catalog: Catalog) -> None:
    sent: list[tuple[str, str]] = []
    clock = {"now": T0}
    sweeper = Sweeper(
        catalog,
        ["us-east-1"],
        lambda job_id, queue: sent.append((job_id, queue)),
        interval_s=1,
        requeue_queued_after_s=600,
        clock=lambda: clock["now"],
    )
    dead, _ = catalog.submit_job("backup-test", {}, queue="us-east-1")
    assert catalog.claim_job(dead.id, "w:1:x", 30, now=T0 - timedelta(seconds=60))  # lease ended 30 s ago
    live, _ = catalog.submit_job("backup-test", {}, queue="us-east-1")
    assert catalog.claim_job(live.id, "w:2:x", 30, now=T0)
    elsewhere, _ = catalog.submit_job("backup-test", {}, queue="eu-west-1")
    assert catalog.claim_job(elsewhere.id, "w:3:x", 30, now=T0 - timedelta(seconds=60))
    fresh, _ = catalog.submit_job("backup-test", {}, queue="us-east-1")  # queued just now: its message is on the way
    assert sweeper.sweep_once() == [dead.id]
    assert sweeper.sweep_once() == []  # sent once per expired lease, however long the queue takes
    clock["now"] = datetime.now(UTC) + timedelta(seconds=601)  # the fresh job's message was lost
    assert set(sweeper.sweep_once()) == {fresh.id, live.id}  # and live's lease has long expired by then
    assert sent[0] == (dead.id, "us-east-1") and elsewhere.id not in {job_id for job_id, _ in sent}


def test_workers_and_rate_limits_config() -> None:
    config = parse_config(
        {
            "workers": {"broker_url": "redis://10.0.0.5:6379/0", "password_env": "SKYVAULT_REDIS_PASSWORD"},
            "rate_limits": {"per_account": {"ec2": {"rate": 20, "burst": 40}, "ebs": {"rate": 0.5}}},
        },
        "skyvault.toml",
    )
    assert config.workers is not None and config.workers.lease_s == 120
    assert config.rate_limit_redis_url == "redis://10.0.0.5:6379/0"  # the broker's Redis by default
    assert config.rate_limits is not None and config.rate_limits.per_account["ebs"].capacity == 1
    bad = {
        "redis://:secret@h:6379/0": "must not contain a password",
        "http://h:6379": "must be a redis://host",
        "redis://h:port/0": "not a URL",
    }
    for url, message in bad.items():
        with pytest.raises(ConfigError, match=rf"workers\.broker_url: {message}"):
            parse_config({"workers": {"broker_url": url}}, "skyvault.toml")
    with pytest.raises(ConfigError, match=r"rate_limits\.redis_url: needed"):
        parse_config({"rate_limits": {"per_account": {"ec2": {"rate": 1}}}}, "skyvault.toml")
    with pytest.raises(ConfigError, match=r"rate_limits\.per_account\.ec2\.rate"):
        parse_config({"rate_limits": {"redis_url": "redis://h/0", "per_account": {"ec2": {"rate": 0}}}}, "f")
    with pytest.raises(ConfigError, match=r"workers\.lease_s"):
        parse_config({"workers": {"broker_url": "redis://h/0", "lease_s": 0}}, "skyvault.toml")


def test_the_worker_command_refuses_what_it_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    config = tmp_path / "skyvault.toml"
    config.write_text("version = 1\n")
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config))
    missing = cli("worker")
    assert missing.exit_code == ConfigError.exit_code and "no [workers] section" in missing.stderr
    config.write_text('version = 1\n[workers]\nbroker_url = "redis://127.0.0.1:1/0"\n')
    wrong = cli("worker", "--queues", "us-east-1,mars-north-9x")
    assert wrong.exit_code == 2 and "mars-north-9x" in wrong.stderr
    config.write_text('version = 1\n[workers]\nbroker_url = "redis://127.0.0.1:1/0"\npassword_env = "NOPE_PW"\n')
    monkeypatch.delenv("NOPE_PW", raising=False)
    no_password = cli("worker", "--queues", "us-east-1")
    assert no_password.exit_code == ConfigError.exit_code and "NOPE_PW is not set" in no_password.stderr


def test_jobs_go_to_workers_only_when_workers_are_configured(tmp_path: Path) -> None:
    from skyvault.cli.context import AppState
    from skyvault.cli.worker import celery_dispatcher

    config = tmp_path / "skyvault.toml"
    config.write_text("version = 1\n")
    assert celery_dispatcher(AppState(config_option=str(config))) is None  # backup --plan runs jobs in-process
    config.write_text('version = 1\n[workers]\nbroker_url = "redis://127.0.0.1:1/0"\n')
    remote = celery_dispatcher(AppState(config_option=str(config)))
    assert remote is not None
    with pytest.raises(ConfigError, match="a worker queue is a region name"):
        remote.submit(JobSpec("backup-image", {}), queue="Mars")
    assert remote.catalog.jobs() == []  # refused before anything was recorded
    with pytest.raises(JobError, match="could not reach the broker") as raised:
        remote.submit(JobSpec("backup-image", {}), queue="us-east-1", run_key="r/1")  # nothing listens on port 1
    assert "sweep sends it again" in (raised.value.hint or "")
    (queued,) = remote.catalog.jobs()
    assert (queued.status, queued.queue, queued.run_key) == ("queued", "us-east-1", "r/1")  # the sweep's to send
    remote.close()
