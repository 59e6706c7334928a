"""Model ``redshift``: the parts that ``tests/databases/test_lab_models.py`` (sharing, copies) does not check.

Each assertion fails with moto 5.2.1 alone: a cluster without snapshots listed every snapshot, ``aws/redshift``
was a customer key, a restore dropped the key and copied the snapshot's tags onto the new cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import LabEnv

pytestmark = pytest.mark.lab


def _cluster(redshift: Any, identifier: str, **params: Any) -> dict[str, Any]:
    cluster: dict[str, Any] = redshift.create_cluster(
        ClusterIdentifier=identifier, NodeType="ra3.xlplus", ClusterType="single-node", MasterUsername="admin",
        MasterUserPassword="Correct-horse-1", **params,
    )["Cluster"]  # fmt: skip
    return cluster


def test_keys_snapshot_listing_and_restores_like_aws(lab_env: LabEnv, raw: Callable[..., Any]) -> None:
    redshift, kms = raw("redshift"), raw("kms")
    source = _cluster(redshift, "encrypted", Encrypted=True, Tags=[{"Key": "team", "Value": "data"}])
    # Encrypted without a key: the account's AWS-managed aws/redshift key.
    managed = kms.describe_key(KeyId="alias/aws/redshift")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert source["KmsKeyId"] == managed["Arn"]

    redshift.create_cluster_snapshot(
        ClusterIdentifier="encrypted", SnapshotIdentifier="s1", Tags=[{"Key": "snapshot", "Value": "s1"}]
    )
    _cluster(redshift, "empty")
    manual = redshift.describe_cluster_snapshots(ClusterIdentifier="empty", SnapshotType="manual")["Snapshots"]
    assert manual == []  # not every snapshot of the account

    restored = redshift.restore_from_cluster_snapshot(ClusterIdentifier="restored", SnapshotIdentifier="s1")
    assert restored["Cluster"]["KmsKeyId"] == managed["Arn"]
    described = redshift.describe_clusters(ClusterIdentifier="restored")["Clusters"][0]
    assert described["KmsKeyId"] == managed["Arn"]
    assert described.get("Tags", []) == []  # a restore takes the request's tags, not the snapshot's
