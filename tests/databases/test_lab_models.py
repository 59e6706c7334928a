"""The lab's database fidelity models, checked directly: each fails if a moto upgrade breaks the model."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import OTHER_REGION, REGION, TENANT, VAULT, Databases

pytestmark = pytest.mark.lab
VAULT_ID = "123456789012"


def test_docdb_engine_defaults_and_no_standalone_instance(dbs: Databases) -> None:
    docdb = dbs.client("docdb")
    cluster = docdb.create_db_cluster(
        DBClusterIdentifier="docs", Engine="docdb", MasterUsername="u", MasterUserPassword="password-1"
    )["DBCluster"]
    assert cluster["Engine"] == "docdb" and cluster["Port"] == 27017 and cluster["EngineVersion"] == "5.0.0"
    assert cluster["DBClusterParameterGroup"] == "default.docdb5.0"
    with pytest.raises(ClientError, match="must be created in a DB cluster"):
        # the docdb API makes DBClusterIdentifier required; through the RDS API the service itself refuses it
        dbs.client("rds").create_db_instance(
            DBInstanceIdentifier="alone", DBInstanceClass="db.r5.large", Engine="docdb"
        )


def test_default_encryption_uses_the_aws_managed_key_which_cannot_be_shared(dbs: Databases) -> None:
    rds = dbs.client("rds")
    db = rds.create_db_instance(
        DBInstanceIdentifier="enc", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1", StorageEncrypted=True,
    )["DBInstance"]  # fmt: skip
    key = dbs.client("kms").describe_key(KeyId="alias/aws/rds")["KeyMetadata"]
    assert db["KmsKeyId"] == key["Arn"] and key["KeyManager"] == "AWS"
    rds.create_db_snapshot(DBInstanceIdentifier="enc", DBSnapshotIdentifier="enc-snap")
    with pytest.raises(ClientError, match="AWS managed KMS key"):
        rds.modify_db_snapshot_attribute(
            DBSnapshotIdentifier="enc-snap", AttributeName="restore", ValuesToAdd=[VAULT_ID]
        )


def test_shared_snapshots_are_visible_copyable_and_restorable_only_when_shared(dbs: Databases) -> None:
    rds, vault = dbs.client("rds"), dbs.client("rds", VAULT)
    rds.create_db_instance(
        DBInstanceIdentifier="plain", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1",
    )  # fmt: skip
    arn = rds.create_db_snapshot(DBInstanceIdentifier="plain", DBSnapshotIdentifier="s1")["DBSnapshot"]["DBSnapshotArn"]
    with pytest.raises(ClientError) as hidden:
        vault.describe_db_snapshots(DBSnapshotIdentifier=arn)
    assert hidden.value.response["Error"]["Code"] == "DBSnapshotNotFound"
    rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="s1", AttributeName="restore", ValuesToAdd=[VAULT_ID])
    assert [s["DBSnapshotArn"] for s in vault.describe_db_snapshots(SnapshotType="shared")["DBSnapshots"]] == [arn]
    assert arn in [s["DBSnapshotArn"] for s in vault.describe_db_snapshots(IncludeShared=True)["DBSnapshots"]]
    copied = vault.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="mine")["DBSnapshot"]
    assert copied["DBSnapshotArn"].split(":")[4] == VAULT_ID
    restored = vault.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="r", DBSnapshotIdentifier=arn)
    assert restored["DBInstance"]["DBInstanceArn"].split(":")[4] == VAULT_ID


def test_encrypted_copy_across_region_needs_a_key_there(dbs: Databases) -> None:
    rds = dbs.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="enc", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1", StorageEncrypted=True,
    )  # fmt: skip
    arn = rds.create_db_snapshot(DBInstanceIdentifier="enc", DBSnapshotIdentifier="e1")["DBSnapshot"]["DBSnapshotArn"]
    west = dbs.client("rds", TENANT, OTHER_REGION)
    with pytest.raises(ClientError, match="KmsKeyId is required"):
        west.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="e1", SourceRegion=REGION)
    key = dbs.customer_key(TENANT, OTHER_REGION)
    copied = west.copy_db_snapshot(
        SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="e1", SourceRegion=REGION, KmsKeyId=key
    )["DBSnapshot"]
    assert copied["KmsKeyId"] == key


def test_restore_does_not_inherit_the_subnet_group(dbs: Databases) -> None:
    net = dbs.network()
    rds = dbs.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="placed", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1", DBSubnetGroupName=net["subnet_group"],
    )  # fmt: skip
    rds.create_db_snapshot(DBInstanceIdentifier="placed", DBSnapshotIdentifier="p1")
    restored = rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="p2", DBSnapshotIdentifier="p1")
    assert (restored["DBInstance"].get("DBSubnetGroup") or {}).get("DBSubnetGroupName") != net["subnet_group"]


def test_redshift_share_copy_and_cross_region_copy(dbs: Databases) -> None:
    dbs.redshift()
    redshift, vault = dbs.client("redshift"), dbs.client("redshift", VAULT)
    redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="m1")
    assert vault.describe_cluster_snapshots(SnapshotType="manual")["Snapshots"] == []
    shared = redshift.authorize_snapshot_access(SnapshotIdentifier="m1", AccountWithRestoreAccess=VAULT_ID)
    assert shared["Snapshot"]["AccountsWithRestoreAccess"] == [{"AccountId": VAULT_ID}]
    (seen,) = vault.describe_cluster_snapshots(OwnerAccount="111111111111")["Snapshots"]
    assert seen["SnapshotIdentifier"] == "m1" and seen["OwnerAccount"] == "111111111111"
    vault.restore_from_cluster_snapshot(ClusterIdentifier="r", SnapshotIdentifier="m1", OwnerAccount="111111111111")
    assert vault.describe_clusters(ClusterIdentifier="r")["Clusters"][0]["NodeType"] == "ra3.xlplus"
    redshift.revoke_snapshot_access(SnapshotIdentifier="m1", AccountWithRestoreAccess=VAULT_ID)
    assert vault.describe_cluster_snapshots(OwnerAccount="111111111111")["Snapshots"] == []

    automated = redshift.describe_cluster_snapshots(SnapshotType="automated")["Snapshots"][0]["SnapshotIdentifier"]
    with pytest.raises(ClientError, match="automated"):
        redshift.copy_cluster_snapshot(SourceSnapshotIdentifier="m1", TargetSnapshotIdentifier="m2")
    made = redshift.copy_cluster_snapshot(SourceSnapshotIdentifier=automated, TargetSnapshotIdentifier="m2")
    assert made["Snapshot"]["SnapshotType"] == "manual"

    with pytest.raises(ClientError):  # the grant must exist in the destination region
        redshift.enable_snapshot_copy(
            ClusterIdentifier="warehouse", DestinationRegion=OTHER_REGION, SnapshotCopyGrantName="nope"
        )
    redshift.enable_snapshot_copy(ClusterIdentifier="warehouse", DestinationRegion=OTHER_REGION)
    redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="m3")
    west_client = dbs.client("redshift", TENANT, OTHER_REGION)
    with pytest.raises(ClientError, match="ClusterSnapshotNotFound"):  # asynchronous: not there at first
        west_client.describe_cluster_snapshots(SnapshotIdentifier="m3")
    west = west_client.describe_cluster_snapshots(SnapshotIdentifier="m3")
    assert west["Snapshots"][0]["SourceRegion"] == REGION


def _missing(call: Any, code: str) -> bool:
    try:
        call()
    except ClientError as exc:
        return bool(exc.response["Error"]["Code"] == code)
    return False


def test_renames_are_asynchronous(dbs: Databases) -> None:
    rds = dbs.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="old", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1",
    )  # fmt: skip
    renamed = rds.modify_db_instance(DBInstanceIdentifier="old", NewDBInstanceIdentifier="new", ApplyImmediately=True)
    assert renamed["DBInstance"]["DBInstanceIdentifier"] == "old"
    # Until the rename takes effect: the new name is not found, the old one exists ("renaming") and is not free.
    assert _missing(lambda: rds.describe_db_instances(DBInstanceIdentifier="new"), "DBInstanceNotFound")
    (old,) = rds.describe_db_instances(DBInstanceIdentifier="old")["DBInstances"]
    assert old["DBInstanceStatus"] == "renaming"
    (new,) = rds.describe_db_instances(DBInstanceIdentifier="new")["DBInstances"]
    assert new["DBInstanceStatus"] == "available"
    assert _missing(lambda: rds.describe_db_instances(DBInstanceIdentifier="old"), "DBInstanceNotFound")

    rds.create_db_cluster(DBClusterIdentifier="c-old", Engine="aurora-postgresql", MasterUsername="u",
                          MasterUserPassword="password-1")  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier="c-old-1", DBInstanceClass="db.r6g.large",
                           Engine="aurora-postgresql", DBClusterIdentifier="c-old")  # fmt: skip
    rds.modify_db_cluster(DBClusterIdentifier="c-old", NewDBClusterIdentifier="c-new", ApplyImmediately=True)
    assert _missing(lambda: rds.describe_db_clusters(DBClusterIdentifier="c-new"), "DBClusterNotFoundFault")
    assert rds.describe_db_clusters(DBClusterIdentifier="c-old")["DBClusters"][0]["Status"] == "renaming"
    assert rds.describe_db_clusters(DBClusterIdentifier="c-new")["DBClusters"][0]["Status"] == "available"

    dbs.redshift()
    redshift = dbs.client("redshift")
    redshift.modify_cluster(ClusterIdentifier="warehouse", NewClusterIdentifier="warehouse-2")
    assert _missing(lambda: redshift.describe_clusters(ClusterIdentifier="warehouse-2"), "ClusterNotFound")
    assert redshift.describe_clusters(ClusterIdentifier="warehouse")["Clusters"][0]["ClusterStatus"] == "renaming"
    assert redshift.describe_clusters(ClusterIdentifier="warehouse-2")["Clusters"][0]["ClusterStatus"] == "available"
    members = rds.describe_db_clusters(DBClusterIdentifier="c-new")["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members] == ["c-old-1"]  # members stay with the renamed cluster


def test_cluster_and_redshift_identifiers_follow_aws_rules(dbs: Databases) -> None:
    rds = dbs.client("rds")
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        rds.create_db_cluster(DBClusterIdentifier="a" * 64, Engine="aurora-postgresql", MasterUsername="u",
                              MasterUserPassword="password-1")  # fmt: skip
    rds.create_db_cluster(DBClusterIdentifier="c" * 63, Engine="aurora-postgresql", MasterUsername="u",
                          MasterUserPassword="password-1")  # fmt: skip
    for bad in ("s" * 64, "snap-", "snap--1", "1snap"):
        with pytest.raises(ClientError, match="InvalidParameterValue"):
            rds.create_db_cluster_snapshot(DBClusterIdentifier="c" * 63, DBClusterSnapshotIdentifier=bad)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="c" * 63, DBClusterSnapshotIdentifier="s" * 63)
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="s" * 63, TargetDBClusterSnapshotIdentifier="t" * 64
        )
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        rds.modify_db_cluster(DBClusterIdentifier="c" * 63, NewDBClusterIdentifier="renamed-")

    dbs.redshift()
    redshift = dbs.client("redshift")
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="s" * 256)
    redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="s" * 255)
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        redshift.modify_cluster(ClusterIdentifier="warehouse", NewClusterIdentifier="w" * 64)


def test_at_most_50_tags_per_database_resource(dbs: Databases) -> None:
    fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    rds = dbs.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="tagged", DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1", Tags=fifty,
    )  # fmt: skip
    arn = rds.create_db_snapshot(DBInstanceIdentifier="tagged", DBSnapshotIdentifier="t1", Tags=fifty)["DBSnapshot"][
        "DBSnapshotArn"
    ]
    with pytest.raises(ClientError, match="TagQuotaPerResourceExceeded"):
        rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    with pytest.raises(ClientError, match="TagQuotaPerResourceExceeded"):
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="t1", TargetDBSnapshotIdentifier="t2",
                             Tags=[*fifty, {"Key": "copy-of", "Value": "t1"}])  # fmt: skip
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "k0", "Value": "changed"}])  # same key: no new tag

    dbs.redshift()
    redshift = dbs.client("redshift")
    with pytest.raises(ClientError, match="TagLimitExceededFault"):
        redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="r1",
                                         Tags=[*fifty, {"Key": "x", "Value": "y"}])  # fmt: skip
    redshift.create_cluster_snapshot(ClusterIdentifier="warehouse", SnapshotIdentifier="r1", Tags=fifty)
    (snapshot,) = redshift.describe_cluster_snapshots(SnapshotIdentifier="r1")["Snapshots"]
    assert len(snapshot["Tags"]) == 50


def test_gp3_reports_its_baseline_and_refuses_iops_below_the_threshold(dbs: Databases) -> None:
    rds = dbs.client("rds")
    common: dict[str, Any] = {"DBInstanceClass": "db.m6g.large", "Engine": "postgres", "MasterUsername": "u",
                              "MasterUserPassword": "password-1", "StorageType": "gp3"}  # fmt: skip
    small = rds.create_db_instance(DBInstanceIdentifier="small", AllocatedStorage=100, **common)["DBInstance"]
    assert small["Iops"] == 3000 and small["StorageThroughput"] == 125
    with pytest.raises(ClientError, match="less than 400"):
        rds.create_db_instance(DBInstanceIdentifier="small2", AllocatedStorage=100, Iops=3000, **common)
    rds.create_db_snapshot(DBInstanceIdentifier="small", DBSnapshotIdentifier="small-snap")
    with pytest.raises(ClientError, match="less than 400"):  # what DescribeDBInstances said, sent back
        rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier="small3", DBSnapshotIdentifier="small-snap", Iops=3000, StorageThroughput=125
        )
    restored = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="small3", DBSnapshotIdentifier="small-snap"
    )
    assert restored["DBInstance"]["Iops"] == 3000
    big = rds.create_db_instance(
        DBInstanceIdentifier="big", AllocatedStorage=500, Iops=15000, StorageThroughput=600, **common
    )["DBInstance"]
    assert big["Iops"] == 15000 and big["StorageThroughput"] == 600
    oracle = {**common, "Engine": "oracle-ee", "LicenseModel": "bring-your-own-license"}
    rds.create_db_instance(DBInstanceIdentifier="ora", AllocatedStorage=250, Iops=12000, **oracle)


def test_redshift_shared_snapshot_on_a_customer_key_restores_only_where_the_key_policy_allows(dbs: Databases) -> None:
    for name, key in (("closed", dbs.customer_key()), ("open", dbs.customer_key(usable_by=VAULT_ID))):
        dbs.redshift(name, kms_key=key)
        dbs.client("redshift").create_cluster_snapshot(ClusterIdentifier=name, SnapshotIdentifier=f"{name}-s")
        dbs.client("redshift").authorize_snapshot_access(
            SnapshotIdentifier=f"{name}-s", AccountWithRestoreAccess=VAULT_ID
        )
    vault = dbs.client("redshift", VAULT)
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        vault.restore_from_cluster_snapshot(ClusterIdentifier="r1", SnapshotIdentifier="closed-s",
                                            OwnerAccount="111111111111")  # fmt: skip
    vault.restore_from_cluster_snapshot(
        ClusterIdentifier="r2", SnapshotIdentifier="open-s", OwnerAccount="111111111111"
    )
    assert [c["ClusterIdentifier"] for c in vault.describe_clusters()["Clusters"]] == ["r2"]


def _oracle_with_tde(dbs: Databases, identifier: str = "ledger") -> Any:
    rds = dbs.client("rds")
    rds.create_option_group(
        OptionGroupName="ledger-tde", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="tde"
    )
    rds.modify_option_group(OptionGroupName="ledger-tde", OptionsToInclude=[{"OptionName": "TDE"}])
    rds.create_db_instance(
        DBInstanceIdentifier=identifier, DBInstanceClass="db.m5.large", Engine="oracle-ee", EngineVersion="19.0.0.0",
        MasterUsername="u", MasterUserPassword="password-1", AllocatedStorage=100, OptionGroupName="ledger-tde",
    )  # fmt: skip
    return rds


def test_option_groups_travel_with_snapshots_and_cross_region_copies_must_name_one(dbs: Databases) -> None:
    rds = _oracle_with_tde(dbs)
    tde = rds.describe_option_groups(OptionGroupName="ledger-tde")["OptionGroupsList"][0]["Options"][0]
    assert tde["OptionName"] == "TDE" and tde["Persistent"] is True and tde["Permanent"] is True
    snap = rds.create_db_snapshot(DBInstanceIdentifier="ledger", DBSnapshotIdentifier="ledger-snap")["DBSnapshot"]
    assert snap["OptionGroupName"] == "ledger-tde"
    west = dbs.client("rds", TENANT, OTHER_REGION)
    source = {"SourceDBSnapshotIdentifier": snap["DBSnapshotArn"], "SourceRegion": REGION}
    with pytest.raises(ClientError, match="requires a target option group with the following options: TDE"):
        west.copy_db_snapshot(TargetDBSnapshotIdentifier="ledger-west", **source)
    with pytest.raises(ClientError, match="OptionGroupNotFoundFault"):
        west.copy_db_snapshot(TargetDBSnapshotIdentifier="ledger-west", OptionGroupName="ledger-tde", **source)
    west.create_option_group(
        OptionGroupName="plain", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="no tde"
    )
    with pytest.raises(ClientError, match="missing the persistent or permanent options"):
        west.copy_db_snapshot(TargetDBSnapshotIdentifier="ledger-west", OptionGroupName="plain", **source)
    west.create_option_group(
        OptionGroupName="ledger-tde", EngineName="oracle-ee", MajorEngineVersion="19", OptionGroupDescription="tde"
    )
    west.modify_option_group(OptionGroupName="ledger-tde", OptionsToInclude=[{"OptionName": "TDE"}])
    copied = west.copy_db_snapshot(TargetDBSnapshotIdentifier="ledger-west", OptionGroupName="ledger-tde", **source)
    assert copied["DBSnapshot"]["OptionGroupName"] == "ledger-tde"
    # A restore gets the snapshot's group unless it names one that carries the same persistent options.
    with pytest.raises(ClientError, match="missing the persistent or permanent options"):
        west.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier="ledger-r", DBSnapshotIdentifier="ledger-west", OptionGroupName="plain"
        )
    west.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="ledger-r", DBSnapshotIdentifier="ledger-west")
    restored = west.describe_db_instances(DBInstanceIdentifier="ledger-r")["DBInstances"][0]
    assert [g["OptionGroupName"] for g in restored["OptionGroupMemberships"]] == ["ledger-tde"]


def test_a_cross_region_copy_without_an_option_group_falls_back_to_the_default(dbs: Databases) -> None:
    rds = dbs.client("rds")
    rds.create_option_group(
        OptionGroupName="audit", EngineName="mysql", MajorEngineVersion="8.0", OptionGroupDescription="audit"
    )
    rds.modify_option_group(OptionGroupName="audit", OptionsToInclude=[{"OptionName": "MARIADB_AUDIT_PLUGIN"}])
    rds.create_db_instance(
        DBInstanceIdentifier="shop", DBInstanceClass="db.t3.micro", Engine="mysql", EngineVersion="8.0.35",
        MasterUsername="u", MasterUserPassword="password-1", AllocatedStorage=20, OptionGroupName="audit",
    )  # fmt: skip
    snap = rds.create_db_snapshot(DBInstanceIdentifier="shop", DBSnapshotIdentifier="shop-snap")["DBSnapshot"]
    same = rds.copy_db_snapshot(SourceDBSnapshotIdentifier="shop-snap", TargetDBSnapshotIdentifier="shop-2")
    assert same["DBSnapshot"]["OptionGroupName"] == "audit"
    west = dbs.client("rds", TENANT, OTHER_REGION).copy_db_snapshot(
        SourceDBSnapshotIdentifier=snap["DBSnapshotArn"], TargetDBSnapshotIdentifier="shop-west", SourceRegion=REGION
    )
    assert west["DBSnapshot"]["OptionGroupName"] == "default:mysql-8-0"  # the audit plugin is lost
