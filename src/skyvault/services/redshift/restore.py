"""Restore a Redshift cluster from a skyvault snapshot (the original, a cross-region copy, or the vault's copy).

The captured node type and node count, port, networking, parameter group, IAM roles and enhanced VPC routing are
applied (networking, groups and roles only in the source account and region, where they exist, unless given as
options); ``RestoreFromClusterSnapshot`` takes no tags, so the source's tags are applied right after.
``--target original`` (confirmed) renames the original aside (kept) and restores under its identifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConfirmationRequiredError, ConflictError, NotFoundError
from skyvault.services.base import partition_for
from skyvault.services.rds import identifiers, rename
from skyvault.services.rds.backup import JobLike, dropped_tags_warning
from skyvault.services.rds.restore import choose_snapshot, restored_tags
from skyvault.services.rds.waiting import WaitPolicy
from skyvault.services.redshift import snapshots as rs

if TYPE_CHECKING:
    from skyvault.aws.clients import RedshiftClient


def _exists(client: Any, identifier: str) -> bool:
    try:
        rs.describe_cluster(client, identifier)
    except NotFoundError:
        return False
    return True


def restore(
    job: JobLike,
    factory: ClientFactory,
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
    client = factory.client(where["account"], where["region"], "redshift")
    at_source = where["account"] == point.account and where["region"] == point.region
    suffix = point.id.rsplit("-", 1)[-1][-8:]
    result: dict[str, Any] = {"recovery_point": point.id, "account": where["account"], "region": where["region"]}
    if target == "original":
        if not confirmed:
            raise ConfirmationRequiredError(
                "restoring over the original needs explicit confirmation; nothing was changed", hint="add --yes"
            )
        if not at_source:
            raise ConflictError("--target original restores in the source account and region only")
        new_id = captured["identifier"]
        if _exists(client, new_id):
            aside = identifiers.derived(new_id, f"pre-restore-{suffix}")
            renamed_to = aside
            job.step(
                f"{new_id}: rename original",
                lambda: rename.rename(_renamer(client), _finder(client), new_id, renamed_to, what="cluster",
                                      policy=wait, progress=job.progress),
            )  # fmt: skip
            result["original_renamed_to"] = aside
            restored = rename.swap(
                lambda: _restore(job, factory, client, point, where, new_id, at_source, options, wait),
                rename_to=_renamer(client), find=_finder(client), original=new_id, aside=aside, what="cluster",
                policy=wait, progress=job.progress,
            )  # fmt: skip
            return {**result, **restored}
    else:
        new_id = name or identifiers.derived(captured["identifier"], f"restored-{suffix}")
        if _exists(client, new_id):
            raise ConflictError(
                f"{new_id} already exists in account {where['account']!r}", hint="choose another --name"
            )
    return {**result, **_restore(job, factory, client, point, where, new_id, at_source, options, wait)}


def _renamer(client: RedshiftClient) -> rename.Renamer:
    def rename_to(current: str, new: str) -> None:
        client.modify_cluster(ClusterIdentifier=current, NewClusterIdentifier=new)

    return rename_to


def _finder(client: RedshiftClient) -> rename.Finder:
    def find(identifier: str) -> str | None:
        try:
            return str(rs.describe_cluster(client, identifier).get("ClusterStatus", "unknown"))
        except NotFoundError:
            return None

    return find


def _restore(
    job: JobLike,
    factory: ClientFactory,
    client: RedshiftClient,
    point: Any,
    where: dict[str, Any],
    new_id: str,
    at_source: bool,
    options: dict[str, Any],
    wait: WaitPolicy,
) -> dict[str, Any]:
    captured = point.captured_config
    result: dict[str, Any] = {}
    snapshot = rs.describe_snapshot(client, where["snapshot"])
    params: dict[str, Any] = {
        "ClusterIdentifier": new_id,
        "SnapshotIdentifier": where["snapshot"],
        "SnapshotClusterIdentifier": snapshot["ClusterIdentifier"],
        "NodeType": options.get("node_type") or captured.get("node_type"),
        "NumberOfNodes": captured.get("number_of_nodes") or 1,
        "PubliclyAccessible": captured.get("publicly_accessible", False),
        "EnhancedVpcRouting": captured.get("enhanced_vpc_routing", False),
    }
    if captured.get("port"):
        params["Port"] = captured["port"]
    subnet_group = options.get("subnet_group") or (captured.get("subnet_group") if at_source else None)
    if subnet_group:
        params["ClusterSubnetGroupName"] = subnet_group
    dropped = []
    if at_source:
        if captured.get("security_groups"):
            params["VpcSecurityGroupIds"] = captured["security_groups"]
        if captured.get("parameter_group") and not str(captured["parameter_group"]).startswith("default."):
            params["ClusterParameterGroupName"] = captured["parameter_group"]
        if captured.get("iam_roles"):
            params["IamRoles"] = captured["iam_roles"]
    else:
        dropped = [k for k in ("subnet_group", "security_groups", "parameter_group", "iam_roles") if captured.get(k)]
    job.step(f"{new_id}: restore cluster", lambda: bool(client.restore_from_cluster_snapshot(**params)))
    tags = restored_tags(captured.get("tags", {}), point.id)
    result["warnings"] = dropped_tags_warning(captured.get("tags", {}), tags, "the restored cluster")
    account_id = factory.account_id(where["account"])
    arn = rs.cluster_arn(partition_for(where["region"]), where["region"], account_id, new_id)
    client.create_tags(ResourceName=arn, Tags=rs.tag_list(tags))
    cluster = rs.wait_cluster(client, new_id, policy=wait, progress=job.progress)
    endpoint = cluster.get("Endpoint") or {}
    result.update(
        {
            "kind": "redshift",
            "identifier": new_id,
            "arn": arn,
            "endpoint": endpoint.get("Address"),
            "port": endpoint.get("Port"),
            "node_type": cluster.get("NodeType"),
            "number_of_nodes": cluster.get("NumberOfNodes"),
            "status": cluster.get("ClusterStatus"),
        }
    )
    if dropped:
        result["not_applied"] = dropped
    if not result["warnings"]:
        del result["warnings"]
    return result
