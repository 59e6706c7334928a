"""Restore an RDS instance, an Aurora cluster or a DocumentDB cluster from a skyvault snapshot.

Target ``new``: a new instance/cluster named ``--name`` (default ``<source>-restored-<suffix>``). Aurora and
DocumentDB restore the cluster first, then add the captured member instances, writer first. The captured
configuration (instance class, subnet group, security groups, parameter/option groups, port, Multi-AZ, IAM auth,
tags) is applied; networking and groups are applied only in the source account and region (they do not exist
elsewhere) unless given as options, and what was left out is reported.

Target ``original`` (only with confirmation): rename-swap. The original is renamed to ``<id>-pre-restore-
<suffix>`` and kept (never deleted by skyvault), then the snapshot is restored under the original identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Required, TypedDict

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConfirmationRequiredError, ConflictError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import ALLOW_COPY_SETTING_TAG, ALLOW_OVERWRITE_TAG, MANAGED_TAG, TAG_PREFIX
from skyvault.services.rds import identifiers, rename, storage
from skyvault.services.rds.backup import MAX_TAGS, JobLike, dropped_tags_warning
from skyvault.services.rds.config_capture import describe_cluster, describe_instance
from skyvault.services.rds.snapshots import Family, instance_api, is_rds, tag_list
from skyvault.services.rds.waiting import Status, WaitPolicy, wait_for

if TYPE_CHECKING:
    from types_boto3_docdb.type_defs import CreateDBInstanceMessageTypeDef
    from types_boto3_rds.type_defs import (
        RestoreDBInstanceFromDBSnapshotMessageTypeDef,
        ServerlessV2ScalingConfigurationTypeDef,
        TagTypeDef,
    )

    from skyvault.services.rds.snapshots import DatabaseClient

_DB = "arn:${Partition}:rds:${Region}:${Account}:db:*"
_CLUSTER = "arn:${Partition}:rds:${Region}:${Account}:cluster:*"
_SNAP = "arn:${Partition}:rds:${Region}:${Account}:snapshot:*"
_CSNAP = "arn:${Partition}:rds:${Region}:${Account}:cluster-snapshot:*"
_GROUPS = (
    "arn:${Partition}:rds:${Region}:${Account}:subgrp:*",
    "arn:${Partition}:rds:${Region}:${Account}:pg:*",
    "arn:${Partition}:rds:${Region}:${Account}:og:*",
)
_KMS_USE = ("kms:CreateGrant", "kms:DescribeKey")
_KMS_KEYS = "arn:${Partition}:kms:${Region}:*:key/*"
_CLUSTER_PG = "arn:${Partition}:rds:${Region}:${Account}:cluster-pg:*"

declare(
    policy="rds",
    service="rds",
    operation="RestoreDBInstanceFromDBSnapshot",
    feature=Feature.RESTORE,
    step="restore instance",
    purpose="Create a new DB instance from a skyvault snapshot with the captured configuration and tags.",
    actions=("rds:RestoreDBInstanceFromDBSnapshot", "rds:AddTagsToResource", *_KMS_USE),
    resources=(_DB, _SNAP, *_GROUPS, _KMS_KEYS),
)
for _policy, _service in (("rds", "rds"), ("docdb", "docdb")):
    declare(
        policy=_policy,
        service=_service,
        operation="RestoreDBClusterFromSnapshot",
        feature=Feature.RESTORE,
        step="restore cluster",
        purpose="Create a new cluster from a skyvault cluster snapshot with the captured configuration and tags.",
        actions=("rds:RestoreDBClusterFromSnapshot", "rds:AddTagsToResource", *_KMS_USE),
        resources=(_CLUSTER, _CSNAP, *_GROUPS, _CLUSTER_PG, _KMS_KEYS),
    )
    declare(
        policy=_policy,
        service=_service,
        operation="CreateDBInstance",
        feature=Feature.RESTORE,
        step="add cluster instances",
        purpose="Add the captured member instances (writer first) to the restored cluster.",
        actions=("rds:CreateDBInstance", "rds:AddTagsToResource"),
        resources=(_DB, _CLUSTER, *_GROUPS),
    )
    declare(
        policy=_policy,
        service=_service,
        operation="ModifyDBCluster",
        feature=Feature.RESTORE_OVERWRITE,
        step="rename original",
        purpose="Rename the original cluster aside (kept, not deleted) before restoring under its identifier.",
        resources=(_CLUSTER,),
        destructive=True,
    )
declare(
    policy="rds",
    service="rds",
    operation="ModifyDBInstance",
    feature=Feature.RESTORE_OVERWRITE,
    step="rename original",
    purpose="Rename the original instance aside (kept, not deleted) before restoring under its identifier.",
    resources=(_DB,),
    destructive=True,
)


def _exists(fn: Any, client: DatabaseClient, identifier: str) -> bool:
    try:
        fn(client, identifier)
    except NotFoundError:
        return False
    return True


def _instance_status(client: DatabaseClient, identifier: str) -> Status:
    return Status(str(describe_instance(client, identifier).get("DBInstanceStatus", "unknown")))


def _cluster_status(client: DatabaseClient, identifier: str) -> Status:
    return Status(str(describe_cluster(client, identifier).get("Status", "unknown")))


def restored_tags(captured: dict[str, str], point_id: str) -> dict[str, str]:
    """The tags a restored resource gets: the source's, less AWS's own and skyvault's control tags.

    ``skyvault:managed`` would let cleanup delete a restore the user owns; ``skyvault:allow-overwrite`` is the
    owner's decision about the original, not about its copy (so is ``skyvault:allow-copy-setting``). The
    restricted policy refuses to write any of them on a resource named by the user (RDS and Redshift cannot bind
    a tag write to the creating call).
    """
    control = (MANAGED_TAG, ALLOW_OVERWRITE_TAG, ALLOW_COPY_SETTING_TAG)
    tags = {k: v for k, v in captured.items() if not k.startswith("aws:") and k not in control}
    # At most 50 tags per resource, skyvault's restored-from included (which tags did not fit: dropped_tags_warning).
    tags = dict(list(tags.items())[: MAX_TAGS - 1])
    tags[f"{TAG_PREFIX}restored-from"] = point_id
    return tags


def choose_snapshot(point: Any, account: str | None, region: str | None) -> dict[str, Any]:
    """The snapshot to restore from: the original, or the copy in ``--account`` / ``--region``."""
    native = point.native
    if not account and not region:
        return {"account": point.account, "region": point.region, "snapshot": native["snapshot_id"]}
    for copied in native.get("copies", []):
        if (not account or copied["account"] == account) and (not region or copied["region"] == region):
            return {"account": copied["account"], "region": copied["region"], "snapshot": copied["snapshot_id"],
                    "option_group": copied.get("option_group")}  # fmt: skip
    if (not account or account == point.account) and (not region or region == point.region):
        return {"account": point.account, "region": point.region, "snapshot": native["snapshot_id"]}
    raise NotFoundError(
        f"recovery point {point.id} has no copy in account {account or point.account!r}, "
        f"region {region or point.region}",
        hint="'skyvault backups show' lists the copies",
    )


def restore(
    job: JobLike,
    factory: ClientFactory,
    family: Family,
    point: Any,
    *,
    target: str,
    confirmed: bool,
    name: str | None,
    account: str | None,
    region: str | None,
    options: dict[str, Any],
    wait: WaitPolicy,
) -> dict[str, Any]:
    captured = point.captured_config
    where = choose_snapshot(point, account, region)
    client = factory.client(where["account"], where["region"], family.service)
    at_source = where["account"] == point.account and where["region"] == point.region
    suffix = point.id.rsplit("-", 1)[-1][-8:]
    describe = describe_cluster if family.cluster else describe_instance
    result: dict[str, Any] = {"recovery_point": point.id, "account": where["account"], "region": where["region"]}

    aside: str | None = None
    if target == "original":
        if not confirmed:
            raise ConfirmationRequiredError(
                "restoring over the original needs explicit confirmation; nothing was changed", hint="add --yes"
            )
        if not at_source:
            raise ConflictError("--target original restores in the source account and region only")
        new_id = captured["identifier"]
        if _exists(describe, client, new_id):
            aside = identifiers.derived(new_id, f"pre-restore-{suffix}")
            renamed_to = aside
            job.step(
                f"{new_id}: rename original",
                lambda: rename.rename(_renamer(client, family), _finder(client, family), new_id, renamed_to,
                                      what=_noun(family), policy=wait, progress=job.progress),
            )  # fmt: skip
            result["original_renamed_to"] = aside
    else:
        new_id = name or identifiers.derived(captured["identifier"], f"restored-{suffix}")
        if _exists(describe, client, new_id):
            raise ConflictError(f"{new_id} already exists in account {where['account']!r}, {where['region']}",
                                hint="choose another --name")  # fmt: skip

    tags = restored_tags(captured.get("tags", {}), point.id)
    warnings = dropped_tags_warning(captured.get("tags", {}), tags, f"the restored {_noun(family)}")
    dropped: list[str] = []
    for_instance = {"copy_option_group": where.get("option_group"), **options}

    def restore_it() -> dict[str, Any]:
        if family.cluster:
            return _restore_cluster(job, client, family, captured, where["snapshot"], new_id, tags, at_source,
                                    options, dropped, wait)  # fmt: skip
        return _restore_instance(job, client, captured, where["snapshot"], new_id, tags, at_source, for_instance,
                                 dropped, wait)  # fmt: skip

    if aside is None:
        result.update(restore_it())
    else:
        result.update(rename.swap(restore_it, rename_to=_renamer(client, family), find=_finder(client, family),
                                  original=new_id, aside=aside, what=_noun(family), policy=wait,
                                  progress=job.progress))  # fmt: skip
    if dropped:
        result["not_applied"] = dropped
    if warnings:
        result["warnings"] = warnings
    return result


def _noun(family: Family) -> str:
    return "cluster" if family.cluster else "instance"


def _renamer(client: DatabaseClient, family: Family) -> rename.Renamer:
    def rename_to(current: str, new: str) -> None:
        if family.cluster:
            client.modify_db_cluster(DBClusterIdentifier=current, NewDBClusterIdentifier=new, ApplyImmediately=True)
        else:
            client.modify_db_instance(DBInstanceIdentifier=current, NewDBInstanceIdentifier=new, ApplyImmediately=True)

    return rename_to


def _finder(client: DatabaseClient, family: Family) -> rename.Finder:
    status = _cluster_status if family.cluster else _instance_status

    def find(identifier: str) -> str | None:
        try:
            return status(client, identifier).state
        except NotFoundError:
            return None

    return find


class _ClusterRestore(TypedDict, total=False):
    """What a cluster restore sends to RDS and DocumentDB alike: a call with it is checked against both APIs."""

    DBClusterIdentifier: Required[str]
    SnapshotIdentifier: Required[str]
    Engine: Required[str]
    Tags: list[TagTypeDef]
    DBSubnetGroupName: str
    VpcSecurityGroupIds: list[str]
    EngineVersion: str
    Port: int
    DeletionProtection: bool
    CopyTagsToSnapshot: bool
    DBClusterParameterGroupName: str


class _RdsClusterRestore(TypedDict, total=False):
    """What a cluster restore sends to RDS only (Aurora and Multi-AZ DB clusters)."""

    EnableIAMDatabaseAuthentication: bool
    EngineMode: str
    ServerlessV2ScalingConfiguration: ServerlessV2ScalingConfigurationTypeDef
    DBClusterInstanceClass: str
    StorageType: str
    Iops: int


def _placement(
    captured: dict[str, Any], at_source: bool, options: dict[str, Any], dropped: list[str]
) -> tuple[str | None, list[str]]:
    """Networking: the subnet group and security groups. Options win; the captured ones only where they exist
    (the source account/region)."""
    subnet_group = options.get("subnet_group") or (captured.get("subnet_group") if at_source else None)
    security_groups = list(captured.get("security_groups") or []) if at_source else []
    if not at_source:
        dropped += [
            k for k in ("subnet_group", "security_groups", "parameter_group", "option_group") if captured.get(k)
        ]
    return subnet_group, security_groups


def _restore_instance(
    job: JobLike,
    client: DatabaseClient,
    captured: dict[str, Any],
    snapshot: str,
    new_id: str,
    tags: dict[str, str],
    at_source: bool,
    options: dict[str, Any],
    dropped: list[str],
    wait: WaitPolicy,
) -> dict[str, Any]:
    params: RestoreDBInstanceFromDBSnapshotMessageTypeDef = {
        "DBInstanceIdentifier": new_id,
        "DBSnapshotIdentifier": snapshot,
        "MultiAZ": captured.get("multi_az", False),
        "PubliclyAccessible": captured.get("publicly_accessible", False),
        "CopyTagsToSnapshot": captured.get("copy_tags_to_snapshot", False),
        "EnableIAMDatabaseAuthentication": captured.get("iam_auth", False),
        "DeletionProtection": captured.get("deletion_protection", False),
        "Tags": tag_list(tags),
    }
    subnet_group, security_groups = _placement(captured, at_source, options, dropped)
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    if security_groups:
        params["VpcSecurityGroupIds"] = security_groups
    if captured.get("instance_class") or options.get("instance_class"):
        params["DBInstanceClass"] = options.get("instance_class") or captured["instance_class"]
    if captured.get("port"):
        params["Port"] = captured["port"]
    settings = storage.restorable(captured)  # only what AWS accepts back (gp3 below 400 GiB: no IOPS/throughput)
    if "StorageType" in settings:
        params["StorageType"] = settings["StorageType"]
    if "Iops" in settings:
        params["Iops"] = settings["Iops"]
    if "StorageThroughput" in settings:
        params["StorageThroughput"] = settings["StorageThroughput"]
    if at_source:
        if captured.get("parameter_group") and not str(captured["parameter_group"]).startswith("default"):
            params["DBParameterGroupName"] = captured["parameter_group"]
        if captured.get("option_group") and not str(captured["option_group"]).startswith("default"):
            params["OptionGroupName"] = captured["option_group"]
    elif options.get("copy_option_group"):
        # A cross-region copy names the option group skyvault mapped there (services/rds/option_groups.py).
        params["OptionGroupName"] = options["copy_option_group"]
        if "option_group" in dropped:
            dropped.remove("option_group")
    rds = instance_api(client)
    job.step(f"{new_id}: restore instance", lambda: bool(rds.restore_db_instance_from_db_snapshot(**params)))
    job.progress(f"waiting for instance {new_id}")
    wait_for(lambda: _instance_status(client, new_id), what=f"instance {new_id}", policy=wait, progress=job.progress)
    db = describe_instance(client, new_id)
    endpoint = db.get("Endpoint") or {}
    return {
        "kind": "rds",
        "identifier": new_id,
        "arn": db.get("DBInstanceArn"),
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "status": db.get("DBInstanceStatus"),
    }


def _creator(client: DatabaseClient, params: CreateDBInstanceMessageTypeDef) -> Callable[[], bool]:
    return lambda: bool(client.create_db_instance(**params))


def _instance_poller(client: DatabaseClient, identifier: str) -> Callable[[], Status]:
    return lambda: _instance_status(client, identifier)


def _member_names(client: DatabaseClient, cluster_id: str) -> Iterator[str]:
    """``<cluster>-1``, ``<cluster>-2``... skipping names in use: after a rename-swap the original's members (often
    named the same way) still exist beside the restore."""
    index = 0
    while True:
        index += 1
        candidate = identifiers.build(cluster_id, str(index), identifiers.IDENTIFIER_MAX)
        if not _exists(describe_instance, client, candidate):
            yield candidate


def _restore_cluster(
    job: JobLike,
    client: DatabaseClient,
    family: Family,
    captured: dict[str, Any],
    snapshot: str,
    new_id: str,
    tags: dict[str, str],
    at_source: bool,
    options: dict[str, Any],
    dropped: list[str],
    wait: WaitPolicy,
) -> dict[str, Any]:
    params: _ClusterRestore = {
        "DBClusterIdentifier": new_id,
        "SnapshotIdentifier": snapshot,
        "Engine": captured["engine"],
        "Tags": tag_list(tags),
    }
    subnet_group, security_groups = _placement(captured, at_source, options, dropped)
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    if security_groups:
        params["VpcSecurityGroupIds"] = security_groups
    if captured.get("engine_version"):
        params["EngineVersion"] = captured["engine_version"]
    if captured.get("port"):
        params["Port"] = captured["port"]
    params["DeletionProtection"] = bool(captured.get("deletion_protection"))
    params["CopyTagsToSnapshot"] = bool(captured.get("copy_tags_to_snapshot"))
    if at_source and captured.get("parameter_group") and not str(captured["parameter_group"]).startswith("default"):
        params["DBClusterParameterGroupName"] = captured["parameter_group"]
    multi_az_cluster = family.kind == "rds-cluster"
    if is_rds(client):
        rds = client
        extras: _RdsClusterRestore = {}
        if captured.get("iam_auth"):
            extras["EnableIAMDatabaseAuthentication"] = True
        if captured.get("engine_mode") and captured["engine_mode"] != "provisioned":
            extras["EngineMode"] = captured["engine_mode"]
        if captured.get("serverless_v2_scaling"):
            extras["ServerlessV2ScalingConfiguration"] = captured["serverless_v2_scaling"]
        if multi_az_cluster:
            if options.get("instance_class") or captured.get("cluster_instance_class"):
                extras["DBClusterInstanceClass"] = options.get("instance_class") or captured["cluster_instance_class"]
            settings = storage.restorable(captured)
            if "StorageType" in settings:
                extras["StorageType"] = settings["StorageType"]
            if "Iops" in settings:
                extras["Iops"] = settings["Iops"]
        job.step(f"{new_id}: restore cluster", lambda: bool(rds.restore_db_cluster_from_snapshot(**params, **extras)))
    else:
        docdb = client
        job.step(f"{new_id}: restore cluster", lambda: bool(docdb.restore_db_cluster_from_snapshot(**params)))
    wait_for(lambda: _cluster_status(client, new_id), what=f"cluster {new_id}", policy=wait, progress=job.progress)
    # Multi-AZ DB clusters get their instances from AWS; Aurora and DocumentDB need them added, writer first.
    members = [] if multi_az_cluster else captured.get("members") or [{"instance_class": None, "writer": True}]
    instances = []
    names = _member_names(client, new_id)
    for member in members:
        instance_id = next(names)
        instance_class = options.get("instance_class") or member.get("instance_class") or "db.r5.large"
        instance_params: CreateDBInstanceMessageTypeDef = {
            "DBInstanceIdentifier": instance_id,
            "DBInstanceClass": instance_class,
            "Engine": captured["engine"],
            "DBClusterIdentifier": new_id,
            "Tags": tag_list(tags),
        }
        if member.get("promotion_tier") is not None:
            instance_params["PromotionTier"] = member["promotion_tier"]
        job.step(f"{new_id}: add instance {instance_id}", _creator(client, instance_params))
        instances.append(instance_id)
    for instance_id in instances:
        wait_for(_instance_poller(client, instance_id), what=f"instance {instance_id}", policy=wait,
                 progress=job.progress)  # fmt: skip
    cluster = describe_cluster(client, new_id)
    return {
        "kind": family.kind,
        "identifier": new_id,
        "arn": cluster.get("DBClusterArn"),
        "endpoint": cluster.get("Endpoint"),
        "reader_endpoint": cluster.get("ReaderEndpoint"),
        "port": cluster.get("Port"),
        "instances": instances,
        "status": cluster.get("Status"),
    }
