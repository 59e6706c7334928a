"""Delete what EC2 jobs leave behind: intermediates at the end of a job, and orphans of crashed jobs.

Jobs record each creation in the catalog *before* it happens, under the request's ``skyvault:token`` (EC2 IDs are
known only afterwards), and record the new resource's ID as soon as the create call returns it (``recorder``). The
cleaners below find a resource by its recorded ID, else by that tag. EC2 is eventually consistent: a resource created
a moment ago may be missing from Describe answers for a few minutes, so a recorded ID that is not found yet is looked
for again (with backoff) until ``VISIBILITY_WINDOW_S`` after it was recorded: "not found" right after a create does
not mean "already gone" (a just-launched instance would otherwise keep running, unseen by the orphan scan, which
leaves ``restored`` resources alone). The orphan scan (``skyvault cleanup``)
looks at every configured account and region for resources tagged ``skyvault:managed=true`` and removes:

- ``intermediate``s (temporary snapshots, volumes, AMIs, half-launched instances) whose job holds no live lease
  (``SweepScope.live_jobs``) and that are older than ``older_than``;
- ``recovery-point``/``base`` snapshots made by a job of *this* catalog that ended without recording them (the
  job crashed between snapshot and catalog), never one a recovery point references.

A snapshot still ``pending`` is never an orphan (whatever its role): it may be a first snapshot or a copy that
runs for hours, and deleting it would cancel it; the next ``skyvault cleanup`` judges it again once it has finished.
A job's token-recorded snapshots that are still in progress stay recorded as leftovers for the same reason.

Nothing without ``skyvault:managed=true`` is ever touched (checked on the API filter *and* again on the tags read
back); ``restored`` resources belong to the user and are never candidates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, IntermediateResource, Job
from skyvault.errors import ConflictError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import MANAGED_TAG
from skyvault.services.base import tags_from_list
from skyvault.services.contract import Orphan, OrphanSweep, SweepScope
from skyvault.services.ec2.tagging import (
    JOB_TAG,
    ROLE_BASE,
    ROLE_INTERMEDIATE,
    ROLE_RECOVERY_POINT,
    ROLE_TAG,
    TOKEN_TAG,
    is_managed,
)
from skyvault.services.ec2.waiting import VISIBILITY_WINDOW_S

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import FilterTypeDef

SNAPSHOTS = "ec2-snapshots"
IMAGE = "ec2-image"
VOLUMES = "ec2-volumes"
INSTANCES = "ec2-instances"

_ARN = "arn:${Partition}:ec2:${Region}:${Account}:"
_NO_ACCOUNT_ARN = "arn:${Partition}:ec2:${Region}::"  # snapshots and AMIs: IAM's ARNs carry no account
_MANAGED_FILTER: FilterTypeDef = {"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]}


def _declare_cleanup(operation: str, purpose: str, *, resource: str = "*", destructive: bool = False) -> Any:
    return declare(
        policy="ec2",
        service="ec2",
        operation=operation,
        feature=Feature.CLEANUP,
        step="clean up intermediates",
        purpose=purpose,
        resources=(resource,),
        destructive=destructive,
    )


FIND_SNAPSHOTS = _declare_cleanup("DescribeSnapshots", "Find skyvault-tagged snapshots left by a job.")
FIND_IMAGES = _declare_cleanup("DescribeImages", "Find skyvault-tagged AMIs left by a job.")
FIND_VOLUMES = _declare_cleanup("DescribeVolumes", "Find skyvault-tagged volumes left by a job.")
FIND_INSTANCES = _declare_cleanup("DescribeInstances", "Find skyvault-tagged instances a failed restore left.")
DELETE_SNAPSHOT = _declare_cleanup(
    "DeleteSnapshot",
    "Delete skyvault's temporary or orphaned snapshots.",
    resource=_NO_ACCOUNT_ARN + "snapshot/*",
    destructive=True,
)
DEREGISTER_IMAGE = _declare_cleanup(
    "DeregisterImage",
    "Deregister skyvault's temporary restore AMIs.",
    resource=_NO_ACCOUNT_ARN + "image/*",
    destructive=True,
)
DELETE_VOLUME = _declare_cleanup(
    "DeleteVolume", "Delete volumes a failed restore created.", resource=_ARN + "volume/*", destructive=True
)
TERMINATE_INSTANCE = _declare_cleanup(
    "TerminateInstances",
    "Terminate an instance a failed restore launched (never one skyvault did not create).",
    resource=_ARN + "instance/*",
    destructive=True,
)


# -- finding by tag ---------------------------------------------------------------------------------------
def _by_tag(key: str, value: str) -> list[FilterTypeDef]:
    return [_MANAGED_FILTER, {"Name": f"tag:{key}", "Values": [value]}]


def _snapshots(factory: ClientFactory, account: str, region: str, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
    ec2 = factory.client(account, region, "ec2")
    pages = ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
    return [dict(s) for page in pages for s in page.get("Snapshots", [])]


def _images(factory: ClientFactory, account: str, region: str, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
    ec2 = factory.client(account, region, "ec2")
    return [dict(i) for i in ec2.describe_images(Owners=["self"], Filters=filters).get("Images", [])]


def _volumes(factory: ClientFactory, account: str, region: str, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
    ec2 = factory.client(account, region, "ec2")
    return [
        dict(v)
        for page in ec2.get_paginator("describe_volumes").paginate(Filters=filters)
        for v in page.get("Volumes", [])
    ]


def _instances(factory: ClientFactory, account: str, region: str, filters: list[FilterTypeDef]) -> list[dict[str, Any]]:
    ec2 = factory.client(account, region, "ec2")
    live: FilterTypeDef = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[*filters, live])
    return [dict(i) for page in pages for r in page.get("Reservations", []) for i in r.get("Instances", [])]


# -- deleting one resource (managed only) -------------------------------------------------------------------
def delete_snapshot(factory: ClientFactory, account: str, region: str, snapshot: Mapping[str, Any]) -> None:
    """Delete a managed snapshot; never one of a backup's (``base``/``recovery-point``) while EBS is still taking it:
    a first snapshot of a large volume may have run for hours, and a resumed job waits for it instead."""
    tags = tags_from_list(snapshot.get("Tags"))
    if not is_managed(tags):
        return
    if snapshot.get("State") == "pending" and tags.get(ROLE_TAG) in (ROLE_BASE, ROLE_RECOVERY_POINT):
        raise ConflictError(
            f"snapshot {snapshot['SnapshotId']} is still in progress ({snapshot.get('Progress') or '?'}): not deleted",
            hint="'skyvault jobs resume' waits for it; 'skyvault cleanup' removes it once it has finished",
        )
    factory.client(account, region, "ec2").delete_snapshot(SnapshotId=snapshot["SnapshotId"])


def deregister_image(factory: ClientFactory, account: str, region: str, image: Mapping[str, Any]) -> None:
    if is_managed(tags_from_list(image.get("Tags"))):
        factory.client(account, region, "ec2").deregister_image(ImageId=image["ImageId"])


def delete_volume(factory: ClientFactory, account: str, region: str, volume: Mapping[str, Any]) -> None:
    if is_managed(tags_from_list(volume.get("Tags"))) and volume.get("State") == "available":
        factory.client(account, region, "ec2").delete_volume(VolumeId=volume["VolumeId"])


def terminate_instance(factory: ClientFactory, account: str, region: str, instance: Mapping[str, Any]) -> None:
    if is_managed(tags_from_list(instance.get("Tags"))):
        factory.client(account, region, "ec2").terminate_instances(InstanceIds=[instance["InstanceId"]])


# -- job-end cleaners (the driver's ``cleaners``: the runner calls them when a job ends) ----------------------
Lister = Callable[[ClientFactory, str, str, "list[FilterTypeDef]"], list[dict[str, Any]]]
Remover = Callable[[ClientFactory, str, str, Mapping[str, Any]], None]
# The ID prefix and the Describe filter that names one resource, per kind of intermediate.
_ID_FILTERS = {"snapshot": ("snap-", "snapshot-id"), "image": ("ami-", "image-id"), "volume": ("vol-", "volume-id"),
               "instance": ("i-", "instance-id")}  # fmt: skip


# How long after its record a token's lookup is repeated when it finds nothing (see ``_cleaner``).
TOKEN_PATIENCE_S = 5.0


def _recorded_at(item: IntermediateResource) -> datetime:
    created = item.created_at
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _find_patiently(
    find: Callable[[], list[dict[str, Any]]], recorded_at: datetime, *, window_s: float, first_poll_s: float = 0.2
) -> list[dict[str, Any]]:
    """``find()``, polled with backoff while it finds nothing and the resource is younger than ``window_s``."""
    delay = first_poll_s
    while True:
        found = find()
        if found:
            return found
        left = window_s - (datetime.now(UTC) - recorded_at).total_seconds()
        if left <= 0:
            return []
        time.sleep(min(delay, left))
        delay = min(10.0, delay * 2)


def _cleaner(
    noun: str, find: Lister, remove: Remover, *, window_s: float = VISIBILITY_WINDOW_S
) -> Callable[[ClientFactory, IntermediateResource], None]:
    """A job-end cleaner: remove the ``noun`` whose ID was recorded (waiting while a young one is not visible yet),
    or every ``noun`` carrying the intermediate's token tag (none found is NotFoundError: never created, or gone)."""
    prefix, id_filter = _ID_FILTERS[noun]

    def clean(factory: ClientFactory, item: IntermediateResource) -> None:
        if item.id.startswith(prefix):
            by_id: list[FilterTypeDef] = [_MANAGED_FILTER, {"Name": id_filter, "Values": [item.id]}]
            found = _find_patiently(
                lambda: find(factory, item.account, item.region, by_id), _recorded_at(item), window_s=window_s
            )
            if not found:
                raise NotFoundError(f"{noun} {item.id} not found {window_s:.0f} s after it was created: already gone")
        else:
            # Recorded before a create whose ID was not recorded: it failed, or a job kept only the token (a
            # backup's snapshots). A short look again covers the usual propagation delay without making every
            # failed create wait the whole window; what is seen even later is left to the orphan scan.
            by_tag = _by_tag(TOKEN_TAG, item.id)
            found = _find_patiently(
                lambda: find(factory, item.account, item.region, by_tag),
                _recorded_at(item),
                window_s=min(window_s, TOKEN_PATIENCE_S),
            )
            if not found:
                raise NotFoundError(f"no {noun} tagged {TOKEN_TAG}={item.id}")
        # Every resource is tried: one still in progress (a backup's snapshot EBS is still taking, ConflictError)
        # must not keep the finished ones of the same token from going. The in-progress ones keep the intermediate
        # recorded, so a later cleanup retries them once they have finished.
        waiting: list[str] = []
        for resource in found:
            try:
                remove(factory, item.account, item.region, resource)
            except ConflictError as exc:
                waiting.append(exc.message)
        if waiting:
            raise ConflictError("; ".join(waiting), hint="a later 'skyvault cleanup' removes them once finished")

    return clean


CLEANERS: dict[str, Callable[[ClientFactory, IntermediateResource], None]] = {
    SNAPSHOTS: _cleaner("snapshot", _snapshots, delete_snapshot),
    IMAGE: _cleaner("image", _images, deregister_image),
    VOLUMES: _cleaner("volume", _volumes, delete_volume),
    INSTANCES: _cleaner("instance", _instances, terminate_instance),
}


class JobRecorder(Protocol):
    """The part of a job context that records intermediates (the catalog rows the cleaners above work from)."""

    def intermediate(self, resource_type: str, resource_id: str, account: str, region: str) -> None: ...

    def release(self, resource_id: str) -> None: ...


def recorder(
    job: JobRecorder, resource_type: str, token: str, account: str, region: str, *, release_token: bool = True
) -> Callable[[str], None]:
    """The callback a create call gets: it records the new resource's ID as the job's intermediate at once, so
    cleanup finds it by ID even while Describe does not show it yet. ``release_token``: the token's row is no
    longer needed (one resource per token); keep it while the same token still covers more creates."""

    def record(resource_id: str) -> None:
        job.intermediate(resource_type, resource_id, account, region)
        if release_token:
            job.release(token)

    return record


# -- orphan sweep (``skyvault cleanup``) -------------------------------------------------------------------
def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _referenced_snapshots(catalog: Catalog) -> set[str]:
    ids: set[str] = set()
    for point in catalog.recovery_points(kind="ec2", status=None):
        ids.update(str(v) for v in point.native.values() if isinstance(v, str))
        ids.update(str(v) for v in point.captured_config.get("snapshots", {}).values())
    return ids


def _judge(
    tags: dict[str, str],
    created: datetime | None,
    *,
    is_snapshot: bool,
    snapshot_id: str | None,
    jobs: dict[str, Job],
    referenced: set[str],
    scope: SweepScope,
) -> str | None:
    """Why this resource is an orphan, or None when it must stay."""
    if not is_managed(tags):
        return None
    if created is None or scope.now - created < scope.older_than:
        return None
    role = tags.get(ROLE_TAG)
    job_id = tags.get(JOB_TAG)
    job = jobs.get(job_id) if job_id else None
    if job_id in scope.live_jobs:
        return None  # its job holds a live lease: still working with it
    if role == ROLE_INTERMEDIATE:
        state = job.status if job else "unknown to this catalog"
        return f"intermediate of job {job_id} ({state})"
    if is_snapshot and role in (ROLE_RECOVERY_POINT, ROLE_BASE) and job is not None and snapshot_id not in referenced:
        return f"snapshot of job {job_id} ({job.status}) that no recovery point references"
    return None


def find_orphans(
    factory: ClientFactory, catalog: Catalog, targets: Sequence[tuple[str, str]], scope: SweepScope
) -> list[Orphan]:
    """Orphans in the targets, in removal order (``removal_order``)."""
    jobs = {job.id: job for job in catalog.jobs()}
    referenced = _referenced_snapshots(catalog)
    orphans: list[Orphan] = []
    filters = [_MANAGED_FILTER]
    for account, region in targets:
        scans: list[tuple[str, str, str, list[dict[str, Any]]]] = [
            ("snapshot", "SnapshotId", "StartTime", _snapshots(factory, account, region, filters)),
            ("image", "ImageId", "CreationDate", _images(factory, account, region, filters)),
            ("volume", "VolumeId", "CreateTime", _volumes(factory, account, region, filters)),
            ("instance", "InstanceId", "LaunchTime", _instances(factory, account, region, filters)),
        ]
        for kind, id_key, time_key, items in scans:
            for item in items:
                tags = tags_from_list(item.get("Tags"))
                created = _when(item.get(time_key))
                reason = _judge(
                    tags,
                    created,
                    is_snapshot=kind == "snapshot",
                    snapshot_id=item.get(id_key),
                    jobs=jobs,
                    referenced=referenced,
                    scope=scope,
                )
                if kind == "volume" and item.get("State") != "available":
                    reason = None  # attached: in use by an instance, not an orphan whatever its tags
                if kind == "snapshot" and item.get("State") == "pending":
                    # Still in progress: a first snapshot of a large volume or a cross-region copy may run for
                    # hours, and deleting it would cancel it. Not an orphan yet: a later cleanup judges it again.
                    reason = None
                if reason:
                    orphans.append(
                        Orphan(
                            account,
                            region,
                            kind,
                            str(item[id_key]),
                            tags.get(JOB_TAG),
                            tags.get(ROLE_TAG),
                            created,
                            reason,
                            item,
                        )
                    )
    return removal_order(orphans)


def remove_orphan(factory: ClientFactory, orphan: Orphan) -> None:
    delete = {
        "snapshot": delete_snapshot,
        "image": deregister_image,
        "volume": delete_volume,
        "instance": terminate_instance,
    }[orphan.resource_type]
    delete(factory, orphan.account, orphan.region, orphan.raw)


def removal_order(orphans: list[Orphan]) -> list[Orphan]:
    """Instances, then AMIs (which pin their snapshots), then volumes and snapshots."""
    rank = {"instance": 0, "image": 1, "volume": 2, "snapshot": 3}
    return sorted(orphans, key=lambda o: rank[o.resource_type])


SWEEP = OrphanSweep(find=find_orphans, remove=remove_orphan)
