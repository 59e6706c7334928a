"""RDS instances in the lab: backup with both extra copies, restores, overwrite refusal, cleanup on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog.store import new_id
from skyvault.errors import ConfirmationRequiredError
from skyvault.services.rds.backup import snapshot_name

from .conftest import OTHER_REGION, REGION, TENANT, VAULT, Databases, tags

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]


def _backup(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--region", REGION, *args)
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def _snapshot(dbs: Databases, snapshot: str, account: str = TENANT, region: str = REGION) -> dict[str, Any]:
    rds = dbs.client("rds", account, region)
    params: dict[str, Any] = {"DBSnapshotIdentifier": snapshot}
    return dict(rds.describe_db_snapshots(**params)["DBSnapshots"][0])


def test_backup_with_region_and_vault_copies(dbs: Databases, cli: Cli) -> None:
    source = dbs.rds()
    out = _backup(cli, "--copy-to-region", OTHER_REGION, "--copy-to-account", VAULT)
    assert set(out) == {"recovery_point", "stats"}
    assert out["stats"]["snapshots"] == 3 and out["stats"]["copies"] == 2 and out["stats"]["api_calls"] > 0

    point = dbs.catalog.recovery_point(out["recovery_point"])
    assert point.status == "completed" and point.kind == "rds" and point.resource_id == "orders-db"
    snap = _snapshot(dbs, point.native["snapshot_id"])
    snap_tags = tags(snap["TagList"])
    assert snap_tags["skyvault:managed"] == "true"
    assert snap_tags["skyvault:job"] == point.job_id
    assert snap_tags["skyvault:source"] == source["DBInstanceArn"]
    assert snap_tags["skyvault:recovery-point"] == point.id
    assert snap_tags["team"] == "payments" and snap_tags["env"] == "prod"  # the source's tags travel along
    assert snap["Encrypted"] and ":alias/" not in snap["KmsKeyId"]

    region_copy, vault_copy = point.native["copies"]
    kms_west = dbs.client("kms", TENANT, OTHER_REGION).describe_key(KeyId="alias/skyvault-backup")["KeyMetadata"]
    west = _snapshot(dbs, region_copy["snapshot_id"], TENANT, OTHER_REGION)
    assert west["KmsKeyId"] == kms_west["Arn"]
    assert tags(west["TagList"])["skyvault:managed"] == "true"

    vault_key = dbs.client("kms", VAULT).describe_key(KeyId="alias/skyvault-backup")["KeyMetadata"]["Arn"]
    vault = _snapshot(dbs, vault_copy["snapshot_id"], VAULT, REGION)
    assert vault["KmsKeyId"] == vault_key
    assert vault_copy["account_id"] == "123456789012" and vault["DBSnapshotArn"].split(":")[4] == "123456789012"

    # The intermediate re-encrypted copy is gone, nothing stays shared, the job recorded no leftovers.
    rds = dbs.client("rds")
    names = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert names == {point.native["snapshot_id"]}
    attrs = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=point.native["snapshot_id"])
    assert all(not a["AttributeValues"] for a in attrs["DBSnapshotAttributesResult"]["DBSnapshotAttributes"])
    assert dbs.catalog.live_intermediates() == []
    assert dbs.catalog.job(point.job_id).status == "completed"
    # The source's configuration was captured for the restore.
    captured = point.captured_config
    assert captured["instance_class"] == "db.m6g.large" and captured["port"] == 6543 and captured["multi_az"]
    assert (
        captured["iam_auth"] and captured["subnet_group"] == "db-private" and captured["parameter_group"] == "orders-pg"
    )


def test_restore_new_matches_captured_configuration(dbs: Databases, cli: Cli) -> None:
    dbs.rds()
    point_id = _backup(cli)["recovery_point"]
    result = cli("--json", "restore", point_id, "--name", "orders-restored")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["identifier"] == "orders-restored" and out["port"] == 6543 and out["endpoint"]

    captured = dbs.catalog.recovery_point(point_id).captured_config
    new = dbs.client("rds").describe_db_instances(DBInstanceIdentifier="orders-restored")["DBInstances"][0]
    assert new["DBInstanceClass"] == captured["instance_class"]
    assert new["Engine"] == captured["engine"] and new["EngineVersion"] == captured["engine_version"]
    assert new["MultiAZ"] is True and new["IAMDatabaseAuthenticationEnabled"] is True
    assert new["DBSubnetGroup"]["DBSubnetGroupName"] == captured["subnet_group"]
    assert sorted(g["VpcSecurityGroupId"] for g in new["VpcSecurityGroups"]) == captured["security_groups"]
    assert new["DBParameterGroups"][0]["DBParameterGroupName"] == "orders-pg"
    assert new["StorageEncrypted"] is True
    new_tags = tags(new["TagList"])
    assert new_tags["team"] == "payments" and new_tags["skyvault:restored-from"] == point_id
    assert "skyvault:managed" not in new_tags  # a restored database is the user's, not skyvault's to delete


def test_restore_class_override_and_from_vault_copy(dbs: Databases, cli: Cli) -> None:
    dbs.rds()
    point_id = _backup(cli, "--copy-to-account", VAULT)["recovery_point"]
    result = cli("--json", "restore", point_id, "--account", VAULT, "--instance-class", "db.r6g.xlarge")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["account"] == VAULT and set(out["not_applied"]) >= {"subnet_group", "security_groups"}
    new = dbs.client("rds", VAULT).describe_db_instances(DBInstanceIdentifier=out["identifier"])["DBInstances"][0]
    assert new["DBInstanceClass"] == "db.r6g.xlarge" and new["DBInstanceArn"].split(":")[4] == "123456789012"


def test_overwrite_refused_without_yes_then_rename_swap(dbs: Databases, cli: Cli) -> None:
    dbs.rds()
    point_id = _backup(cli)["recovery_point"]
    refused = cli("restore", point_id, "--target", "original")
    assert refused.exit_code == ConfirmationRequiredError.exit_code
    names = {d["DBInstanceIdentifier"] for d in dbs.client("rds").describe_db_instances()["DBInstances"]}
    assert names == {"orders-db"}

    result = cli("--json", "restore", point_id, "--target", "original", "--yes")
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert out["identifier"] == "orders-db" and out["original_renamed_to"].startswith("orders-db-pre-restore-")
    names = {d["DBInstanceIdentifier"] for d in dbs.client("rds").describe_db_instances()["DBInstances"]}
    assert names == {"orders-db", out["original_renamed_to"]}


def test_failed_vault_copy_cleans_up_intermediates(dbs: Databases, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    dbs.rds()
    planned = new_id("rp")  # fix the point's ID so the test knows the snapshot name skyvault will use
    monkeypatch.setattr("skyvault.services.rds.jobs.new_id", lambda _prefix: planned)
    # Make the vault-side copy fail: a snapshot with the name skyvault will use already exists there.
    vault_rds = dbs.client("rds", VAULT)
    vault_rds.create_db_instance(
        DBInstanceIdentifier="blocker", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="x", MasterUserPassword="correct-horse-1",
    )  # fmt: skip
    vault_rds.create_db_snapshot(
        DBInstanceIdentifier="blocker", DBSnapshotIdentifier=snapshot_name("orders-db", planned)
    )
    result = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code != 0
    point = dbs.catalog.recovery_point(planned)
    assert point.status == "failed"
    assert point.job_id
    job = dbs.catalog.job(point.job_id)
    assert job.status == "failed" and job.steps["cleanup"]["status"] == "done"
    rds = dbs.client("rds")
    manual = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert manual == {snapshot_name("orders-db", planned)}  # the "-share" intermediate was deleted
    assert dbs.catalog.live_intermediates() == []
    assert rds.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"] == []
    assert dbs.client("rds", VAULT).describe_db_snapshots(SnapshotType="shared")["DBSnapshots"] == []


def test_multi_az_db_cluster_is_an_rds_resource_backed_up_with_cluster_snapshots(dbs: Databases, cli: Cli) -> None:
    net = dbs.network()
    dbs.client("rds").create_db_cluster(
        DBClusterIdentifier="payments", Engine="postgres", EngineVersion="16.3", MasterUsername="app",
        MasterUserPassword="correct-horse-1", DBClusterInstanceClass="db.m6gd.large", StorageType="io1",
        Iops=3000, AllocatedStorage=100, DBSubnetGroupName=net["subnet_group"],
        VpcSecurityGroupIds=[net["security_group"]],
    )  # fmt: skip
    result = cli("--json", "backup", "rds", "payments", "--account", TENANT, "--copy-to-account", VAULT)
    assert result.exit_code == 0, result.stderr
    point = dbs.catalog.recovery_point(result.json()["recovery_point"])
    assert point.kind == "rds" and point.native["family"] == "rds-cluster"
    assert point.native["snapshot_type"] == "DBClusterSnapshot"
    assert point.captured_config["cluster_instance_class"] == "db.m6gd.large"
    assert dbs.catalog.live_intermediates() == []

    restored = cli("--json", "restore", point.id, "--name", "payments-restored")
    assert restored.exit_code == 0, restored.stderr
    out = restored.json()
    assert out["identifier"] == "payments-restored" and out["instances"] == []  # AWS manages its instances
    cluster = dbs.client("rds").describe_db_clusters(DBClusterIdentifier="payments-restored")["DBClusters"][0]
    assert cluster["Engine"] == "postgres" and cluster["DBClusterInstanceClass"] == "db.m6gd.large"
    assert cluster["DBSubnetGroup"] == net["subnet_group"]


def test_several_sources_in_one_job_and_a_bad_vault_name_changes_nothing(dbs: Databases, cli: Cli) -> None:
    dbs.rds()
    dbs.client("rds").create_db_instance(
        DBInstanceIdentifier="audit-db", DBInstanceClass="db.t3.micro", Engine="mysql", MasterUsername="app",
        MasterUserPassword="correct-horse-1",
    )  # fmt: skip
    refused = cli("backup", "rds", "orders-db", "--account", TENANT, "--copy-to-account", "no-such-vault")
    assert refused.exit_code == 4 and "no-such-vault" in refused.stderr
    assert dbs.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []

    result = cli("--json", "backup", "rds", "orders-db", "audit-db", "--account", TENANT)
    assert result.exit_code == 0, result.stderr
    out = result.json()
    assert [set(item) for item in out] == [{"recovery_point", "stats"}] * 2
    points = [dbs.catalog.recovery_point(item["recovery_point"]) for item in out]
    assert [p.resource_id for p in points] == ["orders-db", "audit-db"]
    assert points[0].job_id == points[1].job_id and points[1].captured_config["engine"] == "mysql"

    human = cli("backup", "rds", "audit-db", "--account", TENANT)
    assert human.exit_code == 0 and "1 snapshot(s) (0 extra copies)" in human.stdout


def test_rename_swap_rolls_the_original_back_when_the_restore_fails(dbs: Databases, cli: Cli) -> None:
    dbs.rds()
    point = dbs.catalog.recovery_point(_backup(cli)["recovery_point"])
    # The snapshot disappears (expired by someone) after the backup: the restore fails after the rename.
    dbs.client("rds").delete_db_snapshot(DBSnapshotIdentifier=point.native["snapshot_id"])
    result = cli("restore", point.id, "--target", "original", "--yes")
    assert result.exit_code != 0 and "renamed back to orders-db" in result.stderr
    (db,) = dbs.client("rds").describe_db_instances()["DBInstances"]
    assert db["DBInstanceIdentifier"] == "orders-db" and db["DBInstanceStatus"] == "available"


def test_a_source_with_50_tags_is_copied_with_room_for_skyvaults_tags(dbs: Databases, cli: Cli) -> None:
    source = dbs.rds()
    more = [{"Key": f"cost-{i:02d}", "Value": "x"} for i in range(48)]  # 50 with the fixture's two
    dbs.client("rds").add_tags_to_resource(ResourceName=source["DBInstanceArn"], Tags=more)
    out = _backup(cli, "--copy-to-region", OTHER_REGION, "--copy-to-account", VAULT)
    (warning,) = out["stats"]["warnings"]
    assert warning.startswith("6 of the source's tags were not copied") and "cost-47" in warning
    point = dbs.catalog.recovery_point(out["recovery_point"])
    vault = tags(_snapshot(dbs, point.native["snapshot_id"], VAULT)["TagList"])
    assert len(vault) == 50 and vault["skyvault:source-account"] == "111111111111" and "cost-37" in vault

    restored = cli("--json", "restore", point.id, "--name", "orders-restored")
    assert restored.exit_code == 0, restored.stderr
    assert restored.json()["warnings"] == [
        "1 of the source's tags were not copied to the restored instance (AWS allows 50 tags per resource and "
        "skyvault needs room for its own): cost-47"
    ]


def test_gp3_instances_restore_with_only_the_storage_settings_aws_accepts(dbs: Databases, cli: Cli) -> None:
    dbs.rds(StorageType="gp3")  # 50 GiB: AWS reports Iops 3000 and StorageThroughput 125 but refuses them back
    small = _backup(cli)["recovery_point"]
    assert dbs.catalog.recovery_point(small).captured_config["iops"] == 3000
    restored = cli("--json", "restore", small, "--name", "orders-small")
    assert restored.exit_code == 0, restored.stderr
    rds = dbs.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="big-db", DBInstanceClass="db.m6g.large", Engine="postgres", MasterUsername="app",
        MasterUserPassword="correct-horse-1", AllocatedStorage=500, StorageType="gp3", Iops=15000,
        StorageThroughput=600,
    )  # fmt: skip
    big = cli("--json", "backup", "rds", "big-db", "--account", TENANT)
    assert big.exit_code == 0, big.stderr
    point = dbs.catalog.recovery_point(big.json()["recovery_point"])
    assert point.captured_config["storage_throughput"] == 600
    restored = cli("--json", "restore", point.id, "--name", "big-restored")
    assert restored.exit_code == 0, restored.stderr
    new = rds.describe_db_instances(DBInstanceIdentifier="big-restored")["DBInstances"][0]
    assert new["StorageType"] == "gp3" and new["Iops"] == 15000 and new["StorageThroughput"] == 600


def _mysql_with_option_group(dbs: Databases) -> None:
    rds = dbs.client("rds")
    rds.create_option_group(
        OptionGroupName="shop-audit", EngineName="mysql", MajorEngineVersion="8.0", OptionGroupDescription="audit"
    )
    rds.modify_option_group(
        OptionGroupName="shop-audit",
        OptionsToInclude=[{"OptionName": "MARIADB_AUDIT_PLUGIN",
                           "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT"}]}],
    )  # fmt: skip
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="mysql", EngineVersion="8.0.35",
        MasterUsername="u", MasterUserPassword="password-1", AllocatedStorage=20, OptionGroupName="shop-audit",
    )  # fmt: skip


def _option_group_of(dbs: Databases, identifier: str, region: str) -> list[str]:
    db = dbs.client("rds", TENANT, region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    return [g["OptionGroupName"] for g in db["OptionGroupMemberships"]]


def test_cross_region_copies_keep_a_non_default_option_group(dbs: Databases, cli: Cli) -> None:
    # AWS: a copy into another region that names no option group gets the destination's default group, so the
    # source's options are lost, and a restore from it too. skyvault names one there (creating skyvault-<name>).
    _mysql_with_option_group(dbs)
    point_id = _backup(cli, "--copy-to-region", OTHER_REGION)["recovery_point"]
    copy = dbs.catalog.recovery_point(point_id).native["copies"][0]
    west = _snapshot(dbs, copy["snapshot_id"], TENANT, OTHER_REGION)
    assert west["OptionGroupName"] == "skyvault-shop-audit"
    group = dbs.client("rds", TENANT, OTHER_REGION).describe_option_groups(OptionGroupName="skyvault-shop-audit")
    made = group["OptionGroupsList"][0]
    assert made["EngineName"] == "mysql" and made["MajorEngineVersion"] == "8.0"
    assert [o["OptionName"] for o in made["Options"]] == ["MARIADB_AUDIT_PLUGIN"]
    assert made["Options"][0]["OptionSettings"] == [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT"}]

    result = cli("--json", "restore", point_id, "--region", OTHER_REGION, "--name", "orders-west")
    assert result.exit_code == 0, result.stderr
    assert "option_group" not in result.json().get("not_applied", [])
    assert _option_group_of(dbs, "orders-west", OTHER_REGION) == ["skyvault-shop-audit"]


def test_tde_option_groups_need_a_group_in_the_destination_and_nothing_is_made_without_one(
    dbs: Databases, cli: Cli
) -> None:
    rds = dbs.client("rds")
    rds.create_option_group(
        OptionGroupName="ledger-tde", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="tde"
    )
    rds.modify_option_group(OptionGroupName="ledger-tde", OptionsToInclude=[{"OptionName": "TDE"}])
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.m5.large", Engine="oracle-ee",
        EngineVersion="19.0.0.0", MasterUsername="u", MasterUserPassword="password-1", AllocatedStorage=100,
        OptionGroupName="ledger-tde",
    )  # fmt: skip
    refused = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--region", REGION,
                  "--copy-to-region", OTHER_REGION)  # fmt: skip
    assert refused.exit_code == 17, refused.stderr
    assert "TDE" in refused.stderr and "--option-group-map" in refused.stderr
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []  # refused before any snapshot

    west = dbs.client("rds", TENANT, OTHER_REGION)
    west.create_option_group(
        OptionGroupName="ledger-tde-west", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="t"
    )
    west.modify_option_group(OptionGroupName="ledger-tde-west", OptionsToInclude=[{"OptionName": "TDE"}])
    point_id = _backup(cli, "--copy-to-region", OTHER_REGION, "--option-group-map", "ledger-tde=ledger-tde-west")[
        "recovery_point"
    ]
    copy = dbs.catalog.recovery_point(point_id).native["copies"][0]
    assert _snapshot(dbs, copy["snapshot_id"], TENANT, OTHER_REGION)["OptionGroupName"] == "ledger-tde-west"
    result = cli("--json", "restore", point_id, "--region", OTHER_REGION, "--name", "ledger-west")
    assert result.exit_code == 0, result.stderr
    assert _option_group_of(dbs, "ledger-west", OTHER_REGION) == ["ledger-tde-west"]


def test_option_group_map_is_checked_before_anything_runs(dbs: Databases, cli: Cli) -> None:
    base = ("--json", "backup", "rds", "orders-db", "--account", TENANT, "--region", REGION)
    malformed = cli(*base, "--copy-to-region", OTHER_REGION, "--option-group-map", "no-equals-sign")
    assert malformed.exit_code == 2 and "SOURCE=DEST" in malformed.stderr
    without_copy = cli(*base, "--option-group-map", "a=b")
    assert without_copy.exit_code == 2 and "--copy-to-region" in without_copy.stderr
    aurora = cli("--json", "backup", "aurora", "ledger", "--account", TENANT, "--region", REGION,
                 "--copy-to-region", OTHER_REGION, "--option-group-map", "a=b")  # fmt: skip
    assert aurora.exit_code == 2 and "backup rds" in aurora.stderr
    assert dbs.catalog.jobs() == []  # refused before any job
