"""Delete what RDS/Aurora/DocumentDB backups leave behind: intermediates, shares, and expired snapshots.

Expiry deletes a snapshot only when it carries ``skyvault:managed=true`` (a snapshot someone else made, or one
whose tag was removed to keep it, is never touched), matching the restricted policy's tag condition.
"""

from __future__ import annotations

from typing import Any, Protocol

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConflictError, NotFoundError
from skyvault.permissions.registry import MANAGED_TAG
from skyvault.services.rds import snapshots
from skyvault.services.rds.snapshots import FAMILIES, Family


class IntermediateLike(Protocol):
    id: str
    resource_type: str
    account: str
    region: str


def _family_of(resource_type: str) -> Family:
    return FAMILIES[resource_type.removesuffix("-share").removesuffix("-snapshot")]


# A snapshot in any other state is still being made or copied: deleting it would cancel that work (AWS cancels a
# copy in progress when its target is deleted), so cleanup leaves it for a later run.
SETTLED = ("available", "failed", "error", "incompatible-restore", "incompatible-parameters")


def delete_intermediate_snapshot(factory: ClientFactory, item: IntermediateLike) -> None:
    """Intermediate IDs are snapshot ARNs (unique across accounts and regions). A snapshot still progressing (a job
    that gave up waiting, e.g. after a stall) is not deleted: the intermediate stays recorded for a later cleanup."""
    family = _family_of(item.resource_type)
    client = factory.client(item.account, item.region, family.service)
    snapshot_id = item.id.rsplit(":", 1)[-1]
    status = snapshots.snapshot_status(snapshots.describe(client, family, snapshot_id))
    if status.state not in SETTLED:
        done = f", {status.percent:.0f}%" if status.percent is not None else ""
        raise ConflictError(
            f"{family.noun} {snapshot_id} is still {status.state}{done}: not deleted while it progresses",
            hint="'skyvault cleanup' deletes it once it is available",
        )
    snapshots.delete(client, family, snapshot_id)


def revoke_share(factory: ClientFactory, item: IntermediateLike) -> None:
    """Intermediate ID ``<snapshot ARN>#shared-with:<account ID>``: remove that account from the snapshot."""
    family = _family_of(item.resource_type)
    arn, _, account_id = item.id.partition("#shared-with:")
    client = factory.client(item.account, item.region, family.service)
    snapshots.share(client, family, arn.rsplit(":", 1)[-1], account_id, revoke=True)


CLEANERS: dict[str, Any] = {}
for _family in FAMILIES.values():
    CLEANERS[f"{_family.kind}-snapshot"] = delete_intermediate_snapshot
    CLEANERS[f"{_family.kind}-snapshot-share"] = revoke_share


def expire_snapshot(factory: ClientFactory, family: Family, account: str, region: str, snapshot_id: str) -> bool:
    """Delete one snapshot of a recovery point if skyvault manages it; False when it is gone or not ours."""
    client = factory.client(account, region, family.service)
    try:
        found = snapshots.describe(client, family, snapshot_id)
    except NotFoundError:
        return False
    if snapshots.resource_tags(client, found, found.get(family.arn_field)).get(MANAGED_TAG) != "true":
        return False
    try:
        snapshots.delete(client, family, snapshot_id)
    except NotFoundError:
        return False
    return True


def expire_point(factory: ClientFactory, family: Family, account: str, region: str, native: dict[str, Any]) -> int:
    """Delete a recovery point's snapshot and its copies (skyvault-tagged only); returns how many went."""
    deleted = int(expire_snapshot(factory, family, account, region, native["snapshot_id"]))
    for copied in native.get("copies", []):
        deleted += expire_snapshot(factory, family, copied["account"], copied["region"], copied["snapshot_id"])
    return deleted
