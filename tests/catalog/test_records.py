"""The catalog hands out frozen records with aware UTC times, never ORM rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from skyvault.catalog import Catalog, IntermediateResource, Job, RecoveryPoint
from skyvault.catalog.models import Base
from skyvault.errors import NotFoundError

PARIS = timezone(timedelta(hours=1))


def _is_record(value: object, kind: type) -> bool:
    return type(value) is kind and dataclasses.is_dataclass(value) and not isinstance(value, Base)


def test_every_read_returns_records(catalog: Catalog) -> None:
    job = catalog.start_job("backup-ec2", {"instance_id": "i-1"})
    catalog.record_intermediate(job.id, "ebs-snapshot", "snap-1", "admin", "us-east-1")
    point = catalog.add_recovery_point(kind="ec2", resource_id="i-1", job_id=job.id, native={"a": 1})
    jobs = [job, catalog.job(job.id), *catalog.jobs(), catalog.update_job(job.id, status="failed")]
    assert all(_is_record(value, Job) for value in jobs)
    points = [
        point,
        catalog.recovery_point(point.id),
        *catalog.recovery_points(),
        catalog.latest_recovery_point("ec2", "i-1"),
        catalog.update_recovery_point(point.id, stats={"bytes": 1}),
    ]
    assert all(_is_record(value, RecoveryPoint) for value in points)
    intermediates = [*catalog.live_intermediates(job.id), *catalog.stale_intermediates(datetime.now(UTC))]
    assert len(intermediates) == 2 and all(_is_record(value, IntermediateResource) for value in intermediates)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.kind = "rds"  # type: ignore[misc]


def test_to_dict_shapes_are_unchanged(catalog: Catalog) -> None:
    job = catalog.start_job("backup-rds", {"resources": ["db-1"]})
    catalog.record_step(job.id, "snapshot", {"status": "done", "result": ["s-1"], "duration_s": 1.5})
    assert list(catalog.job(job.id).to_dict()) == [
        "id", "kind", "status", "created_at", "updated_at", "params", "steps", "error", "duration_s",
    ]  # fmt: skip
    assert catalog.job(job.id).to_dict()["steps"] == {
        "snapshot": {"status": "done", "result": ["s-1"], "duration_s": 1.5}
    }
    point = catalog.add_recovery_point(kind="rds", resource_id="db-1")
    assert list(point.to_dict()) == [
        "id", "kind", "resource_id", "account", "region", "created_at", "status", "job_id", "native", "library",
        "library_snapshot", "captured_config", "stats", "expires_at", "hold",
    ]  # fmt: skip


def test_times_come_back_aware_utc_whatever_zone_went_in(catalog: Catalog) -> None:
    paris_noon = datetime(2026, 12, 1, 12, 0, 0, 250000, tzinfo=PARIS)
    point = catalog.add_recovery_point(
        kind="ec2", resource_id="i-1", created_at=paris_noon, expires_at=paris_noon + timedelta(days=1)
    )
    read = catalog.recovery_point(point.id)
    assert read.created_at.tzinfo is UTC and read.created_at == paris_noon
    assert read.created_at.hour == 11
    assert read.expires_at is not None and read.expires_at.tzinfo is UTC
    job = catalog.job(catalog.start_job("k", {}).id)
    assert job.created_at.tzinfo is UTC and job.updated_at.tzinfo is UTC


def test_naive_times_are_refused(catalog: Catalog) -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        catalog.add_recovery_point(kind="ec2", resource_id="i-1", created_at=datetime(2026, 12, 1, 12))


def test_queries_filter_in_sql(catalog: Catalog) -> None:
    day = datetime(2026, 12, 1, tzinfo=UTC)
    old = catalog.add_recovery_point(kind="ec2", resource_id="i-1", created_at=day, expires_at=day)
    new = catalog.add_recovery_point(kind="ec2", resource_id="i-1", created_at=day + timedelta(hours=1))
    catalog.add_recovery_point(kind="ec2", resource_id="i-1", created_at=day + timedelta(hours=2), status="failed")
    catalog.add_recovery_point(kind="ec2", resource_id="i-2", created_at=day + timedelta(hours=3))
    latest = catalog.latest_recovery_point("ec2", "i-1")
    assert latest is not None and latest.id == new.id
    assert catalog.latest_recovery_point("rds", "i-1") is None
    assert [p.id for p in catalog.recovery_points(expires_by=day)] == [old.id]
    assert catalog.recovery_points(expires_by=day - timedelta(seconds=1)) == []


def test_unknown_ids_and_fields(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError):
        catalog.job("job-nope")
    with pytest.raises(NotFoundError):
        catalog.recovery_point("rp-nope")
    job = catalog.start_job("k", {})
    with pytest.raises(TypeError, match="no field"):
        catalog.update_job(job.id, colour="red")


def test_put_writes_a_planned_point_then_updates_it(catalog: Catalog) -> None:
    first = catalog.put_recovery_point("rp-planned", kind="s3", resource_id="b", status="running")
    again = catalog.put_recovery_point("rp-planned", kind="s3", resource_id="b", status="completed")
    assert (first.status, again.status) == ("running", "completed")
    assert [p.id for p in catalog.recovery_points()] == ["rp-planned"]
    with pytest.raises(TypeError, match="no field colour"):
        catalog.put_recovery_point("rp-planned", colour="red")
