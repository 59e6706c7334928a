"""Back up a Redshift cluster: a tagged manual snapshot, plus optional cross-region and vault-account copies.

Cross-region: Redshift copies snapshots to another region only through the cluster's snapshot-copy setting. If
the cluster does not copy there yet, skyvault enables it (with a snapshot copy grant on skyvault's key in the
destination region for encrypted clusters) *before* taking the snapshot, waits for the copy in the destination,
tags it, and turns the setting back off when the job ends (recorded as an intermediate, so a failure undoes it
too). A cluster that already copies to another region is refused: Redshift allows one destination.

Vault account: a Redshift recipient can restore a shared snapshot but cannot copy it. To keep a copy that
survives the source account, skyvault shares the snapshot with the vault account, restores a temporary cluster
there, snapshots it (the vault's own snapshot), then deletes the temporary cluster and revokes the share
("restore-and-snapshot"; both recorded as intermediates, removed on failure too). This costs a cluster's run
time in the vault account for the length of the copy. Clusters encrypted with the AWS-managed key cannot be
shared at all and are refused with an explanation.
"""

from __future__ import annotations

import contextlib
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConflictError
from skyvault.permissions.registry import ALLOW_COPY_SETTING_TAG, MANAGED_TAG, TAG_PREFIX
from skyvault.services.base import partition_for, tags_from_list
from skyvault.services.rds import identifiers, kms_keys
from skyvault.services.rds.backup import (
    BackupResult,
    CopyOptions,
    JobLike,
    dropped_tags_warning,
    snapshot_name,
    snapshot_tags,
)
from skyvault.services.rds.waiting import WaitPolicy
from skyvault.services.redshift import snapshots as rs

kms_keys.declare_key_use("redshift")  # skyvault's key for encrypted copies, under the redshift policy row

GRANT_NAME = "skyvault-backup"
COPY_SETTING = "redshift-snapshot-copy"
SHARE = "redshift-snapshot-share"
VAULT_CLUSTER = "redshift-cluster"


def capture(cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "redshift",
        "identifier": cluster["ClusterIdentifier"],
        "arn": cluster.get("ClusterNamespaceArn"),
        "node_type": cluster.get("NodeType"),
        "number_of_nodes": cluster.get("NumberOfNodes"),
        "port": (cluster.get("Endpoint") or {}).get("Port"),
        "db_name": cluster.get("DBName"),
        "master_username": cluster.get("MasterUsername"),
        "subnet_group": cluster.get("ClusterSubnetGroupName"),
        "security_groups": sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", [])),
        "parameter_group": next((g["ParameterGroupName"] for g in cluster.get("ClusterParameterGroups", [])), None),
        "availability_zone": cluster.get("AvailabilityZone"),
        "publicly_accessible": bool(cluster.get("PubliclyAccessible")),
        "encrypted": bool(cluster.get("Encrypted")),
        "kms_key_id": cluster.get("KmsKeyId"),
        "enhanced_vpc_routing": bool(cluster.get("EnhancedVpcRouting")),
        "iam_roles": sorted(r["IamRoleArn"] for r in cluster.get("IamRoles", [])),
        "cluster_version": cluster.get("ClusterVersion"),
        "tags": tags_from_list(cluster.get("Tags")),
    }


def backup(
    job: JobLike,
    factory: ClientFactory,
    *,
    account: str,
    region: str,
    source_id: str,
    point_id: str,
    options: CopyOptions,
) -> BackupResult:
    client = factory.client(account, region, "redshift")
    captured = job.step(f"{source_id}: capture configuration", lambda: capture(rs.describe_cluster(client, source_id)))
    snapshot_id = snapshot_name(source_id, point_id)
    account_id = factory.account_id(account)
    partition = partition_for(region)
    source_arn = rs.cluster_arn(partition, region, account_id, source_id)
    tags = snapshot_tags(captured.get("tags", {}), job.job_id, source_arn, point_id)
    warnings = dropped_tags_warning(captured.get("tags", {}), tags, "its snapshots")
    for warning in warnings:
        job.progress(f"warning: {warning}")
    if options.to_account and captured.get("encrypted"):
        check_vault_can_use_key(factory, account, options.to_account, region, source_id, captured.get("kms_key_id"))
    if options.to_region and captured.get("tags", {}).get(ALLOW_COPY_SETTING_TAG) != "true":
        warnings = [*warnings, copy_setting_warning(source_id)]
        job.progress(f"warning: {warnings[-1]}")
    if options.to_region:
        to_region = options.to_region
        job.step(
            f"{source_id}: enable copy to {to_region}",
            lambda: _enable_copy(job, factory, account, region, to_region, source_id, captured, source_arn),
        )

    def create() -> dict[str, Any]:
        job.progress(f"creating snapshot {snapshot_id} of {source_id}")
        made = client.create_cluster_snapshot(
            SnapshotIdentifier=snapshot_id, ClusterIdentifier=source_id, Tags=rs.tag_list(tags)
        )["Snapshot"]
        return {"snapshot_id": snapshot_id, "encrypted": bool(made.get("Encrypted"))}

    job.step(f"{source_id}: create snapshot", create)
    snap = job.step(
        f"{source_id}: wait for snapshot",
        lambda: _summary(rs.wait_snapshot(client, snapshot_id, policy=options.wait, progress=job.progress)),
    )
    snap["arn"] = rs.snapshot_arn(partition, region, account_id, source_id, snapshot_id)
    native: dict[str, Any] = {
        "snapshot_id": snapshot_id,
        "snapshot_arn": snap["arn"],
        "cluster_identifier": source_id,
        "owner_account_id": account_id,
        "encrypted": snap["encrypted"],
        "kms_key_id": snap["kms_key_id"],
        "copies": [],
    }
    if options.to_region:
        to_region = options.to_region
        native["copies"].append(
            job.step(
                f"{source_id}: copy to {to_region}",
                lambda: _region_copy(job, factory, account, to_region, snap, tags, options.wait),
            )
        )
    if options.to_account:
        vault = options.to_account
        native["copies"].append(
            job.step(
                f"{source_id}: copy to account {vault}",
                lambda: _vault_copy(
                    job,
                    factory,
                    account,
                    vault,
                    region,
                    source_id,
                    snap,
                    tags,
                    captured,
                    options.wait,
                    options.vault_subnet_group,
                ),
            )
        )
    stats = {
        "snapshots": 1 + len(native["copies"]),
        "copies": len(native["copies"]),
        "size_mb": snap.get("size_mb"),
        "encrypted": snap["encrypted"],
    }
    if warnings:
        stats["warnings"] = warnings
    return BackupResult(native=native, captured=captured, stats=stats)


def check_vault_can_use_key(
    factory: ClientFactory, account: str, vault: str, region: str, cluster_id: str, key: str | None
) -> None:
    """Before any snapshot: a vault copy restores the shared snapshot in the vault, which works only when the vault
    account may use the cluster's key. AWS-managed keys can never be shared; a customer-managed key must name the
    vault account in its key policy (skyvault never edits a key it does not own)."""
    kms = factory.client(account, region, "kms")
    if not key or kms.describe_key(KeyId=key)["KeyMetadata"].get("KeyManager") == "AWS":
        raise ConflictError(
            f"cluster {cluster_id} is encrypted with the AWS-managed key: Redshift cannot share its snapshots "
            "with another account, and Redshift snapshots cannot be re-encrypted",
            hint="encrypt the cluster with a customer-managed key that the vault account may use",
        )
    vault_id = factory.account_id(vault)
    if not kms_keys.allows_use(kms, key, vault_id):
        raise ConflictError(
            f"cluster {cluster_id} is encrypted with KMS key {key}, whose key policy does not let the vault account "
            f"{vault} ({vault_id}) use it: the vault copy would fail at its restore in the vault; nothing was changed",
            hint=f"add to that key's policy a statement allowing arn:{partition_for(region)}:iam::{vault_id}:root "
            "kms:Decrypt, kms:DescribeKey and kms:CreateGrant, then run the backup again",
        )


def _summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": snapshot["SnapshotIdentifier"],
        "encrypted": bool(snapshot.get("Encrypted")),
        "kms_key_id": snapshot.get("KmsKeyId"),
        "size_mb": snapshot.get("TotalBackupSizeInMegaBytes"),
        "status": snapshot.get("Status"),
    }


def copy_setting_warning(cluster_id: str) -> str:
    return (
        f"{cluster_id} is not tagged {ALLOW_COPY_SETTING_TAG}=true: the restricted policy refuses to change its "
        "snapshot-copy setting (tag the cluster, or use the unrestricted policy)"
    )


def _enable_copy(
    job: JobLike,
    factory: ClientFactory,
    account: str,
    region: str,
    to_region: str,
    cluster_id: str,
    captured: dict[str, Any],
    cluster_arn: str,
) -> dict[str, Any]:
    if to_region == region:
        raise ConflictError(f"--copy-to-region {to_region} is the cluster's own region")
    client = factory.client(account, region, "redshift")
    current = rs.describe_cluster(client, cluster_id).get("ClusterSnapshotCopyStatus")
    if current:
        if current.get("DestinationRegion") == to_region:
            return {"enabled_by_skyvault": False}
        raise ConflictError(
            f"cluster {cluster_id} already copies its snapshots to {current.get('DestinationRegion')}; Redshift "
            "allows one destination region per cluster",
            hint=f"copy to {current.get('DestinationRegion')} instead, or disable that setting first",
        )
    params: dict[str, Any] = {
        "ClusterIdentifier": cluster_id,
        "DestinationRegion": to_region,
        "RetentionPeriod": 1,  # automated snapshots copied while enabled: keep them the minimum
        "ManualSnapshotRetentionPeriod": -1,  # skyvault's copy lives until its recovery point expires
    }
    if captured.get("encrypted"):
        destination = factory.client(account, to_region, "redshift")
        key = kms_keys.ensure_key(factory.client(account, to_region, "kms"), factory.account_id(account))
        # An earlier job may have made it (ConflictError): grants are reusable and stay for the next copy.
        with contextlib.suppress(ConflictError):
            destination.create_snapshot_copy_grant(
                SnapshotCopyGrantName=GRANT_NAME, KmsKeyId=key, Tags=rs.tag_list({MANAGED_TAG: "true"})
            )
        params["SnapshotCopyGrantName"] = GRANT_NAME
    job.intermediate(COPY_SETTING, f"{cluster_arn}#copy-to:{to_region}", account, region)
    job.progress(f"enabling snapshot copy of {cluster_id} to {to_region}")
    client.enable_snapshot_copy(**params)
    return {"enabled_by_skyvault": True}


def _region_copy(
    job: JobLike,
    factory: ClientFactory,
    account: str,
    to_region: str,
    snap: dict[str, Any],
    tags: dict[str, str],
    wait: WaitPolicy,
) -> dict[str, Any]:
    destination = factory.client(account, to_region, "redshift")
    job.progress(f"waiting for Redshift to copy {snap['id']} to {to_region}")
    copied = rs.wait_snapshot(destination, snap["id"], policy=wait, progress=job.progress, appears_later=True)
    arn = rs.snapshot_arn(
        partition_for(to_region), to_region, factory.account_id(account), copied["ClusterIdentifier"], snap["id"]
    )
    destination.create_tags(ResourceName=arn, Tags=rs.tag_list({**tags, f"{TAG_PREFIX}copy-of": snap["arn"]}))
    return {
        "kind": "region",
        "account": account,
        "region": to_region,
        "snapshot_id": snap["id"],
        "snapshot_arn": arn,
        "cluster_identifier": copied["ClusterIdentifier"],
        "kms_key_id": copied.get("KmsKeyId"),
    }


def _vault_copy(
    job: JobLike,
    factory: ClientFactory,
    account: str,
    vault: str,
    region: str,
    cluster_id: str,
    snap: dict[str, Any],
    tags: dict[str, str],
    captured: dict[str, Any],
    wait: WaitPolicy,
    subnet_group: str | None = None,
) -> dict[str, Any]:
    source = factory.client(account, region, "redshift")
    vault_client = factory.client(vault, region, "redshift")
    source_id, vault_id = factory.account_id(account), factory.account_id(vault)
    if source_id == vault_id:
        raise ConflictError(f"--copy-to-account {vault} is the source account itself")
    vault_key = None
    if snap["encrypted"]:
        key = snap.get("kms_key_id")
        managed = True
        if key:
            kms = factory.client(account, region, "kms")
            managed = kms.describe_key(KeyId=key)["KeyMetadata"].get("KeyManager") == "AWS"
        if managed:
            raise ConflictError(
                f"cluster {cluster_id} is encrypted with the AWS-managed key: Redshift cannot share its snapshots "
                "with another account, and Redshift snapshots cannot be re-encrypted",
                hint="encrypt the cluster with a customer-managed key that the vault account may use",
            )
        vault_key = kms_keys.ensure_key(factory.client(vault, region, "kms"), vault_id)
    partition = partition_for(region)
    job.intermediate(SHARE, f"{snap['arn']}#shared-with:{vault_id}", account, region)
    job.progress(f"sharing {snap['id']} with the vault account {vault} ({vault_id})")
    source.authorize_snapshot_access(
        SnapshotIdentifier=snap["id"], SnapshotClusterIdentifier=cluster_id, AccountWithRestoreAccess=vault_id
    )
    temp_id = identifiers.build(rs.TEMP_CLUSTER_PREFIX, snap["id"].rsplit("-", 1)[-1], identifiers.IDENTIFIER_MAX)
    job.intermediate(VAULT_CLUSTER, rs.cluster_arn(partition, region, vault_id, temp_id), vault, region)
    job.progress(f"restoring temporary cluster {temp_id} in {vault} (Redshift cannot copy shared snapshots)")
    params: dict[str, Any] = {
        "ClusterIdentifier": temp_id,
        "SnapshotIdentifier": snap["id"],
        "SnapshotClusterIdentifier": cluster_id,
        "OwnerAccount": source_id,
        "PubliclyAccessible": False,
    }
    if vault_key:
        params["KmsKeyId"] = vault_key
    if subnet_group:
        params["ClusterSubnetGroupName"] = subnet_group
    vault_client.restore_from_cluster_snapshot(**params)
    vault_client.create_tags(
        ResourceName=rs.cluster_arn(partition, region, vault_id, temp_id),
        Tags=rs.tag_list({MANAGED_TAG: "true", f"{TAG_PREFIX}job": job.job_id, f"{TAG_PREFIX}intermediate": "true"}),
    )
    rs.wait_cluster(vault_client, temp_id, policy=wait, progress=job.progress)
    vault_tags = {**tags, f"{TAG_PREFIX}copy-of": snap["arn"], f"{TAG_PREFIX}source-account": source_id}
    vault_client.create_cluster_snapshot(
        SnapshotIdentifier=snap["id"], ClusterIdentifier=temp_id, Tags=rs.tag_list(vault_tags)
    )
    done = rs.wait_snapshot(vault_client, snap["id"], policy=wait, progress=job.progress)
    return {
        "kind": "account",
        "method": "restore-and-snapshot",
        "account": vault,
        "account_id": vault_id,
        "region": region,
        "snapshot_id": snap["id"],
        "snapshot_arn": rs.snapshot_arn(partition, region, vault_id, temp_id, snap["id"]),
        "cluster_identifier": temp_id,
        "kms_key_id": done.get("KmsKeyId"),
        "source_captured_node_type": captured.get("node_type"),
    }
