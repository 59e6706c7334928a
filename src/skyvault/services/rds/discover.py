"""Discover RDS DB instances and Multi-AZ DB clusters, Aurora clusters, and DocumentDB clusters.

The three share the RDS API, and its Describe calls return every engine at once (DocumentDB's own API too:
AWS documents filtering on ``engine``), so each service asks with an engine filter and sees only its own.
Instances that belong to a cluster are protected through the cluster (cluster snapshots) and are listed as the
cluster's members, not on their own. RDS Describe responses carry ``TagList``; DocumentDB's do not, so its tags
come from ListTagsForResource.

IAM: ``rds:DescribeDBInstances`` / ``rds:DescribeDBClusters`` accept resource ARNs (``db:*``, ``cluster:*``);
DocumentDB's actions use the ``rds`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import Resource, Target, gib_to_bytes, tags_from_list

if TYPE_CHECKING:
    from types_boto3_rds.type_defs import FilterTypeDef  # DocumentDB's filter has the same shape

_DB_ARN = "arn:${Partition}:rds:${Region}:${Account}:db:*"
_CLUSTER_ARN = "arn:${Partition}:rds:${Region}:${Account}:cluster:*"

DESCRIBE_DB_INSTANCES = declare(
    policy="rds",
    service="rds",
    operation="DescribeDBInstances",
    feature=Feature.DISCOVER,
    step="discover rds instances",
    purpose="List RDS DB instances with their engine, allocated storage and tags.",
    resources=(_DB_ARN,),
)
DESCRIBE_RDS_CLUSTERS = declare(
    policy="rds",
    service="rds",
    operation="DescribeDBClusters",
    feature=Feature.DISCOVER,
    step="discover rds clusters",
    purpose="List Aurora clusters and RDS Multi-AZ DB clusters with their members and tags.",
    resources=(_CLUSTER_ARN,),
)
DESCRIBE_DOCDB_CLUSTERS = declare(
    policy="docdb",
    service="docdb",
    operation="DescribeDBClusters",
    feature=Feature.DISCOVER,
    step="discover documentdb clusters",
    purpose="List DocumentDB clusters (engine docdb) with their members and tags.",
    resources=(_CLUSTER_ARN,),
)

LIST_DOCDB_TAGS = declare(
    policy="docdb",
    service="docdb",
    operation="ListTagsForResource",
    feature=Feature.DISCOVER,
    step="discover documentdb clusters",
    purpose="Read each DocumentDB cluster's tags (DocumentDB's Describe responses carry none).",
    resources=(_CLUSTER_ARN,),
)

AURORA_ENGINES = ["aurora", "aurora-mysql", "aurora-postgresql"]
# RDS Multi-AZ DB clusters (two readable standbys) use the plain engine names.
MULTI_AZ_CLUSTER_ENGINES = ["mysql", "postgres"]
DOCDB_ENGINES = ["docdb"]
# Engines DescribeDBInstances returns that are not "rds" resources of their own.
_NOT_RDS_INSTANCE_ENGINES = {"docdb", "neptune", *AURORA_ENGINES}


def _engine_filter(engines: list[str]) -> list[FilterTypeDef]:
    return [{"Name": "engine", "Values": engines}]


def _instance_resource(target: Target, db: Mapping[str, Any]) -> Resource:
    identifier = db["DBInstanceIdentifier"]
    return Resource(
        account=target.account,
        region=target.region,
        service="rds",
        id=identifier,
        arn=db.get("DBInstanceArn") or target.arn("rds", f"db:{identifier}"),
        name=identifier,
        size_bytes=gib_to_bytes(db.get("AllocatedStorage")),
        tags=tags_from_list(db.get("TagList")),
        details={
            "kind": "instance",
            "engine": db.get("Engine"),
            "engine_version": db.get("EngineVersion"),
            "status": db.get("DBInstanceStatus"),
            "instance_class": db.get("DBInstanceClass"),
            "storage_type": db.get("StorageType"),
            "multi_az": bool(db.get("MultiAZ", False)),
            "encrypted": bool(db.get("StorageEncrypted", False)),
            "backup_retention_days": db.get("BackupRetentionPeriod"),
            # A read replica is protected like any instance, but plans usually want only its source.
            "replica_of": db.get("ReadReplicaSourceDBInstanceIdentifier"),
        },
    )


def _cluster_resource(target: Target, service: str, cluster: Mapping[str, Any]) -> Resource:
    identifier = cluster["DBClusterIdentifier"]
    members = [
        {"instance_id": m["DBInstanceIdentifier"], "writer": bool(m.get("IsClusterWriter", False))}
        for m in cluster.get("DBClusterMembers", [])
    ]
    # Aurora and DocumentDB report AllocatedStorage as a placeholder (1): their volume grows on demand and its
    # size is only a CloudWatch metric. Multi-AZ DB clusters provision storage like instances do.
    size = gib_to_bytes(cluster.get("AllocatedStorage")) if service == "rds" else None
    return Resource(
        account=target.account,
        region=target.region,
        service=service,
        id=identifier,
        arn=cluster.get("DBClusterArn") or target.arn("rds", f"cluster:{identifier}"),
        name=identifier,
        size_bytes=size,
        tags=tags_from_list(cluster.get("TagList")),
        details={
            "kind": "cluster",
            "engine": cluster.get("Engine"),
            "engine_version": cluster.get("EngineVersion"),
            "engine_mode": cluster.get("EngineMode"),
            "status": cluster.get("Status"),
            "encrypted": bool(cluster.get("StorageEncrypted", False)),
            "backup_retention_days": cluster.get("BackupRetentionPeriod"),
            "members": members,
        },
    )


def discover_rds(factory: ClientFactory, target: Target) -> list[Resource]:
    """Standalone DB instances and Multi-AZ DB clusters."""
    client = factory.client(target.account, target.region, "rds")
    found = [
        _instance_resource(target, db)
        for page in client.get_paginator("describe_db_instances").paginate()
        for db in page.get("DBInstances", [])
        if not db.get("DBClusterIdentifier") and db.get("Engine") not in _NOT_RDS_INSTANCE_ENGINES
    ]
    found.extend(
        _cluster_resource(target, "rds", cluster)
        for page in client.get_paginator("describe_db_clusters").paginate(
            Filters=_engine_filter(MULTI_AZ_CLUSTER_ENGINES)
        )
        for cluster in page.get("DBClusters", [])
    )
    return found


def discover_aurora(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "rds")
    return [
        _cluster_resource(target, "aurora", cluster)
        for page in client.get_paginator("describe_db_clusters").paginate(Filters=_engine_filter(AURORA_ENGINES))
        for cluster in page.get("DBClusters", [])
    ]


def discover_docdb(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "docdb")
    found = []
    for page in client.get_paginator("describe_db_clusters").paginate(Filters=_engine_filter(DOCDB_ENGINES)):
        for cluster in page.get("DBClusters", []):
            try:
                tags = client.list_tags_for_resource(ResourceName=cluster["DBClusterArn"]).get("TagList")
            except NotFoundError:
                continue  # deleted since the Describe: nothing left to protect
            found.append(_cluster_resource(target, "docdb", {**cluster, "TagList": tags}))
    return found
