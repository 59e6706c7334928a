"""Redshift manual snapshots, sharing, snapshot-copy settings and clusters: the calls and their permissions.

AWS facts this module relies on: cross-region copies are a cluster setting (``EnableSnapshotCopy``; KMS-encrypted
clusters need a snapshot copy grant in the destination region); a shared snapshot can only be restored by the
recipient, never copied; ``RestoreFromClusterSnapshot`` takes no tags (the restored cluster is tagged after).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.rds.waiting import Progress, Status, WaitPolicy, no_progress, wait_for

if TYPE_CHECKING:
    from types_boto3_redshift.type_defs import TagTypeDef

    from skyvault.aws.clients import RedshiftClient

# Every snapshot skyvault makes or touches is named skyvault-... (see rds.backup.snapshot_name): scoped by ARN.
_SNAP = "arn:${Partition}:redshift:${Region}:${Account}:snapshot:*/skyvault-*"
_ANY_SNAP = "arn:${Partition}:redshift:${Region}:*:snapshot:*/skyvault-*"
_CLUSTER = "arn:${Partition}:redshift:${Region}:${Account}:cluster:*"
# Every copy grant skyvault makes is named skyvault-... (backup.GRANT_NAME): scoped to that name.
_GRANT = "arn:${Partition}:redshift:${Region}:${Account}:snapshotcopygrant:skyvault-*"
_KMS_KEYS = "arn:${Partition}:kms:${Region}:*:key/*"
# Restoring a KMS-encrypted snapshot: Redshift reads the snapshot's key and makes the new cluster's keys with the
# caller's KMS permissions (Service Authorization Reference, dependent actions of RestoreFromClusterSnapshot;
# the secretsmanager ones are for managed admin passwords, which skyvault never sets). The policy allows them only
# through Redshift (kms:ViaService, permissions.service_use).
_KMS_RESTORE = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:RetireGrant")
# The vault's temporary clusters (restore-and-snapshot) are named with this prefix, and the copy feature's cluster
# permissions are scoped to it by ARN: even a user's cluster that somehow carried skyvault's tag stays out of reach.
TEMP_CLUSTER_PREFIX = "skyvault-tmp-"
COPY_FIRST_POLL_S = 2.0  # a cross-region copy may appear soon after the source completes: look early, then back off
_TEMP_CLUSTER = "arn:${Partition}:redshift:${Region}:${Account}:cluster:" + TEMP_CLUSTER_PREFIX + "*"


def _d(operation: str, feature: Feature, step: str, purpose: str, resources: tuple[str, ...], **kw: Any) -> None:
    declare(
        policy="redshift",
        service="redshift",
        operation=operation,
        feature=feature,
        step=step,
        purpose=purpose,
        resources=resources,
        **kw,
    )


_d("DescribeClusters", Feature.BACKUP, "capture configuration", "Read node type, nodes, networking, groups, "
   "encryption and tags of the cluster to back up.", (_CLUSTER,))  # fmt: skip
_d("DescribeClusters", Feature.COPY, "wait for vault cluster", "Follow the temporary cluster restored in the vault "
   "account.", (_TEMP_CLUSTER,))  # fmt: skip
_d("DescribeClusters", Feature.RESTORE, "wait for restore", "Follow the restored cluster until available.", (_CLUSTER,))
_d("CreateClusterSnapshot", Feature.BACKUP, "create snapshot", "Take a manual snapshot tagged skyvault:managed with "
   "the job and source, on create.", (_CLUSTER, _SNAP), actions=("redshift:CreateClusterSnapshot",
   "redshift:CreateTags"), tag_on_create=True)  # fmt: skip
_d("CreateClusterSnapshot", Feature.COPY, "snapshot vault cluster", "Snapshot the temporary vault cluster: the "
   "vault's own copy (Redshift cannot copy a shared snapshot).", (_TEMP_CLUSTER, _SNAP),
   actions=("redshift:CreateClusterSnapshot", "redshift:CreateTags"), tag_on_create=True)  # fmt: skip
for _feature, _step in (
    (Feature.BACKUP, "wait for snapshot"),
    (Feature.COPY, "wait for copy"),
    (Feature.RESTORE, "find snapshot"),
    (Feature.CLEANUP, "find snapshot"),
):
    _d("DescribeClusterSnapshots", _feature, _step, "Follow and check skyvault snapshots (state, tags, copies).",
       ("*",))  # fmt: skip  # IAM has no resource type for DescribeClusterSnapshots
_d("DeleteClusterSnapshot", Feature.CLEANUP, "expire snapshot", "Delete skyvault's snapshots when their recovery "
   "point expires.", (_SNAP,), destructive=True)  # fmt: skip
_d("CreateTags", Feature.COPY, "tag copy", "Tag cross-region copies and the temporary vault cluster as skyvault's.",
   (_SNAP, _TEMP_CLUSTER), tags_write=True)  # fmt: skip
_d("CreateTags", Feature.RESTORE, "tag restored cluster", "Give the restored cluster the source's tags (restores "
   "take no tags).", (_CLUSTER,), tags_write=True)  # fmt: skip
_d("AuthorizeSnapshotAccess", Feature.COPY, "share snapshot", "Let the vault account restore the snapshot.", (_SNAP,))
_d("RevokeSnapshotAccess", Feature.COPY, "unshare snapshot", "Remove the vault account's access when the job ends.",
   (_SNAP,), destructive=True)  # fmt: skip
_d("CreateSnapshotCopyGrant", Feature.COPY, "create copy grant", "Let Redshift use skyvault's key in the destination "
   "region for copies of encrypted clusters.", (_GRANT, _KMS_KEYS), actions=("redshift:CreateSnapshotCopyGrant",
   "redshift:CreateTags", "kms:CreateGrant", "kms:DescribeKey"), tag_on_create=True)  # fmt: skip
# Both change a setting of the user's cluster: the restricted policy allows them only on clusters the owner tagged
# skyvault:allow-copy-setting=true (permissions.restricted.OWNER_OPT_IN).
_d("EnableSnapshotCopy", Feature.COPY, "enable cross-region copy", "Turn on copying of the cluster's new snapshots "
   "to the destination region for this job.", (_CLUSTER,))  # fmt: skip
_d("DisableSnapshotCopy", Feature.COPY, "disable cross-region copy", "Turn the copy setting skyvault enabled back "
   "off when the job ends (it undoes skyvault's own change to the user's cluster).", (_CLUSTER,))  # fmt: skip
_d("RestoreFromClusterSnapshot", Feature.COPY, "restore in vault", "Restore a temporary cluster in the vault account "
   "from the shared snapshot, to snapshot it there.", (_TEMP_CLUSTER, _ANY_SNAP, _KMS_KEYS),
   actions=("redshift:RestoreFromClusterSnapshot", *_KMS_RESTORE))  # fmt: skip
_d("RestoreFromClusterSnapshot", Feature.RESTORE, "restore cluster", "Create a new cluster from a skyvault "
   "snapshot with the captured configuration.", (_CLUSTER, _SNAP, _KMS_KEYS),
   actions=("redshift:RestoreFromClusterSnapshot", *_KMS_RESTORE))  # fmt: skip
_d("DeleteCluster", Feature.COPY, "delete vault cluster", "Delete the temporary vault cluster (no final snapshot).",
   (_TEMP_CLUSTER,), destructive=True)  # fmt: skip
_d("ModifyCluster", Feature.RESTORE_OVERWRITE, "rename original", "Rename the original cluster aside (kept, not "
   "deleted) before restoring under its identifier.", (_CLUSTER,), destructive=True)  # fmt: skip


def tag_list(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def describe_cluster(client: RedshiftClient, identifier: str) -> dict[str, Any]:
    items = client.describe_clusters(ClusterIdentifier=identifier).get("Clusters", [])
    if not items:
        raise NotFoundError(f"Redshift cluster {identifier} not found in account {client.account!r}, {client.region}")
    return dict(items[0])


def describe_snapshot(client: RedshiftClient, snapshot_id: str, owner_account: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"SnapshotIdentifier": snapshot_id}
    if owner_account:
        params["OwnerAccount"] = owner_account
    items = client.describe_cluster_snapshots(**params).get("Snapshots", [])
    if not items:
        raise NotFoundError(f"Redshift snapshot {snapshot_id} not found in account {client.account!r}, {client.region}")
    return dict(items[0])


def wait_snapshot(
    client: RedshiftClient,
    snapshot_id: str,
    *,
    policy: WaitPolicy,
    progress: Progress = no_progress,
    appears_later: bool = False,
) -> dict[str, Any]:
    """Follow a snapshot until it is available. ``appears_later``: a cross-region copy, which Redshift starts only
    when the source snapshot completes, so not-found means "not there yet" until the deadline."""
    latest: dict[str, Any] = {}

    def poll() -> Status:
        try:
            latest.update(describe_snapshot(client, snapshot_id))
        except NotFoundError:
            if not appears_later:
                raise
            return Status("copy-not-started")
        done, total = latest.get("BackupProgressInMegaBytes"), latest.get("TotalBackupSizeInMegaBytes")
        percent = 100.0 * done / total if done is not None and total else None
        return Status(str(latest.get("Status", "unknown")), percent)

    if appears_later and not policy.first_poll_s:
        policy = dataclasses.replace(policy, first_poll_s=COPY_FIRST_POLL_S)
    wait_for(poll, what=f"snapshot {snapshot_id} ({client.region})", policy=policy, progress=progress)
    return latest


def wait_cluster(
    client: RedshiftClient, identifier: str, *, policy: WaitPolicy, progress: Progress = no_progress
) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    def poll() -> Status:
        latest.update(describe_cluster(client, identifier))
        return Status(str(latest.get("ClusterStatus", "unknown")))

    wait_for(poll, what=f"cluster {identifier} ({client.region})", policy=policy, progress=progress)
    return latest


def snapshot_arn(partition: str, region: str, account_id: str, cluster_id: str, snapshot_id: str) -> str:
    return f"arn:{partition}:redshift:{region}:{account_id}:snapshot:{cluster_id}/{snapshot_id}"


def cluster_arn(partition: str, region: str, account_id: str, cluster_id: str) -> str:
    return f"arn:{partition}:redshift:{region}:{account_id}:cluster:{cluster_id}"
