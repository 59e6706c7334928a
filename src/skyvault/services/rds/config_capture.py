"""Capture what it takes to rebuild an RDS instance, an Aurora cluster or a DocumentDB cluster.

Snapshots keep the data, the engine and the storage; the rest (instance class, subnet group, security groups,
parameter and option groups, port, Multi-AZ, IAM auth, tags, the cluster's member instances) is not restored from
a snapshot unless the restore names it, so it is captured at backup time and stored with the recovery point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import tags_from_list
from skyvault.services.rds.snapshots import Family, resource_tags

if TYPE_CHECKING:
    from skyvault.services.rds.snapshots import DatabaseClient

_DB = "arn:${Partition}:rds:${Region}:${Account}:db:*"
_CLUSTER = "arn:${Partition}:rds:${Region}:${Account}:cluster:*"

for _policy, _service in (("rds", "rds"), ("docdb", "docdb")):
    for _feature, _step in ((Feature.BACKUP, "capture configuration"), (Feature.RESTORE, "wait for restore")):
        declare(
            policy=_policy,
            service=_service,
            operation="DescribeDBInstances",
            feature=_feature,
            step=_step,
            purpose="Read instance class, networking, groups and tags to capture them; follow restored instances.",
            resources=(_DB,),
        )
        declare(
            policy=_policy,
            service=_service,
            operation="DescribeDBClusters",
            feature=_feature,
            step=_step,
            purpose="Read a cluster's engine, networking, groups, members and tags; follow restored clusters.",
            resources=(_CLUSTER,),
        )


def describe_instance(client: DatabaseClient, identifier: str) -> dict[str, Any]:
    items = client.describe_db_instances(DBInstanceIdentifier=identifier).get("DBInstances", [])
    if not items:
        raise NotFoundError(f"DB instance {identifier} not found in account {client.account!r}, {client.region}")
    return dict(items[0])


def describe_cluster(client: DatabaseClient, identifier: str) -> dict[str, Any]:
    items = client.describe_db_clusters(DBClusterIdentifier=identifier).get("DBClusters", [])
    if not items:
        raise NotFoundError(f"DB cluster {identifier} not found in account {client.account!r}, {client.region}")
    return dict(items[0])


def _instance_config(db: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": db["DBInstanceIdentifier"],
        "arn": db.get("DBInstanceArn"),
        "instance_class": db.get("DBInstanceClass"),
        "engine": db.get("Engine"),
        "engine_version": db.get("EngineVersion"),
        "port": (db.get("Endpoint") or {}).get("Port") or db.get("DbInstancePort"),
        "subnet_group": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "security_groups": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])),
        "parameter_group": next((g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])), None),
        "option_group": next((g["OptionGroupName"] for g in db.get("OptionGroupMemberships", [])), None),
        "multi_az": bool(db.get("MultiAZ")),
        "availability_zone": db.get("AvailabilityZone"),
        "storage_type": db.get("StorageType"),
        "allocated_storage_gib": db.get("AllocatedStorage"),
        "iops": db.get("Iops"),
        "storage_throughput": db.get("StorageThroughput"),
        "storage_encrypted": bool(db.get("StorageEncrypted")),
        "kms_key_id": db.get("KmsKeyId"),
        "iam_auth": bool(db.get("IAMDatabaseAuthenticationEnabled")),
        "publicly_accessible": bool(db.get("PubliclyAccessible")),
        "copy_tags_to_snapshot": bool(db.get("CopyTagsToSnapshot")),
        "deletion_protection": bool(db.get("DeletionProtection")),
        "db_name": db.get("DBName"),
        "master_username": db.get("MasterUsername"),
        "tags": tags_from_list(db.get("TagList")),
    }


def _cluster_config(cluster: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "identifier": cluster["DBClusterIdentifier"],
        "arn": cluster.get("DBClusterArn"),
        "engine": cluster.get("Engine"),
        "engine_version": cluster.get("EngineVersion"),
        "engine_mode": cluster.get("EngineMode"),
        "port": cluster.get("Port"),
        "subnet_group": cluster.get("DBSubnetGroup"),
        "security_groups": sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", [])),
        "parameter_group": cluster.get("DBClusterParameterGroup"),
        "storage_encrypted": bool(cluster.get("StorageEncrypted")),
        "kms_key_id": cluster.get("KmsKeyId"),
        "iam_auth": bool(cluster.get("IAMDatabaseAuthenticationEnabled")),
        "deletion_protection": bool(cluster.get("DeletionProtection")),
        "copy_tags_to_snapshot": bool(cluster.get("CopyTagsToSnapshot")),
        "database_name": cluster.get("DatabaseName"),
        "master_username": cluster.get("MasterUsername"),
        "serverless_v2_scaling": cluster.get("ServerlessV2ScalingConfiguration"),
        # Multi-AZ DB clusters: the cluster itself has the instance class and the storage settings.
        "cluster_instance_class": cluster.get("DBClusterInstanceClass"),
        "storage_type": cluster.get("StorageType"),
        "iops": cluster.get("Iops"),
        "storage_throughput": cluster.get("StorageThroughput"),
        "allocated_storage_gib": cluster.get("AllocatedStorage"),
        "tags": tags_from_list(cluster.get("TagList")),
        # Writer first: a restore adds it first so it becomes the writer again.
        "members": sorted(members, key=lambda m: (not m["writer"], m["identifier"])),
    }


def family_for(client: DatabaseClient, kind: str, identifier: str, families: dict[str, Family]) -> Family:
    """The snapshot family of an "rds" source: a DB instance, or else a Multi-AZ DB cluster of that name."""
    if kind != "rds":
        return families[kind]
    try:
        describe_instance(client, identifier)
    except NotFoundError:
        describe_cluster(client, identifier)  # NotFoundError again when it is neither: names the cluster
        return families["rds-cluster"]
    return families["rds"]


def capture(client: DatabaseClient, family: Family, identifier: str) -> dict[str, Any]:
    """The captured configuration of one source (JSON-able; stored as the recovery point's captured_config)."""
    if not family.cluster:
        instance = describe_instance(client, identifier)
        instance["TagList"] = [
            {"Key": k, "Value": v} for k, v in resource_tags(client, instance, instance.get("DBInstanceArn")).items()
        ]
        return {"kind": family.kind, **_instance_config(instance)}
    cluster = describe_cluster(client, identifier)
    cluster["TagList"] = [
        {"Key": k, "Value": v} for k, v in resource_tags(client, cluster, cluster.get("DBClusterArn")).items()
    ]
    members = []
    for member in cluster.get("DBClusterMembers", []):
        instance = describe_instance(client, member["DBInstanceIdentifier"])
        members.append(
            {
                "identifier": member["DBInstanceIdentifier"],
                "writer": bool(member.get("IsClusterWriter")),
                "instance_class": instance.get("DBInstanceClass"),
                "promotion_tier": member.get("PromotionTier", instance.get("PromotionTier")),
                "availability_zone": instance.get("AvailabilityZone"),
                "parameter_group": next(
                    (g["DBParameterGroupName"] for g in instance.get("DBParameterGroups", [])), None
                ),
            }
        )
    return {"kind": family.kind, **_cluster_config(cluster, members)}
