"""Catalog leases: one owner at a time, renewal only by the holder, liveness by expiry alone, and catalogs made
before leases existed gain the lease columns."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skyvault.catalog import Catalog
from skyvault.errors import NotFoundError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path)


def test_a_job_started_with_an_owner_holds_a_live_lease(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {}, owner="host:1:a", lease_s=60)
    stored = catalog.job(job.id)
    assert stored.lease_owner == "host:1:a" and stored.heartbeat_at is not None
    now = datetime.now(UTC)
    assert stored.lease_live(now) and not stored.lease_live(now + timedelta(seconds=61))
    assert not catalog.job(catalog.start_job("backup-test", {}).id).lease_live(now)  # no owner: no lease


def test_a_live_lease_cannot_be_taken_until_it_expires(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    assert catalog.acquire_lease(job.id, "a", 60, now=T0)
    assert not catalog.acquire_lease(job.id, "b", 60, now=T0 + timedelta(seconds=59))
    assert catalog.job(job.id).lease_owner == "a"
    assert catalog.acquire_lease(job.id, "a", 60, now=T0 + timedelta(seconds=30))  # the holder may re-take it
    assert catalog.acquire_lease(job.id, "b", 60, now=T0 + timedelta(seconds=91))
    assert catalog.job(job.id).lease_owner == "b"


def test_only_the_holder_renews_or_releases(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    assert catalog.acquire_lease(job.id, "a", 60, now=T0)
    assert catalog.renew_lease(job.id, "a", 60, now=T0 + timedelta(seconds=50))
    assert catalog.job(job.id).lease_live(T0 + timedelta(seconds=100))  # renewed at +50 for 60 s
    assert not catalog.renew_lease(job.id, "b", 60, now=T0 + timedelta(seconds=60))
    catalog.release_lease(job.id, "b")
    assert catalog.job(job.id).lease_owner == "a"
    catalog.release_lease(job.id, "a")
    assert not catalog.job(job.id).lease_live(T0)
    assert catalog.acquire_lease(job.id, "b", 60, now=T0)


def test_acquiring_the_lease_of_an_unknown_job_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.acquire_lease("job-nope", "a", 60)


def test_stale_intermediates_are_those_of_jobs_without_a_live_lease(catalog: Catalog) -> None:
    live = catalog.start_job("backup-test", {})
    catalog.acquire_lease(live.id, "a", 60, now=T0)
    done = catalog.start_job("backup-test", {})
    catalog.record_intermediate(live.id, "thing", "live-1", "acct", "us-east-1")
    catalog.record_intermediate(done.id, "thing", "done-1", "acct", "us-east-1")
    catalog.record_intermediate("job-unknown", "thing", "unknown-1", "acct", "us-east-1")
    catalog.record_intermediate(done.id, "thing", "gone-1", "acct", "us-east-1")
    catalog.mark_deleted("gone-1")
    assert sorted(i.id for i in catalog.stale_intermediates(T0 + timedelta(seconds=10))) == ["done-1", "unknown-1"]
    after = catalog.stale_intermediates(T0 + timedelta(seconds=61))
    assert sorted(i.id for i in after) == ["done-1", "live-1", "unknown-1"]


def test_reset_steps_keeps_only_the_named_ones(catalog: Catalog) -> None:
    job = catalog.start_job("backup-test", {})
    for name in ("capture", "snapshot", "record"):
        catalog.record_step(job.id, name, {"status": "done", "result": name})
    catalog.reset_steps(job.id, keep=["capture"])
    assert catalog.job(job.id).steps == {"capture": {"status": "done", "result": "capture"}}


def test_a_catalog_from_before_leases_gains_the_columns(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        db.execute(
            "CREATE TABLE jobs (id VARCHAR(64) PRIMARY KEY, kind VARCHAR(32), status VARCHAR(16), created_at DATETIME,"
            " updated_at DATETIME, params JSON, steps JSON, error VARCHAR(4000), duration_s FLOAT)"
        )
        db.execute(  # the other tables as create_all made them before migrations
            "CREATE TABLE recovery_points (id VARCHAR(64) PRIMARY KEY, kind VARCHAR(32), resource_id VARCHAR(512),"
            " account VARCHAR(64), region VARCHAR(32), created_at DATETIME, status VARCHAR(16), job_id VARCHAR(64),"
            " native JSON, library VARCHAR(64), library_snapshot VARCHAR(128), captured_config JSON, stats JSON,"
            " expires_at DATETIME)"
        )
        db.execute(
            "CREATE TABLE intermediates (id VARCHAR(256) PRIMARY KEY, job_id VARCHAR(64), resource_type VARCHAR(64),"
            " account VARCHAR(64), region VARCHAR(32), created_at DATETIME, deleted_at DATETIME)"
        )
        db.execute(
            "INSERT INTO jobs VALUES ('job-old', 'backup-ec2', 'failed', '2026-01-01 00:00:00.000000',"
            " '2026-01-01 00:00:00.000000', '{}', '{}', 'boom', 1.0)"
        )
    catalog = Catalog.open(tmp_path)
    old = catalog.job("job-old")
    assert old.status == "failed" and old.lease_owner is None and not old.lease_live(T0)
    assert catalog.acquire_lease("job-old", "a", 60, now=T0)
