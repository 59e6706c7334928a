"""Undo what Redshift backups set up for one job, and expire skyvault's Redshift snapshots.

Intermediates: the snapshot-copy setting skyvault enabled (``<cluster ARN>#copy-to:<region>``), the share with
the vault account (``<snapshot ARN>#shared-with:<account ID>``) and the temporary vault cluster (its ARN).
Expiry deletes only snapshots tagged ``skyvault:managed=true``.
"""

from __future__ import annotations

from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import NotFoundError
from skyvault.permissions.registry import MANAGED_TAG
from skyvault.services.base import tags_from_list
from skyvault.services.rds.cleanup import IntermediateLike
from skyvault.services.redshift import snapshots as rs
from skyvault.services.redshift.backup import COPY_SETTING, SHARE, VAULT_CLUSTER


def disable_copy(factory: ClientFactory, item: IntermediateLike) -> None:
    cluster_arn = item.id.partition("#copy-to:")[0]
    client = factory.client(item.account, item.region, "redshift")
    if rs.describe_cluster(client, cluster_arn.rsplit(":", 1)[-1]).get("ClusterSnapshotCopyStatus"):
        client.disable_snapshot_copy(ClusterIdentifier=cluster_arn.rsplit(":", 1)[-1])


def revoke_share(factory: ClientFactory, item: IntermediateLike) -> None:
    snapshot_arn, _, account_id = item.id.partition("#shared-with:")
    cluster_id, snapshot_id = snapshot_arn.rsplit(":", 1)[-1].split("/", 1)
    client = factory.client(item.account, item.region, "redshift")
    client.revoke_snapshot_access(
        SnapshotIdentifier=snapshot_id, SnapshotClusterIdentifier=cluster_id, AccountWithRestoreAccess=account_id
    )


def delete_vault_cluster(factory: ClientFactory, item: IntermediateLike) -> None:
    client = factory.client(item.account, item.region, "redshift")
    client.delete_cluster(ClusterIdentifier=item.id.rsplit(":", 1)[-1], SkipFinalClusterSnapshot=True)


CLEANERS: dict[str, Any] = {COPY_SETTING: disable_copy, SHARE: revoke_share, VAULT_CLUSTER: delete_vault_cluster}


def expire_snapshot(factory: ClientFactory, account: str, region: str, snapshot_id: str) -> bool:
    client = factory.client(account, region, "redshift")
    try:
        found = rs.describe_snapshot(client, snapshot_id)
    except NotFoundError:
        return False
    if tags_from_list(found.get("Tags")).get(MANAGED_TAG) != "true":
        return False
    try:
        client.delete_cluster_snapshot(SnapshotIdentifier=snapshot_id)
    except NotFoundError:
        return False
    return True


def expire_point(factory: ClientFactory, account: str, region: str, native: dict[str, Any]) -> int:
    deleted = int(expire_snapshot(factory, account, region, native["snapshot_id"]))
    for copied in native.get("copies", []):
        deleted += expire_snapshot(factory, copied["account"], copied["region"], copied["snapshot_id"])
    return deleted
