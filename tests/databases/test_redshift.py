"""Redshift in the lab: snapshot, cross-region copy through the copy setting, vault copy by restore-and-snapshot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import CliResult
from skyvault.errors import ConfirmationRequiredError, ConflictError, NotFoundError

from .conftest import OTHER_REGION, REGION, TENANT, VAULT, Databases, tags

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]


def test_backup_copies_and_restore(dbs: Databases, cli: Cli) -> None:
    dbs.redshift(kms_key=dbs.customer_key(usable_by="123456789012"))
    result = cli(
        "--json", "backup", "redshift", "warehouse", "--account", TENANT,
        "--copy-to-region", OTHER_REGION, "--copy-to-account", VAULT,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    # The cluster lacks its owner's skyvault:allow-copy-setting tag: the restricted policy would refuse the setting.
    assert any("not tagged skyvault:allow-copy-setting=true" in w for w in result.json()["stats"]["warnings"])
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    snapshot_id = point.native["snapshot_id"]
    redshift = dbs.client("redshift")
    source = redshift.describe_cluster_snapshots(SnapshotIdentifier=snapshot_id)["Snapshots"][0]
    source_tags = tags(source["Tags"])
    assert source_tags["skyvault:managed"] == "true" and source_tags["team"] == "payments"

    # Cross-region: the copy exists in the destination with skyvault's key there, tagged; the setting is off again.
    west = dbs.client("redshift", TENANT, OTHER_REGION).describe_cluster_snapshots(SnapshotIdentifier=snapshot_id)
    west_snapshot = west["Snapshots"][0]
    west_key = dbs.client("kms", TENANT, OTHER_REGION).describe_key(KeyId="alias/skyvault-backup")["KeyMetadata"]
    assert west_snapshot["SourceRegion"] == REGION and west_key["KeyId"] in west_snapshot["KmsKeyId"]
    assert tags(west_snapshot["Tags"])["skyvault:managed"] == "true"
    cluster = redshift.describe_clusters(ClusterIdentifier="warehouse")["Clusters"][0]
    assert not cluster.get("ClusterSnapshotCopyStatus")

    # Vault: its own snapshot, the temporary cluster deleted, the share revoked.
    vault = dbs.client("redshift", VAULT)
    vault_snapshots = [
        s
        for s in vault.describe_cluster_snapshots(SnapshotType="manual")["Snapshots"]
        if s["OwnerAccount"] == "123456789012"
    ]
    assert [s["SnapshotIdentifier"] for s in vault_snapshots] == [snapshot_id]
    assert tags(vault_snapshots[0]["Tags"])["skyvault:source-account"] == "111111111111"
    assert vault.describe_clusters()["Clusters"] == []
    assert source.get("AccountsWithRestoreAccess", []) == []
    assert (
        redshift.describe_cluster_snapshots(SnapshotIdentifier=snapshot_id)["Snapshots"][0].get(
            "AccountsWithRestoreAccess", []
        )
        == []
    )
    assert dbs.catalog.live_intermediates() == []
    assert point.native["copies"][1]["method"] == "restore-and-snapshot"

    # Restore from the vault's copy: a new cluster in the vault account with the captured shape and tags.
    restored = cli("--json", "restore", point.id, "--account", VAULT, "--name", "warehouse-dr")
    assert restored.exit_code == 0, restored.stderr
    out = restored.json()
    assert out["identifier"] == "warehouse-dr" and out["endpoint"] and out["port"] == 5440
    new = vault.describe_clusters(ClusterIdentifier="warehouse-dr")["Clusters"][0]
    captured = point.captured_config
    assert new["NodeType"] == captured["node_type"] == "ra3.xlplus" and new["NumberOfNodes"] == 2
    assert tags(new["Tags"])["team"] == "payments" and tags(new["Tags"])["skyvault:restored-from"] == point.id


def test_restore_new_with_node_type_and_overwrite(dbs: Databases, cli: Cli) -> None:
    dbs.redshift()
    result = cli("--json", "backup", "redshift", "warehouse", "--account", TENANT)
    assert result.exit_code == 0, result.stderr
    point_id = result.json()["recovery_point"]
    restored = cli("--json", "restore", point_id, "--node-type", "ra3.4xlarge")
    assert restored.exit_code == 0, restored.stderr
    new = dbs.client("redshift").describe_clusters(ClusterIdentifier=restored.json()["identifier"])["Clusters"][0]
    assert new["NodeType"] == "ra3.4xlarge" and new["Endpoint"]["Port"] == 5440

    assert cli("restore", point_id, "--target", "original").exit_code == ConfirmationRequiredError.exit_code
    swapped = cli("--json", "restore", point_id, "--target", "original", "--yes")
    assert swapped.exit_code == 0, swapped.stderr
    names = {c["ClusterIdentifier"] for c in dbs.client("redshift").describe_clusters()["Clusters"]}
    assert {"warehouse", swapped.json()["original_renamed_to"]} <= names


def test_vault_copy_refused_for_aws_managed_key(dbs: Databases, cli: Cli) -> None:
    dbs.redshift(encrypted=True)  # no key: the AWS-managed aws/redshift key, which cannot be shared
    result = cli("backup", "redshift", "warehouse", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code == ConflictError.exit_code, result.stderr
    assert "AWS-managed key" in result.stderr
    assert dbs.catalog.live_intermediates() == []


def test_rename_swap_rolls_the_original_back_when_the_restore_fails(dbs: Databases, cli: Cli) -> None:
    dbs.redshift()
    result = cli("--json", "backup", "redshift", "warehouse", "--account", TENANT)
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    dbs.client("redshift").delete_cluster_snapshot(SnapshotIdentifier=point.native["snapshot_id"])
    failed = cli("restore", point.id, "--target", "original", "--yes")
    assert failed.exit_code != 0 and "renamed back to warehouse" in failed.stderr
    (cluster,) = dbs.client("redshift").describe_clusters()["Clusters"]
    assert cluster["ClusterIdentifier"] == "warehouse" and cluster["ClusterStatus"] == "available"


def test_long_cluster_identifier_gets_valid_restore_names(dbs: Databases, cli: Cli) -> None:
    long_id = "analytics-warehouse-production-eu-central-primary-cluster-main1"  # 63 characters
    dbs.redshift(long_id)
    result = cli("--json", "backup", "redshift", long_id, "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code == 0, result.stderr
    point_id = result.json()["recovery_point"]
    restored = cli("--json", "restore", point_id)
    assert restored.exit_code == 0, restored.stderr
    new_id = restored.json()["identifier"]
    assert new_id != long_id and len(new_id) <= 63 and "-restored-" in new_id
    swapped = cli("--json", "restore", point_id, "--target", "original", "--yes")
    assert swapped.exit_code == 0, swapped.stderr
    names = {c["ClusterIdentifier"] for c in dbs.client("redshift").describe_clusters()["Clusters"]}
    assert names == {long_id, new_id, swapped.json()["original_renamed_to"]}


def test_a_cluster_with_50_tags_is_copied_with_room_for_skyvaults_tags(dbs: Databases, cli: Cli) -> None:
    dbs.redshift(kms_key=dbs.customer_key(usable_by="123456789012"))
    redshift = dbs.client("redshift")
    arn = "arn:aws:redshift:us-east-1:111111111111:cluster:warehouse"
    redshift.create_tags(ResourceName=arn, Tags=[{"Key": f"cost-{i:02d}", "Value": "x"} for i in range(48)])
    result = cli("--json", "backup", "redshift", "warehouse", "--account", TENANT, "--copy-to-region", OTHER_REGION,
                 "--copy-to-account", VAULT)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["stats"]["warnings"][0].startswith("6 of the source's tags were not copied")
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    west = dbs.client("redshift", TENANT, OTHER_REGION).describe_cluster_snapshots(
        SnapshotIdentifier=point.native["snapshot_id"]
    )["Snapshots"][0]
    assert len(west["Tags"]) <= 50 and tags(west["Tags"])["skyvault:copy-of"]


def test_vault_copy_refused_up_front_when_the_key_policy_leaves_the_vault_out(dbs: Databases, cli: Cli) -> None:
    dbs.redshift(kms_key=dbs.customer_key())  # the default key policy: its own account only
    result = cli("backup", "redshift", "warehouse", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code == ConflictError.exit_code, result.stderr
    assert "does not let the vault account admin (123456789012) use it" in result.stderr
    assert "arn:aws:iam::123456789012:root" in result.stderr  # what to grant
    assert dbs.client("redshift").describe_cluster_snapshots(SnapshotType="manual")["Snapshots"] == []
    assert dbs.catalog.live_intermediates() == []


def test_vault_copy_restores_its_temporary_cluster_in_the_named_subnet_group(dbs: Databases, cli: Cli) -> None:
    dbs.redshift(kms_key=dbs.customer_key(usable_by="123456789012"))
    result = cli(
        "backup", "redshift", "warehouse", "--account", TENANT, "--region", REGION, "--copy-to-account", VAULT,
        "--vault-subnet-group", "vault-private", "--poll", "1",
    )  # fmt: skip
    assert result.exit_code == NotFoundError.exit_code, result.stderr
    assert "vault-private" in result.stderr  # named, so AWS looks for it (not the default VPC)
    assert dbs.client("redshift", VAULT).describe_clusters()["Clusters"] == []
