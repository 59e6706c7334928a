"""Aurora and DocumentDB clusters in the lab: backup with both copies, restore (cluster, then the writer first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.errors import ConfirmationRequiredError

from .conftest import OTHER_REGION, REGION, TENANT, VAULT, Databases, tags

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]

ENGINES = {
    # kind: (botocore service, engine, instance class, default port)
    "aurora": ("rds", "aurora-postgresql", "db.r6g.large", 5432),
    "docdb": ("docdb", "docdb", "db.r5.large", 27017),
}


@pytest.fixture(params=sorted(ENGINES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _cluster_snapshots(dbs: Databases, service: str, account: str, region: str) -> list[dict[str, Any]]:
    found = dbs.client(service, account, region).describe_db_cluster_snapshots(SnapshotType="manual")
    return list(found["DBClusterSnapshots"])


def test_backup_copies_and_restore(dbs: Databases, cli: Cli, kind: str) -> None:
    service, engine, instance_class, port = ENGINES[kind]
    dbs.cluster(service, "ledger", engine, instance_class, readers=1)
    result = cli(
        "--json", "backup", kind, "ledger", "--account", TENANT,
        "--copy-to-region", OTHER_REGION, "--copy-to-account", VAULT,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    assert point.kind == kind and point.status == "completed"
    snapshot_id = point.native["snapshot_id"]

    (source,) = _cluster_snapshots(dbs, service, TENANT, REGION)  # the "-share" intermediate is gone
    assert source["DBClusterSnapshotIdentifier"] == snapshot_id and source["Engine"] == engine
    source_tags = tags(
        dbs.client(service).list_tags_for_resource(ResourceName=source["DBClusterSnapshotArn"])["TagList"]
    )
    assert source_tags["skyvault:managed"] == "true" and source_tags["team"] == "payments"
    (west,) = _cluster_snapshots(dbs, service, TENANT, OTHER_REGION)
    west_key = dbs.client("kms", TENANT, OTHER_REGION).describe_key(KeyId="alias/skyvault-backup")["KeyMetadata"]
    assert west["KmsKeyId"] == west_key["Arn"]
    (vault,) = _cluster_snapshots(dbs, service, VAULT, REGION)
    assert vault["DBClusterSnapshotArn"].split(":")[4] == "123456789012" and vault["StorageEncrypted"]
    assert dbs.catalog.live_intermediates() == []
    captured = point.captured_config
    assert [m["writer"] for m in captured["members"]] == [True, False]
    assert captured["subnet_group"] == "db-private" and captured["port"] == port

    restored = cli("--json", "restore", point.id, "--name", "ledger-restored")
    assert restored.exit_code == 0, restored.stderr
    out = restored.json()
    assert out["identifier"] == "ledger-restored" and out["endpoint"] and out["port"] == port
    assert out["instances"] == ["ledger-restored-1", "ledger-restored-2"]
    client = dbs.client(service)
    cluster = client.describe_db_clusters(DBClusterIdentifier="ledger-restored")["DBClusters"][0]
    assert cluster["Engine"] == engine and cluster["EngineVersion"] == captured["engine_version"]
    assert cluster["DBSubnetGroup"] == captured["subnet_group"] and cluster["Port"] == captured["port"]
    assert sorted(g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]) == captured["security_groups"]
    members = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert members == {"ledger-restored-1": True, "ledger-restored-2": False}  # the writer was added first
    instance = client.describe_db_instances(DBInstanceIdentifier="ledger-restored-1")["DBInstances"][0]
    assert instance["DBInstanceClass"] == instance_class and instance["Engine"] == engine


def test_restore_from_region_copy_and_overwrite_needs_yes(dbs: Databases, cli: Cli, kind: str) -> None:
    service, engine, instance_class, _port = ENGINES[kind]
    dbs.cluster(service, "ledger", engine, instance_class, readers=0)
    result = cli("--json", "backup", kind, "ledger", "--account", TENANT, "--copy-to-region", OTHER_REGION)
    assert result.exit_code == 0, result.stderr
    point_id = result.json()["recovery_point"]

    restored = cli("--json", "restore", point_id, "--region", OTHER_REGION, "--instance-class", "db.r6g.2xlarge")
    assert restored.exit_code == 0, restored.stderr
    out = restored.json()
    assert out["region"] == OTHER_REGION and out["instances"] == [f"{out['identifier']}-1"]
    west = dbs.client(service, TENANT, OTHER_REGION)
    instance = west.describe_db_instances(DBInstanceIdentifier=out["instances"][0])["DBInstances"][0]
    assert instance["DBInstanceClass"] == "db.r6g.2xlarge"

    refused = cli("restore", point_id, "--target", "original")
    assert refused.exit_code == ConfirmationRequiredError.exit_code
    clusters = {c["DBClusterIdentifier"] for c in dbs.client(service).describe_db_clusters()["DBClusters"]}
    assert "ledger" in clusters and not any(c.startswith("ledger-pre-restore") for c in clusters)


def test_rename_swap_restores_under_the_original_name_beside_the_renamed_members(
    dbs: Databases, cli: Cli, kind: str
) -> None:
    service, engine, instance_class, _port = ENGINES[kind]
    dbs.cluster(service, "ledger", engine, instance_class, readers=1)  # members ledger-0 and ledger-1
    result = cli("--json", "backup", kind, "ledger", "--account", TENANT)
    assert result.exit_code == 0, result.stderr
    swapped = cli("--json", "restore", result.json()["recovery_point"], "--target", "original", "--yes")
    assert swapped.exit_code == 0, swapped.stderr
    out = swapped.json()
    assert out["identifier"] == "ledger" and out["original_renamed_to"].startswith("ledger-pre-restore-")
    assert out["instances"] == ["ledger-2", "ledger-3"]  # ledger-1 still belongs to the renamed original
    client = dbs.client(service)
    clusters = {c["DBClusterIdentifier"]: c for c in client.describe_db_clusters()["DBClusters"]}
    assert set(clusters) == {"ledger", out["original_renamed_to"]}
    assert {m["DBInstanceIdentifier"] for m in clusters["ledger"]["DBClusterMembers"]} == {"ledger-2", "ledger-3"}


LONG_ID = "analytics-ledger-production-eu-central-primary-cluster-main"  # 59 characters: members get -0, -1


def test_long_cluster_identifiers_get_valid_snapshot_and_restore_names(dbs: Databases, cli: Cli, kind: str) -> None:
    service, engine, instance_class, _port = ENGINES[kind]
    dbs.cluster(service, LONG_ID, engine, instance_class, readers=0)
    result = cli("--json", "backup", kind, LONG_ID, "--account", TENANT, "--copy-to-region", OTHER_REGION,
                 "--copy-to-account", VAULT)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    snapshot_id = point.native["snapshot_id"]
    assert len(snapshot_id) <= 63 - len("-share") and snapshot_id.startswith("skyvault-analytics-ledger")
    assert [c["snapshot_id"] for c in point.native["copies"]] == [snapshot_id, snapshot_id]

    restored = cli("--json", "restore", point.id)
    assert restored.exit_code == 0, restored.stderr
    new_id = restored.json()["identifier"]
    assert len(new_id) <= 63 and "-restored-" in new_id and not new_id.endswith("-")
    swapped = cli("--json", "restore", point.id, "--target", "original", "--yes")
    assert swapped.exit_code == 0, swapped.stderr
    aside = swapped.json()["original_renamed_to"]
    assert len(aside) <= 63 and "-pre-restore-" in aside
    clusters = {c["DBClusterIdentifier"] for c in dbs.client(service).describe_db_clusters()["DBClusters"]}
    assert clusters == {LONG_ID, new_id, aside}
