"""Back up an RDS instance, an Aurora cluster or a DocumentDB cluster, with optional extra copies.

Steps (each a job step, so a resumed job does not repeat one that finished):
1. capture the configuration needed to rebuild the source;
2. create a manual snapshot tagged ``skyvault:managed`` + job + source + recovery point, with the source's tags;
3. wait until it is available;
4. ``--copy-to-region``: copy it to the region, encrypted with skyvault's key there when the source is encrypted;
   a DB instance's option group is mapped to one in that region first (``option_groups``), before the snapshot;
5. ``--copy-to-account`` (the vault): share it with the vault account and copy it there, so it survives the
   source account. Encrypted snapshots are first re-encrypted with skyvault's shareable key (an AWS-managed key
   cannot be shared) into an intermediate copy; the intermediate and the share are always removed at the end of
   the job, on failure too (they are recorded as intermediates before they exist).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConflictError
from skyvault.permissions.registry import MANAGED_TAG, TAG_PREFIX
from skyvault.services.base import partition_for
from skyvault.services.rds import identifiers, kms_keys, option_groups, snapshots
from skyvault.services.rds.config_capture import capture
from skyvault.services.rds.snapshots import Family
from skyvault.services.rds.waiting import WaitPolicy

T = TypeVar("T")
MAX_TAGS = 50  # RDS and Redshift allow 50 tags per resource
# The most tags a copy adds to a snapshot's own (copy-of + source-account, or intermediate): the source's tags
# leave room for them, or the copy fails with a tag-limit error.
COPY_TAG_ROOM = 2


class JobLike(Protocol):
    """What database steps need from a job context (``skyvault.jobs.context.JobContext`` provides it)."""

    job_id: str

    def step(self, name: str, fn: Callable[[], T]) -> T: ...

    def intermediate(self, resource_type: str, resource_id: str, account: str, region: str) -> None: ...

    def release(self, resource_id: str) -> None: ...

    def progress(self, message: str, done: float | None = None, total: float | None = None) -> None: ...


@dataclass(frozen=True)
class CopyOptions:
    to_region: str | None = None
    to_account: str | None = None  # a configured account name: the vault (admin) account
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    # Redshift vault copies restore a temporary cluster in the vault: in this cluster subnet group there, rather than
    # the vault region's default VPC (which many accounts do not have).
    vault_subnet_group: str | None = None
    # --copy-to-region of a DB instance: source option group name -> the group to name in the destination region.
    option_groups: dict[str, str] = field(default_factory=dict)


@dataclass
class BackupResult:
    native: dict[str, Any]
    captured: dict[str, Any]
    stats: dict[str, Any]


def snapshot_name(source_id: str, point_id: str, max_length: int = identifiers.DB_SNAPSHOT_MAX) -> str:
    """A valid, unique snapshot identifier (``skyvault-<source>-<point>``) within the family's limit: 255 for DB
    and Redshift snapshots, 63 for cluster snapshots (``identifiers.CLUSTER_SNAPSHOT_MAX``)."""
    return identifiers.snapshot_name(snapshots.NAME_PREFIX, source_id, point_id, max_length)


def snapshot_limit(family: Family) -> int:
    return identifiers.CLUSTER_SNAPSHOT_MAX if family.cluster else identifiers.DB_SNAPSHOT_MAX


def snapshot_tags(source_tags: dict[str, str], job_id: str, source: str, point_id: str) -> dict[str, str]:
    ours = {
        MANAGED_TAG: "true",
        f"{TAG_PREFIX}job": job_id,
        f"{TAG_PREFIX}source": source[:256],
        f"{TAG_PREFIX}recovery-point": point_id,
    }
    # The source's own tags travel with the snapshot (AWS system tags and skyvault's own keys excepted), as many
    # as leave room for skyvault's tags on the snapshot and on its copies.
    theirs = user_tags(source_tags)
    return {**dict(list(theirs.items())[: MAX_TAGS - len(ours) - COPY_TAG_ROOM]), **ours}


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """A resource's own tags: not AWS's (``aws:*``) and not skyvault's (``skyvault:*``)."""
    return {k: v for k, v in tags.items() if not k.startswith(("aws:", TAG_PREFIX))}


def dropped_tags_warning(source_tags: dict[str, str], kept: dict[str, str], where: str) -> list[str]:
    """The warning (empty when none) naming the source's tags that did not fit within AWS's 50 per resource."""
    dropped = [k for k in user_tags(source_tags) if k not in kept]
    if not dropped:
        return []
    return [
        f"{len(dropped)} of the source's tags were not copied to {where} (AWS allows {MAX_TAGS} tags per resource "
        f"and skyvault needs room for its own): {', '.join(dropped)}"
    ]


def snapshot_arn(family: Family, region: str, account_id: str, snapshot_id: str) -> str:
    kind = "cluster-snapshot" if family.cluster else "snapshot"
    return f"arn:{partition_for(region)}:rds:{region}:{account_id}:{kind}:{snapshot_id}"


def intermediate_type(family: Family) -> str:
    return f"{family.kind}-snapshot"


def share_type(family: Family) -> str:
    return f"{family.kind}-snapshot-share"


def backup(
    job: JobLike,
    factory: ClientFactory,
    family: Family,
    *,
    account: str,
    region: str,
    source_id: str,
    point_id: str,
    options: CopyOptions,
) -> BackupResult:
    client = factory.client(account, region, family.service)
    captured = job.step(f"{source_id}: capture configuration", lambda: capture(client, family, source_id))
    snapshot_id = snapshot_name(source_id, point_id, snapshot_limit(family))
    tags = snapshot_tags(captured.get("tags", {}), job.job_id, str(captured.get("arn") or source_id), point_id)
    warnings = dropped_tags_warning(captured.get("tags", {}), tags, "its snapshots")
    for warning in warnings:
        job.progress(f"warning: {warning}")

    mapped: dict[str, Any] | None = None
    if options.to_region and not family.cluster and options.to_region != region:
        # Before any snapshot: a copy that AWS would refuse for its option group (TDE) changes nothing.
        to_region = options.to_region
        mapped = job.step(
            f"{source_id}: map option group to {to_region}",
            lambda: _map_option_group(job, factory, account, region, to_region, captured, options.option_groups),
        )

    def create() -> dict[str, Any]:
        job.progress(f"creating snapshot {snapshot_id} of {source_id}")
        made = snapshots.create(client, family, source_id, snapshot_id, tags)
        return {"snapshot_id": snapshot_id, "snapshot_arn": made.get(family.arn_field)}

    job.step(f"{source_id}: create snapshot", create)
    snap = job.step(
        f"{source_id}: wait for snapshot",
        lambda: _summary(
            family,
            snapshots.wait_available(client, family, snapshot_id, policy=options.wait, progress=job.progress),
        ),
    )
    native: dict[str, Any] = {
        "family": family.kind,
        "snapshot_id": snapshot_id,
        "snapshot_arn": snap["arn"],
        "snapshot_type": family.noun,
        "encrypted": snap["encrypted"],
        "kms_key_id": snap["kms_key_id"],
        "copies": [],
    }
    if options.to_region:
        to_region, target_group = options.to_region, (mapped or {}).get("target")

        def region_copy() -> dict[str, Any]:
            return copy_to_region(job, factory, family, account, region, to_region, snap, tags, options.wait,
                                  option_group=target_group)  # fmt: skip

        native["copies"].append(job.step(f"{source_id}: copy to {to_region}", region_copy))
    if options.to_account:
        vault = options.to_account
        native["copies"].append(
            job.step(
                f"{source_id}: copy to account {vault}",
                lambda: copy_to_account(job, factory, family, account, vault, region, snap, tags, options.wait),
            )
        )
    stats = {
        "snapshots": 1 + len(native["copies"]),
        "copies": len(native["copies"]),
        "allocated_gib": snap.get("allocated_gib"),
        "encrypted": snap["encrypted"],
    }
    if mapped and mapped.get("left_out"):
        warnings = [*warnings, f"options not copied to {mapped['target']}: {', '.join(mapped['left_out'])}"]
    if warnings:
        stats["warnings"] = warnings
    return BackupResult(native=native, captured=captured, stats=stats)


def _map_option_group(
    job: JobLike,
    factory: ClientFactory,
    account: str,
    region: str,
    to_region: str,
    captured: dict[str, Any],
    explicit: dict[str, str],
) -> dict[str, Any]:
    source = snapshots.instance_api(factory.client(account, region, "rds"))
    destination = snapshots.instance_api(factory.client(account, to_region, "rds"))
    mapping = option_groups.map_group(source, destination, captured.get("option_group"), explicit)
    if mapping.target:
        job.progress(f"option group {mapping.source} maps to {mapping.target} in {to_region} ({mapping.how})")
    return mapping.as_dict()


def _summary(family: Family, snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": snapshot[family.id_param],
        "arn": snapshot.get(family.arn_field),
        "encrypted": snapshots.is_encrypted(snapshot, family),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "allocated_gib": snapshot.get("AllocatedStorage"),
        "status": snapshot.get("Status"),
    }


def copy_to_region(
    job: JobLike,
    factory: ClientFactory,
    family: Family,
    account: str,
    region: str,
    to_region: str,
    snap: dict[str, Any],
    tags: dict[str, str],
    wait: WaitPolicy,
    *,
    option_group: str | None = None,
) -> dict[str, Any]:
    if to_region == region:
        raise ConflictError(f"--copy-to-region {to_region} is the snapshot's own region")
    destination = factory.client(account, to_region, family.service)
    key = None
    if snap["encrypted"]:
        key = kms_keys.ensure_key(factory.client(account, to_region, "kms"), factory.account_id(account))
    job.progress(f"copying {snap['id']} to {to_region}")
    copied = snapshots.copy(
        destination, family, snap["arn"], snap["id"], {**tags, f"{TAG_PREFIX}copy-of": snap["arn"]},
        kms_key_id=key, source_region=region, option_group=option_group,
    )  # fmt: skip
    done = snapshots.wait_available(destination, family, snap["id"], policy=wait, progress=job.progress)
    made = {
        "kind": "region",
        "account": account,
        "region": to_region,
        "snapshot_id": snap["id"],
        "snapshot_arn": copied.get(family.arn_field) or done.get(family.arn_field),
        "kms_key_id": done.get("KmsKeyId"),
    }
    if option_group:
        made["option_group"] = option_group  # a restore from this copy names it
    return made


def copy_to_account(
    job: JobLike,
    factory: ClientFactory,
    family: Family,
    account: str,
    vault: str,
    region: str,
    snap: dict[str, Any],
    tags: dict[str, str],
    wait: WaitPolicy,
) -> dict[str, Any]:
    source = factory.client(account, region, family.service)
    vault_client = factory.client(vault, region, family.service)
    source_id, vault_id = factory.account_id(account), factory.account_id(vault)
    if source_id == vault_id:
        raise ConflictError(f"--copy-to-account {vault} is the source account itself")
    shared_id, shared_arn = snap["id"], snap["arn"]
    vault_key = None
    if snap["encrypted"]:
        share_key = kms_keys.ensure_key(factory.client(account, region, "kms"), source_id, [vault_id])
        if snap["kms_key_id"] != share_key:
            # Re-encrypt with skyvault's shareable key into an intermediate copy (deleted when the job ends).
            shared_id = identifiers.share_name(snap["id"])
            shared_arn = snapshot_arn(family, region, source_id, shared_id)
            job.intermediate(intermediate_type(family), shared_arn, account, region)
            job.progress(f"re-encrypting {snap['id']} with skyvault's shareable key")
            snapshots.copy(source, family, snap["id"], shared_id, {**tags, f"{TAG_PREFIX}intermediate": "true"},
                           kms_key_id=share_key)  # fmt: skip
            snapshots.wait_available(source, family, shared_id, policy=wait, progress=job.progress)
        vault_key = kms_keys.ensure_key(factory.client(vault, region, "kms"), vault_id)
    job.intermediate(share_type(family), f"{shared_arn}#shared-with:{vault_id}", account, region)
    job.progress(f"sharing {shared_id} with the vault account {vault} ({vault_id})")
    snapshots.share(source, family, shared_id, vault_id)
    job.progress(f"copying the shared snapshot into {vault}")
    snapshots.copy(
        vault_client, family, shared_arn, snap["id"],
        {**tags, f"{TAG_PREFIX}copy-of": snap["arn"], f"{TAG_PREFIX}source-account": source_id},
        kms_key_id=vault_key,
    )  # fmt: skip
    done = snapshots.wait_available(vault_client, family, snap["id"], policy=wait, progress=job.progress)
    return {
        "kind": "account",
        "account": vault,
        "account_id": vault_id,
        "region": region,
        "snapshot_id": snap["id"],
        "snapshot_arn": done.get(family.arn_field) or snapshot_arn(family, region, vault_id, snap["id"]),
        "kms_key_id": done.get("KmsKeyId"),
    }
