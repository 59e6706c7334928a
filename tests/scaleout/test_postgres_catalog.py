"""The catalog on a real PostgreSQL: migrations from empty to head (through the CLI), the models agree with the
migrated schema, and the operations workers rely on hold there: leases, idempotent submission under racing
submitters, one claim per queued job, steps and intermediates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.catalog.models import Base
from skyvault.catalog.revision import HEAD_REVISION
from skyvault.errors import ConfigError

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.fixture
def pg_catalog(pg_url: str) -> Catalog:
    Catalog.upgrade(pg_url)
    return Catalog(pg_url)


def test_upgrade_from_empty_to_head_through_the_cli(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    config = tmp_path / "skyvault.toml"
    config.write_text(f'version = 1\ncatalog_url = "{pg_url}"\n')
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="upgrade"):
        Catalog(pg_url)  # a shared database moves only when someone upgrades it
    first = cli("--json", "catalog", "upgrade")
    assert first.exit_code == 0, first.stderr
    assert first.json()["from_revision"] is None and first.json()["to_revision"] == HEAD_REVISION
    again = cli("--json", "catalog", "upgrade")
    assert again.json()["upgraded"] is False
    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []  # the migrations build exactly the schema the models describe, on PostgreSQL too
    listed = cli("--json", "jobs", "list")
    assert listed.exit_code == 0 and listed.json() == []


def test_leases_on_postgres(pg_catalog: Catalog, pg_url: str) -> None:
    job = pg_catalog.start_job("backup-ec2", {"instance_id": "i-1"})
    other = Catalog(pg_url)  # another process's view: its own engine and connections
    assert pg_catalog.acquire_lease(job.id, "worker-a", 30, now=T0)
    assert not other.acquire_lease(job.id, "worker-b", 30, now=T0 + 10 * S)
    assert other.renew_lease(job.id, "worker-a", 30, now=T0 + 20 * S)
    held = other.job(job.id)
    assert held.lease_expires_at == T0 + 50 * S and held.lease_expires_at.tzinfo is not None
    assert not other.acquire_lease(job.id, "worker-b", 30, now=T0 + 49 * S)
    assert other.acquire_lease(job.id, "worker-b", 30, now=T0 + 50 * S)  # expired: b takes over
    assert not pg_catalog.renew_lease(job.id, "worker-a", 30, now=T0 + 51 * S)
    pg_catalog.release_lease(job.id, "worker-a")  # not a's any more: nothing changes
    assert pg_catalog.job(job.id).lease_owner == "worker-b"


def test_many_contenders_one_lease(pg_catalog: Catalog, pg_url: str) -> None:
    job = pg_catalog.start_job("k", {})
    catalogs = [Catalog(pg_url) for _ in range(6)]
    start = threading.Barrier(len(catalogs))

    def contend(index: int) -> bool:
        start.wait()
        return catalogs[index].acquire_lease(job.id, f"worker-{index}", 30, now=T0)

    with ThreadPoolExecutor(len(catalogs)) as pool:
        wins = list(pool.map(contend, range(len(catalogs))))
    assert wins.count(True) == 1
    assert pg_catalog.job(job.id).lease_owner == f"worker-{wins.index(True)}"


def test_racing_submitters_make_one_job_per_run_key(pg_catalog: Catalog, pg_url: str) -> None:
    submitters = [Catalog(pg_url) for _ in range(2)]
    for round_ in range(10):
        start = threading.Barrier(2)
        key = f"plan/daily/2026-12-01T00:00Z/vol-{round_}"

        def submit(index: int, key: str = key, start: threading.Barrier = start) -> tuple[str, bool]:
            start.wait()  # both INSERTs at once: the unique index decides
            job, created = submitters[index].submit_job("backup-ec2", {"volume": key}, queue="us-east-1", run_key=key)
            return job.id, created

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(submit, range(2)))
        assert results[0][0] == results[1][0]  # one job, whoever won
        assert sorted(created for _, created in results) == [False, True]
    jobs = pg_catalog.jobs(status="queued")
    assert len(jobs) == 10 and {j.queue for j in jobs} == {"us-east-1"}


def test_a_queued_job_is_claimed_once_among_racing_workers(pg_catalog: Catalog, pg_url: str) -> None:
    job, _ = pg_catalog.submit_job("backup-image", {"paths": []}, queue="eu-west-1")
    workers = [Catalog(pg_url) for _ in range(4)]
    start = threading.Barrier(len(workers))

    def claim(index: int) -> bool:
        start.wait()
        return workers[index].claim_job(job.id, f"worker-{index}", 60, now=T0)

    with ThreadPoolExecutor(len(workers)) as pool:
        wins = list(pool.map(claim, range(len(workers))))
    assert wins.count(True) == 1
    claimed = pg_catalog.job(job.id)
    assert (claimed.status, claimed.lease_owner) == ("running", f"worker-{wins.index(True)}")
    assert claimed.lease_expires_at == T0 + 60 * S


def test_steps_and_intermediates_on_postgres(pg_catalog: Catalog) -> None:
    job = pg_catalog.start_job("backup-ec2", {}, owner="worker-a", lease_s=30)
    pg_catalog.record_step(job.id, "capture", {"status": "done", "result": {"volumes": ["vol-1"]}, "duration_s": 0.5})
    pg_catalog.record_step(job.id, "noop", {"status": "done", "result": None})
    pg_catalog.record_step(job.id, "copy", {"status": "running"})
    steps = pg_catalog.job(job.id).steps
    assert steps["capture"]["result"] == {"volumes": ["vol-1"]} and steps["noop"] == {"status": "done", "result": None}
    pg_catalog.reset_steps(job.id, keep=["capture"])
    assert list(pg_catalog.job(job.id).steps) == ["capture"]
    pg_catalog.record_intermediate(job.id, "ebs-snapshot", "snap-1", "admin", "us-east-1")
    assert [i.id for i in pg_catalog.live_intermediates(job.id)] == ["snap-1"]
    pg_catalog.release_lease(job.id, "worker-a")
    assert [i.id for i in pg_catalog.stale_intermediates(datetime.now(UTC))] == ["snap-1"]
    pg_catalog.mark_deleted("snap-1")
    assert pg_catalog.live_intermediates() == []
    point = pg_catalog.add_recovery_point(
        id="rp-1", kind="ebs", resource_id="vol-1", account="admin", region="us-east-1", job_id=job.id
    )
    assert pg_catalog.latest_recovery_point("ebs", "vol-1") == point
