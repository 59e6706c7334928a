"""Manual snapshots of RDS DB instances, Aurora clusters and DocumentDB clusters: create, copy, share, delete.

The three speak the same API shape: DB instances have ``DBSnapshot``s, Aurora and DocumentDB clusters have
``DBClusterSnapshot``s; DocumentDB goes through its own botocore client (``docdb``) whose actions are IAM
``rds:`` actions. A ``Family`` names the operations and fields of one of the three; every function here takes one.

AWS facts this module relies on: a snapshot copied to another region or from another account must name a KMS key
in the destination when it is encrypted; a snapshot encrypted with the AWS-managed key (``aws/rds``) cannot be
shared; tagging on create needs ``rds:AddTagsToResource`` as well as the create action; shared snapshots are
addressed by ARN in the recipient account; manual snapshots share with at most 20 accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import tags_from_list
from skyvault.services.rds.waiting import Progress, Status, WaitPolicy, no_progress, wait_for

if TYPE_CHECKING:
    from typing import TypeAlias

    from types_boto3_rds.type_defs import (
        CopyDBClusterSnapshotMessageTypeDef,
        CopyDBSnapshotMessageTypeDef,
        ModifyDBClusterSnapshotAttributeMessageTypeDef,
        ModifyDBSnapshotAttributeMessageTypeDef,
        TagTypeDef,
    )

    from skyvault.aws.clients import DocDBClient, RDSClient

    # The botocore client of a family: DocumentDB's API is RDS's cluster half under its own client. A call on
    # the union is checked against both, so a parameter one of them lacks is a type error.
    DatabaseClient: TypeAlias = RDSClient | DocDBClient


@dataclass(frozen=True)
class Family:
    kind: str  # the recovery-point kind: rds | aurora | docdb
    service: Literal["rds", "docdb"]  # botocore client
    cluster: bool

    @property
    def noun(self) -> str:
        return "DBClusterSnapshot" if self.cluster else "DBSnapshot"

    @property
    def id_param(self) -> str:
        return f"{self.noun}Identifier"

    @property
    def arn_field(self) -> str:
        return f"{self.noun}Arn"

    @property
    def encrypted_field(self) -> str:
        return "StorageEncrypted" if self.cluster else "Encrypted"


RDS = Family("rds", "rds", cluster=False)
# RDS Multi-AZ DB clusters (engines mysql/postgres with two readable standbys): "rds" resources with cluster
# snapshots; AWS manages their instances, so a restore gives the cluster an instance class, not members.
RDS_CLUSTER = Family("rds-cluster", "rds", cluster=True)
AURORA = Family("aurora", "rds", cluster=True)
DOCDB = Family("docdb", "docdb", cluster=True)
FAMILIES = {f.kind: f for f in (RDS, RDS_CLUSTER, AURORA, DOCDB)}

_SNAP = "arn:${Partition}:rds:${Region}:${Account}:snapshot:*"
_CSNAP = "arn:${Partition}:rds:${Region}:${Account}:cluster-snapshot:*"
_ANY_SNAP = "arn:${Partition}:rds:${Region}:*:snapshot:*"
_ANY_CSNAP = "arn:${Partition}:rds:${Region}:*:cluster-snapshot:*"
_DB = "arn:${Partition}:rds:${Region}:${Account}:db:*"
_CLUSTER = "arn:${Partition}:rds:${Region}:${Account}:cluster:*"
_KMS_USE = ("kms:CreateGrant", "kms:DescribeKey")
NAME_PREFIX = "skyvault-"  # every snapshot skyvault makes (see backup.snapshot_name)
_KMS_KEYS = "arn:${Partition}:kms:${Region}:*:key/*"  # the destination key, and the source key of shared copies


def _declare_family(policy: str, service: str, noun: str, snap: str, any_snap: str, source: str) -> None:
    """The same calls for each family; declared at import time, one row per (operation, feature).

    Every snapshot skyvault makes is named ``skyvault-...`` (copies and intermediates too): creating, sharing and
    deleting are scoped to that name by ARN, on top of the restricted policy's tag conditions.
    """
    own = snap.replace(":*", f":{NAME_PREFIX}*")
    declare(
        policy=policy,
        service=service,
        operation=f"Create{noun}",
        feature=Feature.BACKUP,
        step="create snapshot",
        purpose="Take a manual snapshot, tagged skyvault:managed with the job and source, on create.",
        actions=(f"rds:Create{noun}", "rds:AddTagsToResource"),
        resources=(source, own),
        tag_on_create=True,
    )
    for feature, step, purpose in (
        (Feature.BACKUP, "wait for snapshot", "Follow the snapshot until it is available."),
        (Feature.COPY, "wait for copy", "Follow copies and find snapshots shared with the vault account."),
        (Feature.CLEANUP, "find snapshot", "Check a snapshot's skyvault tag before expiring it."),
    ):
        declare(
            policy=policy,
            service=service,
            operation=f"Describe{noun}s",
            feature=feature,
            step=step,
            purpose=purpose,
            resources=(any_snap,) if feature is Feature.COPY else (snap,),
        )
    declare(
        policy=policy,
        service=service,
        operation=f"Copy{noun}",
        feature=Feature.COPY,
        step="copy snapshot",
        purpose="Copy a snapshot to another region, into the vault account, or re-encrypted with skyvault's "
        "shareable key; the copy is tagged on create and encrypted with a key in the destination.",
        actions=(f"rds:Copy{noun}", "rds:AddTagsToResource", *_KMS_USE),
        resources=(any_snap, own, _KMS_KEYS),
        tag_on_create=True,
    )
    declare(
        policy=policy,
        service=service,
        operation=f"Modify{noun}Attribute",
        feature=Feature.COPY,
        step="share snapshot",
        purpose="Share a skyvault snapshot with the vault account for the cross-account copy, and unshare it after.",
        resources=(own,),
        destructive=True,
    )
    for feature, step, purpose in (
        (Feature.COPY, "delete intermediate", "Delete the re-encrypted intermediate copy made for sharing."),
        (Feature.CLEANUP, "expire snapshot", "Delete skyvault's snapshots when their recovery point expires."),
    ):
        declare(
            policy=policy,
            service=service,
            operation=f"Delete{noun}",
            feature=feature,
            step=step,
            purpose=purpose,
            resources=(own,),
            destructive=True,
        )


_declare_family("rds", "rds", "DBSnapshot", _SNAP, _ANY_SNAP, _DB)
_declare_family("rds", "rds", "DBClusterSnapshot", _CSNAP, _ANY_CSNAP, _CLUSTER)
_declare_family("docdb", "docdb", "DBClusterSnapshot", _CSNAP, _ANY_CSNAP, _CLUSTER)


# DocumentDB's API returns no TagList in its Describe responses: tags are read with ListTagsForResource.
for _feature, _step, _purpose in (
    (Feature.BACKUP, "capture configuration", "Read the cluster's tags (DocumentDB describes carry none)."),
    (Feature.CLEANUP, "find snapshot", "Check a snapshot carries skyvault's tag before expiring it."),
):
    declare(
        policy="docdb",
        service="docdb",
        operation="ListTagsForResource",
        feature=_feature,
        step=_step,
        purpose=_purpose,
        resources=(_CLUSTER, _CSNAP),
    )


def is_rds(client: DatabaseClient) -> TypeGuard[RDSClient]:
    return client.service == "rds"


def instance_api(client: DatabaseClient) -> RDSClient:
    """The RDS client of an instance family: DB instance snapshots exist in RDS only (DocumentDB has clusters)."""
    if not is_rds(client):
        raise TypeError(f"DB instance snapshots need the rds client, not {client.service}")
    return client


def resource_tags(client: DatabaseClient, described: dict[str, Any], arn: str | None) -> dict[str, str]:
    """Tags of a described resource: its TagList (RDS), or ListTagsForResource where Describe has none (docdb)."""
    if "TagList" in described or client.service != "docdb" or not arn:
        return tags_from_list(described.get("TagList"))
    return tags_from_list(client.list_tags_for_resource(ResourceName=arn).get("TagList"))


def tag_list(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def snapshot_status(snapshot: dict[str, Any]) -> Status:
    percent = snapshot.get("PercentProgress")
    return Status(str(snapshot.get("Status", "unknown")), float(percent) if percent is not None else None)


def describe(client: DatabaseClient, family: Family, snapshot: str) -> dict[str, Any]:
    """One snapshot by identifier, or by ARN (how a recipient addresses a snapshot shared with it)."""
    shared = snapshot.startswith("arn:")
    items: list[dict[str, Any]]
    if family.cluster:
        found = client.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot, IncludeShared=shared)
        items = [dict(item) for item in found.get("DBClusterSnapshots", [])]
    else:
        listed = instance_api(client).describe_db_snapshots(DBSnapshotIdentifier=snapshot, IncludeShared=shared)
        items = [dict(item) for item in listed.get("DBSnapshots", [])]
    if not items:
        raise NotFoundError(f"{family.noun} {snapshot} not found in account {client.account!r}, {client.region}")
    return items[0]


def wait_available(
    client: DatabaseClient,
    family: Family,
    snapshot: str,
    *,
    policy: WaitPolicy,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    def poll() -> Status:
        latest.update(describe(client, family, snapshot))
        return snapshot_status(latest)

    wait_for(poll, what=f"snapshot {snapshot} ({client.region})", policy=policy, progress=progress)
    return latest


def create(
    client: DatabaseClient, family: Family, source_id: str, snapshot_id: str, tags: dict[str, str]
) -> dict[str, Any]:
    if family.cluster:
        made = client.create_db_cluster_snapshot(
            DBClusterIdentifier=source_id, DBClusterSnapshotIdentifier=snapshot_id, Tags=tag_list(tags)
        )
        return dict(made["DBClusterSnapshot"])
    created = instance_api(client).create_db_snapshot(
        DBInstanceIdentifier=source_id, DBSnapshotIdentifier=snapshot_id, Tags=tag_list(tags)
    )
    return dict(created["DBSnapshot"])


def copy(
    client: DatabaseClient,
    family: Family,
    source: str,
    target_id: str,
    tags: dict[str, str],
    *,
    kms_key_id: str | None = None,
    source_region: str | None = None,
    option_group: str | None = None,
) -> dict[str, Any]:
    """Copy ``source`` (identifier, or ARN for another region/account) into ``client``'s account and region.

    ``option_group``: the destination's option group for a DB snapshot copied across regions (cluster snapshots
    take none)."""
    # botocore presigns the cross-region request from SourceRegion.
    region = source_region if source_region and source_region != client.region else None
    if family.cluster:
        cluster: CopyDBClusterSnapshotMessageTypeDef = {
            "SourceDBClusterSnapshotIdentifier": source,
            "TargetDBClusterSnapshotIdentifier": target_id,
            "Tags": tag_list(tags),
        }
        if kms_key_id:
            cluster["KmsKeyId"] = kms_key_id
        if region:
            cluster["SourceRegion"] = region
        return dict(client.copy_db_cluster_snapshot(**cluster)["DBClusterSnapshot"])
    instance: CopyDBSnapshotMessageTypeDef = {
        "SourceDBSnapshotIdentifier": source,
        "TargetDBSnapshotIdentifier": target_id,
        "Tags": tag_list(tags),
    }
    if kms_key_id:
        instance["KmsKeyId"] = kms_key_id
    if region:
        instance["SourceRegion"] = region
    if option_group:
        instance["OptionGroupName"] = option_group
    return dict(instance_api(client).copy_db_snapshot(**instance)["DBSnapshot"])


def share(client: DatabaseClient, family: Family, snapshot_id: str, account_id: str, *, revoke: bool = False) -> None:
    if family.cluster:
        cluster: ModifyDBClusterSnapshotAttributeMessageTypeDef = {
            "DBClusterSnapshotIdentifier": snapshot_id,
            "AttributeName": "restore",
        }
        cluster["ValuesToRemove" if revoke else "ValuesToAdd"] = [account_id]
        client.modify_db_cluster_snapshot_attribute(**cluster)
        return
    instance: ModifyDBSnapshotAttributeMessageTypeDef = {
        "DBSnapshotIdentifier": snapshot_id,
        "AttributeName": "restore",
    }
    instance["ValuesToRemove" if revoke else "ValuesToAdd"] = [account_id]
    instance_api(client).modify_db_snapshot_attribute(**instance)


def delete(client: DatabaseClient, family: Family, snapshot_id: str) -> None:
    if family.cluster:
        client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot_id)
    else:
        instance_api(client).delete_db_snapshot(DBSnapshotIdentifier=snapshot_id)


def is_encrypted(snapshot: dict[str, Any], family: Family) -> bool:
    return bool(snapshot.get(family.encrypted_field) or snapshot.get("Encrypted"))
