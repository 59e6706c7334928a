"""A vault copy that fails mid-way leaves nothing behind: intermediates, shares and temporary clusters go."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import CliResult
from skyvault.catalog.store import new_id
from skyvault.services.rds.backup import snapshot_name

from .conftest import TENANT, VAULT, Databases

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]


def _plan_point(monkeypatch: pytest.MonkeyPatch) -> str:
    """Fix the next recovery point ID, so the test knows the snapshot name skyvault will use."""
    planned = new_id("rp")
    monkeypatch.setattr("skyvault.services.rds.jobs.new_id", lambda _prefix: planned)
    return planned


@pytest.mark.parametrize(("kind", "service", "engine", "instance_class"), [
    ("aurora", "rds", "aurora-postgresql", "db.r6g.large"),
    ("docdb", "docdb", "docdb", "db.r5.large"),
])  # fmt: skip
def test_cluster_vault_copy_failure(
    dbs: Databases, cli: Cli, monkeypatch: pytest.MonkeyPatch, kind: str, service: str, engine: str,
    instance_class: str,
) -> None:  # fmt: skip
    dbs.cluster(service, "ledger", engine, instance_class, readers=0)
    planned = _plan_point(monkeypatch)
    # The vault already holds a snapshot under the name skyvault will give its copy: the copy there fails.
    vault = dbs.client(service, VAULT)
    vault.create_db_cluster(DBClusterIdentifier="blocker", Engine=engine, MasterUsername="u",
                            MasterUserPassword="password-1")  # fmt: skip
    vault.create_db_cluster_snapshot(
        DBClusterIdentifier="blocker", DBClusterSnapshotIdentifier=snapshot_name("ledger", planned)
    )

    result = cli("backup", kind, "ledger", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code != 0 and "already exists" in result.stderr.lower()
    point = dbs.catalog.recovery_point(planned)
    assert point.job_id and point.status == "failed" and dbs.catalog.job(point.job_id).status == "failed"
    assert dbs.catalog.live_intermediates() == []
    source = dbs.client(service)
    manual = source.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in manual] == [snapshot_name("ledger", planned)]  # no "-share"
    assert vault.describe_db_cluster_snapshots(SnapshotType="shared")["DBClusterSnapshots"] == []


def test_redshift_vault_copy_failure_deletes_the_temporary_cluster(
    dbs: Databases, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbs.redshift()
    planned = _plan_point(monkeypatch)
    vault = dbs.client("redshift", VAULT)
    vault.create_cluster(ClusterIdentifier="blocker", NodeType="dc2.large", MasterUsername="u",
                         MasterUserPassword="Password-1", ClusterType="single-node")  # fmt: skip
    vault.create_cluster_snapshot(ClusterIdentifier="blocker", SnapshotIdentifier=snapshot_name("warehouse", planned))

    result = cli("backup", "redshift", "warehouse", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code != 0 and "already exists" in result.stderr.lower()
    assert dbs.catalog.recovery_point(planned).status == "failed"
    assert dbs.catalog.live_intermediates() == []
    assert {c["ClusterIdentifier"] for c in vault.describe_clusters()["Clusters"]} == {"blocker"}  # temp one gone
    assert vault.describe_cluster_snapshots(OwnerAccount="111111111111")["Snapshots"] == []  # share revoked


def test_resume_a_failed_backup_without_repeating_its_snapshot(
    dbs: Databases, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    dbs.rds()
    planned = _plan_point(monkeypatch)
    name = snapshot_name("orders-db", planned)
    vault = dbs.client("rds", VAULT)
    vault.create_db_instance(DBInstanceIdentifier="blocker", DBInstanceClass="db.t3.micro", Engine="postgres",
                             MasterUsername="u", MasterUserPassword="password-1")  # fmt: skip
    vault.create_db_snapshot(DBInstanceIdentifier="blocker", DBSnapshotIdentifier=name)
    failed = cli("backup", "rds", "orders-db", "--account", TENANT, "--copy-to-account", VAULT)
    assert failed.exit_code != 0
    job_id = dbs.catalog.recovery_point(planned).job_id
    assert job_id is not None
    created = dbs.client("rds").describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]

    vault.delete_db_snapshot(DBSnapshotIdentifier=name)  # the operator clears the obstacle, then resumes
    resumed = cli("--json", "jobs", "resume", job_id)
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.json()["recovery_point"] == planned
    point = dbs.catalog.recovery_point(planned)
    assert point.status == "completed" and dbs.catalog.job(job_id).status == "completed"
    again = dbs.client("rds").describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
    assert again["SnapshotCreateTime"] == created["SnapshotCreateTime"]  # the same snapshot, not a new one
    assert vault.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]["DBSnapshotArn"].split(":")[4] == (
        "123456789012"
    )
    assert dbs.catalog.live_intermediates() == []
