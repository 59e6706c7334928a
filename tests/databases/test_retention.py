"""Retention of database recovery points: expiry deletes the point's snapshots and copies, only skyvault's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from conftest import CliResult
from skyvault.engine.retention import expire_due

from .conftest import OTHER_REGION, REGION, TENANT, VAULT, Databases

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]


def _manual(dbs: Databases, account: str, region: str) -> set[str]:
    found = dbs.client("rds", account, region).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return {s["DBSnapshotIdentifier"] for s in found}


def test_expiry_deletes_the_points_snapshots_and_copies(dbs: Databases, cli: Cli) -> None:
    dbs.rds(encrypted=False)
    args = ("--json", "backup", "rds", "orders-db", "--account", TENANT, "--retain-days", "7")
    first = cli(*args, "--copy-to-region", OTHER_REGION, "--copy-to-account", VAULT)
    assert first.exit_code == 0, first.stderr
    kept = cli(*args[:-1], "30")  # a later point kept longer
    assert kept.exit_code == 0, kept.stderr
    first_point = dbs.catalog.recovery_point(first.json()["recovery_point"])
    snapshot_id = first_point.native["snapshot_id"]
    assert snapshot_id in _manual(dbs, TENANT, "us-east-1")

    factory = dbs.env.factory()
    assert expire_due(dbs.catalog, factory, now=datetime.now(UTC) + timedelta(days=1)).expired == []
    report = expire_due(dbs.catalog, factory, now=datetime.now(UTC) + timedelta(days=8))
    assert report.expired == [first_point.id] and report.snapshots_deleted == 3 and not report.failed
    assert snapshot_id not in _manual(dbs, TENANT, "us-east-1")
    assert _manual(dbs, TENANT, OTHER_REGION) == set() and _manual(dbs, VAULT, "us-east-1") == set()
    assert dbs.catalog.recovery_point(first_point.id).status == "expired"
    kept_point = dbs.catalog.recovery_point(kept.json()["recovery_point"])
    assert kept_point.native["snapshot_id"] in _manual(dbs, TENANT, "us-east-1")


def test_expiry_never_deletes_a_snapshot_without_skyvaults_tag(dbs: Databases, cli: Cli) -> None:
    dbs.rds(encrypted=False)
    result = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--retain-days", "1")
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    rds = dbs.client("rds")
    arn = rds.describe_db_snapshots(DBSnapshotIdentifier=point.native["snapshot_id"])["DBSnapshots"][0]["DBSnapshotArn"]
    rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["skyvault:managed"])  # someone keeps it on purpose

    report = expire_due(dbs.catalog, dbs.env.factory(), now=datetime.now(UTC) + timedelta(days=2))
    assert report.expired == [point.id] and report.snapshots_deleted == 0
    assert point.native["snapshot_id"] in _manual(dbs, TENANT, "us-east-1")


def test_cleanup_expires_points_past_their_retention(dbs: Databases, cli: Cli) -> None:
    dbs.rds(encrypted=False)
    result = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--retain-days", "1")
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    assert cli("--json", "cleanup").json()["expired"] == []  # not due yet

    dbs.catalog.update_recovery_point(point.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    listed = cli("--json", "cleanup", "--dry-run").json()
    assert [row["recovery_point"] for row in listed["expired"]] == [point.id]
    assert point.native["snapshot_id"] in _manual(dbs, TENANT, "us-east-1")  # dry run: nothing deleted

    done = cli("--json", "cleanup").json()
    assert done["expired"] == [
        {"recovery_point": point.id, "kind": "rds", "resource": point.resource_id, "expired": True}
    ]
    assert done["snapshots_expired"] == 1
    assert point.native["snapshot_id"] not in _manual(dbs, TENANT, "us-east-1")
    assert dbs.catalog.recovery_point(point.id).status == "expired"


def test_cleanup_never_deletes_an_intermediate_snapshot_that_is_still_progressing(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import dataclass

    from skyvault.errors import ConflictError
    from skyvault.services.rds import cleanup, snapshots

    @dataclass
    class Item:
        id: str
        resource_type: str
        account: str
        region: str

    rds = dbs.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="src", DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="u", MasterUserPassword="password-1")  # fmt: skip
    arn = rds.create_db_snapshot(DBInstanceIdentifier="src", DBSnapshotIdentifier="skyvault-src-1-share")["DBSnapshot"][
        "DBSnapshotArn"
    ]
    item = Item(arn, "rds-snapshot", TENANT, REGION)
    real = snapshots.describe
    # The lab's snapshots are available at once; this one is reported as a copy still running, as AWS would.
    monkeypatch.setattr(snapshots, "describe", lambda *a: {**real(*a), "Status": "copying", "PercentProgress": 40})
    with pytest.raises(ConflictError, match="still copying, 40%"):
        cleanup.delete_intermediate_snapshot(dbs.env.factory(), item)
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="skyvault-src-1-share")["DBSnapshots"]
    monkeypatch.setattr(snapshots, "describe", real)
    cleanup.delete_intermediate_snapshot(dbs.env.factory(), item)
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []
