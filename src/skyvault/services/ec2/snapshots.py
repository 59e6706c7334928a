"""Native EBS snapshots: crash-consistent multi-volume snapshots of an instance, waiting, retiring old bases.

``CreateSnapshots`` snapshots every EBS volume of an instance at the same point in time (crash-consistent across
volumes, unlike one ``CreateSnapshot`` per volume), tagged in the same request so the restricted policy's
``aws:RequestTag`` condition holds and nothing exists untagged even for a moment.
"""

from __future__ import annotations

from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import tags_from_list
from skyvault.services.ec2 import waiting
from skyvault.services.ec2.tagging import is_managed, tag_specifications

# Snapshot and AMI ARNs carry no account in IAM (ec2:Owner conditions scope them where needed).
SNAPSHOT_ARN = "arn:${Partition}:ec2:${Region}::snapshot/*"

CREATE_SNAPSHOTS = declare(
    policy="ec2",
    service="ec2",
    operation="CreateSnapshots",
    feature=Feature.BACKUP,
    step="snapshot instance volumes",
    purpose="Snapshot all of an instance's EBS volumes at one point in time (crash-consistent), tagged as skyvault's.",
    resources=(
        "arn:${Partition}:ec2:${Region}:${Account}:instance/*",
        "arn:${Partition}:ec2:${Region}:${Account}:volume/*",
        SNAPSHOT_ARN,
    ),
    tag_on_create=True,
)
CREATE_SNAPSHOT_TAGS = declare(
    policy="ec2",
    service="ec2",
    operation="CreateTags",
    feature=Feature.BACKUP,
    step="snapshot instance volumes",
    purpose="Tag snapshots in the CreateSnapshots request itself (EC2 authorizes tag-on-create as CreateTags).",
    resources=(SNAPSHOT_ARN,),
    conditions=(("StringEquals", "ec2:CreateAction", ("CreateSnapshots",)),),
    tags_write=True,
)
DESCRIBE_SNAPSHOTS = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeSnapshots",
    feature=Feature.BACKUP,
    step="wait for snapshots",
    purpose="Wait until the new snapshots are completed (only completed snapshots can be read or restored).",
)
DELETE_OLD_BASE = declare(
    policy="ec2",
    service="ec2",
    operation="DeleteSnapshot",
    feature=Feature.COPY,
    step="retire previous base snapshot",
    purpose="Delete the previous base snapshot of a volume once a newer one is copied (one base kept per volume).",
    resources=(SNAPSHOT_ARN,),
    destructive=True,
)


def create_instance_snapshots(
    factory: ClientFactory,
    account: str,
    region: str,
    instance_id: str,
    *,
    tags: dict[str, str],
    description: str,
) -> dict[str, str]:
    """Snapshot every EBS volume of the instance at once; returns volume ID -> snapshot ID."""
    ec2 = factory.client(account, region, "ec2")
    response = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance_id, "ExcludeBootVolume": False},
        Description=description[:255],
        TagSpecifications=tag_specifications(tags, "snapshot"),
    )
    snapshots = {str(s["VolumeId"]): str(s["SnapshotId"]) for s in response.get("Snapshots", [])}
    if not snapshots:
        raise AwsError(f"CreateSnapshots returned no snapshot for {instance_id} (no EBS volume attached?)")
    return snapshots


def describe_snapshots(
    factory: ClientFactory, account: str, region: str, snapshot_ids: list[str]
) -> list[dict[str, Any]]:
    ec2 = factory.client(account, region, "ec2")
    # Filter by ID rather than name the IDs: a deleted snapshot must read as "absent", not fail the batch.
    found: list[dict[str, Any]] = []
    for page in ec2.get_paginator("describe_snapshots").paginate(
        Filters=[{"Name": "snapshot-id", "Values": snapshot_ids}]
    ):
        found.extend(dict(snapshot) for snapshot in page.get("Snapshots", []))
    return found


def existing_snapshots(factory: ClientFactory, account: str, region: str, snapshot_ids: list[str]) -> set[str]:
    if not snapshot_ids:
        return set()
    return {
        s["SnapshotId"]
        for s in describe_snapshots(factory, account, region, snapshot_ids)
        if s.get("State") in ("pending", "completed")
    }


def wait_completed(factory: ClientFactory, account: str, region: str, snapshot_ids: list[str]) -> None:
    """Block until every snapshot is completed; a snapshot in error fails the job with its ID."""
    waiting.snapshots_completed(factory, account, region, snapshot_ids)


def delete_managed_snapshot(factory: ClientFactory, account: str, region: str, snapshot_id: str) -> bool:
    """Delete a snapshot only if it carries skyvault's tag; False if it is already gone."""
    found = describe_snapshots(factory, account, region, [snapshot_id])
    if not found:
        return False
    if not is_managed(tags_from_list(found[0].get("Tags"))):
        # Never delete what skyvault did not create, whatever the catalog says.
        return False
    ec2 = factory.client(account, region, "ec2")
    try:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    except NotFoundError:
        return False
    return True


EXPIRE_SNAPSHOT = declare(
    policy="ec2",
    service="ec2",
    operation="DeleteSnapshot",
    feature=Feature.CLEANUP,
    step="expire recovery points",
    purpose="Delete the snapshots of a recovery point past its retention (skyvault-tagged ones only).",
    resources=(SNAPSHOT_ARN,),
    destructive=True,
)
FIND_EXPIRED = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeSnapshots",
    feature=Feature.CLEANUP,
    step="expire recovery points",
    purpose="Read an expired recovery point's snapshots and their tags before deleting them.",
)


def expire_point(factory: ClientFactory, point: Any) -> int:
    """Delete an EC2 recovery point's snapshots that carry skyvault's tag (retired bases are gone already);
    returns how many were deleted. Its library copy stays until ``library prune`` finds it unreferenced."""
    owned = {str(s) for s in point.native.values() if isinstance(s, str)}
    owned.update(str(s) for s in point.captured_config.get("snapshots", {}).values())
    return sum(delete_managed_snapshot(factory, point.account, point.region, s) for s in sorted(owned))
