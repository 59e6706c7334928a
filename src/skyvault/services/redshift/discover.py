"""Discover Amazon Redshift provisioned clusters in one account and region.

``redshift:DescribeClusters`` has no resource-level permissions in IAM (``*``); its response carries the
cluster's tags, so no DescribeTags call is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.permissions import Feature, declare
from skyvault.services.base import MIB, Resource, Target, tags_from_list

DESCRIBE_CLUSTERS = declare(
    policy="redshift",
    service="redshift",
    operation="DescribeClusters",
    feature=Feature.DISCOVER,
    step="discover clusters",
    purpose="List Redshift clusters with their node type, node count, storage capacity and tags.",
)


def _cluster_resource(target: Target, cluster: Mapping[str, Any]) -> Resource:
    identifier = cluster["ClusterIdentifier"]
    capacity_mib = cluster.get("TotalStorageCapacityInMegaBytes")
    return Resource(
        account=target.account,
        region=target.region,
        service="redshift",
        id=identifier,
        arn=target.arn("redshift", f"cluster:{identifier}"),
        name=identifier,
        # The cluster's storage capacity (RA3: managed storage quota); 0 or absent means not reported.
        size_bytes=int(capacity_mib) * MIB if isinstance(capacity_mib, int) and capacity_mib > 0 else None,
        tags=tags_from_list(cluster.get("Tags")),
        details={
            "status": cluster.get("ClusterStatus"),
            "node_type": cluster.get("NodeType"),
            "nodes": cluster.get("NumberOfNodes"),
            "database": cluster.get("DBName"),
            "encrypted": bool(cluster.get("Encrypted", False)),
            "automated_snapshot_retention_days": cluster.get("AutomatedSnapshotRetentionPeriod"),
        },
    )


def discover_clusters(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "redshift")
    return [
        _cluster_resource(target, cluster)
        for page in client.get_paginator("describe_clusters").paginate()
        for cluster in page.get("Clusters", [])
    ]
