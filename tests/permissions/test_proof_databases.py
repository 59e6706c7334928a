"""Proof: RDS, Aurora, DocumentDB and Redshift backups, copies and restores run on exactly their generated policy.

Each scenario renders the policy of its rows x features, narrowed to the declarations the scenario's path uses
(an instance backup does not use cluster-snapshot actions; a region copy does not share), so that "each action
is needed" holds. The tenant role holds only that policy; the vault (admin) side of a vault copy runs as the
admin, outside the proof. Cleanup failures do not fail a job (they are recorded as leftovers); the scenarios
re-run the cleaners on leftovers so that a missing cleanup action surfaces as the access denial it is.

moto checks the action of each request only: companion actions that AWS evaluates on the same request (tagging
on create, the KMS grant a copy or restore makes) cannot be observed here and are listed as ``moto_blind``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from permissions.proof import Proof, Scenario, proof_tests
from skyvault.catalog import Catalog
from skyvault.engine.retention import expire_due
from skyvault.engine.runner import JobRunner
from skyvault.jobs.spec import JobSpec
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import REGISTRY, Feature, Permission, Registry
from skyvault.permissions.render import render_policies
from skyvault.services import registry
from skyvault.services.contract import JobEnvironment
from skyvault.services.rds.jobs import backup_params
from skyvault.services.rds.waiting import WaitPolicy

TENANT = "tenant-a"
OTHER_REGION = "eu-west-1"
WAIT = WaitPolicy(timeout_s=60, poll_s=0.2)
TAG_ON_CREATE = "AWS evaluates it on the create request as a companion action; moto checks the request's action"
KMS_GRANT = "RDS/Redshift ask KMS for a grant on the caller's behalf; moto does not model that check"


def narrowed(rows: tuple[str, ...], features: tuple[Feature, ...], keep: Callable[[Permission], bool]) -> Any:
    def documents() -> list[dict[str, Any]]:
        load_declarations()
        registry = Registry()
        for permission in REGISTRY.select(policies=rows, features=features):
            if keep(permission):
                registry.add(permission)
        return [d.document() for d in render_policies(rows, features=features, registry=registry)]

    return documents


def ops(*names: str) -> Callable[[Permission], bool]:
    return lambda p: p.operation in names


def _catalog(proof: Proof) -> Catalog:
    return Catalog.open(proof.env.state_dir)


def _runner(proof: Proof) -> JobRunner:
    return JobRunner(JobEnvironment(_catalog(proof), proof.factory(), open_library=_no_library))


def _no_library(name: str | None) -> Any:
    raise AssertionError(f"database jobs open no library (asked for {name!r})")


def _restore(proof: Proof, kind: str, **params: Any) -> dict[str, Any]:
    spec = JobSpec(f"restore-{kind}", {"recovery_point": proof.state["point"], **params})
    result: dict[str, Any] = _runner(proof).run(spec)
    return result


def _backup(proof: Proof, kind: str, source: str, **options: Any) -> dict[str, Any]:
    factory, catalog = proof.factory(), _catalog(proof)
    params = backup_params(resources=[source], account=TENANT, region=proof.region, wait=WAIT, **options)
    (result,) = _runner(proof).run(JobSpec(f"backup-{kind}", params))
    for item in catalog.live_intermediates():  # a cleanup the policy did not allow: surface its denial
        cleaner = registry.cleaner_for(item.resource_type)
        assert cleaner is not None
        cleaner(factory, item)
    assert catalog.recovery_point(result["recovery_point"]).status == "completed"
    return dict(result)


def _encrypted_db(proof: Proof, service: str, cluster: str, engine: str, instance_class: str) -> None:
    client = proof.raw(service)
    client.create_db_cluster(DBClusterIdentifier=cluster, Engine=engine, MasterUsername="u",
                             MasterUserPassword="password-1", StorageEncrypted=True)  # fmt: skip
    client.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBInstanceClass=instance_class, Engine=engine,
                              DBClusterIdentifier=cluster)  # fmt: skip


# -- RDS instance: backup, restore ------------------------------------------------------------------------------
def setup_rds(proof: Proof) -> None:
    proof.raw("rds").create_db_instance(
        DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="u", MasterUserPassword="password-1", Port=6543,
    )  # fmt: skip


def run_rds_backup(proof: Proof) -> None:
    _backup(proof, "rds", "orders")


def setup_rds_restore(proof: Proof) -> None:
    setup_rds(proof)
    proof.state["point"] = _backup(proof, "rds", "orders")["recovery_point"]


def run_rds_restore(proof: Proof) -> None:
    result = _restore(proof, "rds", name="orders-copy", timeout_s=WAIT.timeout_s, poll_s=WAIT.poll_s)
    assert result["identifier"] == "orders-copy" and result["port"] == 6543


def run_rds_overwrite(proof: Proof) -> None:
    result = _restore(proof, "rds", target="original", confirmed=True, timeout_s=WAIT.timeout_s, poll_s=WAIT.poll_s)
    assert result["identifier"] == "orders" and result["original_renamed_to"].startswith("orders-pre-restore-")


def run_rds_expiry(proof: Proof) -> None:
    catalog = _catalog(proof)
    catalog.update_recovery_point(proof.state["point"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    report = expire_due(catalog, proof.factory())
    if report.failed:
        raise next(iter(report.failed_errors.values()))
    assert report.snapshots_deleted == 1, report


def instance_ops(p: Permission) -> bool:
    # CreateDBInstance is declared for adding members to a restored cluster; an instance restore does not use it.
    return p.service == "rds" and "Cluster" not in p.operation and p.operation != "CreateDBInstance"


# -- RDS instance: cross-region copy with a non-default option group (mapped to skyvault-<name> there) ------------
def setup_rds_option_group(proof: Proof) -> None:
    rds = proof.raw("rds")
    rds.create_option_group(
        OptionGroupName="shop-audit", EngineName="mysql", MajorEngineVersion="8.0", OptionGroupDescription="audit"
    )
    rds.modify_option_group(OptionGroupName="shop-audit", OptionsToInclude=[{"OptionName": "MARIADB_AUDIT_PLUGIN"}])
    rds.create_db_instance(
        DBInstanceIdentifier="shop", Engine="mysql", EngineVersion="8.0.35", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="u", MasterUserPassword="password-1", OptionGroupName="shop-audit",
    )  # fmt: skip


def run_rds_region_copy(proof: Proof) -> None:
    result = _backup(proof, "rds", "shop", copy_to_region=OTHER_REGION)
    point = _catalog(proof).recovery_point(result["recovery_point"])
    assert point.native["copies"][0]["option_group"] == "skyvault-shop-audit"


def rds_region_ops(p: Permission) -> bool:
    return p.service == "rds" and p.operation in (
        "DescribeDBInstances", "CreateDBSnapshot", "DescribeDBSnapshots", "CopyDBSnapshot",
        "DescribeOptionGroups", "CreateOptionGroup", "ModifyOptionGroup",
    )  # fmt: skip


# -- Aurora: backup + cross-region copy (skyvault's key created in the destination) ------------------------------
def setup_aurora(proof: Proof) -> None:
    _encrypted_db(proof, "rds", "ledger", "aurora-postgresql", "db.r6g.large")


def run_aurora_region_copy(proof: Proof) -> None:
    result = _backup(proof, "aurora", "ledger", copy_to_region=OTHER_REGION)
    assert result["stats"]["copies"] == 1


def aurora_region_ops(p: Permission) -> bool:
    if p.service == "kms":
        return p.operation in ("DescribeKey", "CreateKey", "CreateAlias")
    return p.service == "rds" and p.operation in (
        "DescribeDBClusters", "DescribeDBInstances", "CreateDBClusterSnapshot", "DescribeDBClusterSnapshots",
        "CopyDBClusterSnapshot",
    )  # fmt: skip


# -- DocumentDB: vault copy of an AWS-managed-key snapshot (re-encrypt, share skyvault's key, share, clean up) ------
def setup_docdb(proof: Proof) -> None:
    _encrypted_db(proof, "docdb", "catalog", "docdb", "db.r5.large")
    kms = proof.raw("kms")
    key = kms.create_key(Description="skyvault's key, made by an earlier job")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/skyvault-backup", TargetKeyId=key)


def run_docdb_vault_copy(proof: Proof) -> None:
    result = _backup(proof, "docdb", "catalog", copy_to_account="admin")
    assert result["stats"]["copies"] == 1


def docdb_vault_ops(p: Permission) -> bool:
    if p.service == "kms":
        return p.operation in ("DescribeKey", "GetKeyPolicy", "PutKeyPolicy")
    return p.service == "docdb"


# -- Redshift: backup + cross-region copy through the copy setting (grant, enable, disable) ----------------------
def setup_redshift(proof: Proof) -> None:
    key = proof.raw("kms").create_key(Description="customer key")["KeyMetadata"]["Arn"]
    proof.raw("redshift").create_cluster(
        ClusterIdentifier="warehouse", NodeType="ra3.xlplus", MasterUsername="u", MasterUserPassword="Password-1",
        ClusterType="single-node", Encrypted=True, KmsKeyId=key,
    )  # fmt: skip


def run_redshift_region_copy(proof: Proof) -> None:
    assert _backup(proof, "redshift", "warehouse", copy_to_region=OTHER_REGION)["stats"]["copies"] == 1


def redshift_region_ops(p: Permission) -> bool:
    if p.service == "kms":
        return p.operation in ("DescribeKey", "CreateKey", "CreateAlias")
    return p.operation in (
        "DescribeClusters", "CreateClusterSnapshot", "DescribeClusterSnapshots", "CreateTags",
        "CreateSnapshotCopyGrant", "EnableSnapshotCopy", "DisableSnapshotCopy",
    )  # fmt: skip


def setup_redshift_restore(proof: Proof) -> None:
    proof.raw("redshift").create_cluster(
        ClusterIdentifier="warehouse", NodeType="ra3.xlplus", MasterUsername="u", MasterUserPassword="Password-1",
        ClusterType="single-node",
    )  # fmt: skip
    proof.state["point"] = _backup(proof, "redshift", "warehouse")["recovery_point"]


def run_redshift_restore(proof: Proof) -> None:
    result = _restore(proof, "redshift", name="warehouse-copy", timeout_s=WAIT.timeout_s, poll_s=WAIT.poll_s)
    assert result["identifier"] == "warehouse-copy" and result["node_type"] == "ra3.xlplus"


def blind(*actions: str, why: str) -> dict[str, str]:
    return dict.fromkeys(actions, why)


def _merge(*parts: Iterable[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part)
    return merged


BACKUP, COPY, RESTORE = (Feature.BACKUP,), (Feature.BACKUP, Feature.COPY), (Feature.RESTORE,)
TAGGING = blind("rds:AddTagsToResource", "redshift:CreateTags", "kms:TagResource", why=TAG_ON_CREATE)
GRANTS = blind("kms:CreateGrant", why=KMS_GRANT)
SCENARIOS = [
    Scenario("rds-backup", rows=("rds",), features=BACKUP, setup=setup_rds, run=run_rds_backup,
             policy=narrowed(("rds",), BACKUP, instance_ops), moto_blind=TAGGING),
    Scenario("rds-restore", rows=("rds",), features=RESTORE, setup=setup_rds_restore, run=run_rds_restore,
             policy=narrowed(("rds",), RESTORE, instance_ops), moto_blind=_merge(TAGGING.items(), GRANTS.items(),
             blind("kms:DescribeKey", why=KMS_GRANT).items())),
    Scenario("rds-restore-overwrite", rows=("rds",), features=(Feature.RESTORE, Feature.RESTORE_OVERWRITE),
             setup=setup_rds_restore, run=run_rds_overwrite,
             policy=narrowed(("rds",), (Feature.RESTORE, Feature.RESTORE_OVERWRITE), instance_ops),
             moto_blind=_merge(TAGGING.items(), GRANTS.items(), blind("kms:DescribeKey", why=KMS_GRANT).items())),
    Scenario("rds-expiry", rows=("rds",), features=(Feature.CLEANUP,), setup=setup_rds_restore, run=run_rds_expiry,
             policy=narrowed(("rds",), (Feature.CLEANUP,), instance_ops)),
    Scenario("rds-copy-region-option-group", rows=("rds",), features=COPY, setup=setup_rds_option_group,
             run=run_rds_region_copy, policy=narrowed(("rds",), COPY, rds_region_ops),
             moto_blind=_merge(TAGGING.items(), GRANTS.items(), blind("kms:DescribeKey", why=KMS_GRANT).items())),
    Scenario("aurora-copy-region", rows=("rds",), features=COPY, setup=setup_aurora, run=run_aurora_region_copy,
             policy=narrowed(("rds",), COPY, aurora_region_ops), moto_blind=_merge(TAGGING.items(), GRANTS.items())),
    Scenario("docdb-copy-vault", rows=("docdb",), features=COPY, setup=setup_docdb, run=run_docdb_vault_copy,
             policy=narrowed(("docdb",), COPY, docdb_vault_ops), moto_blind=_merge(TAGGING.items(), GRANTS.items())),
    Scenario("redshift-copy-region", rows=("redshift",), features=COPY, setup=setup_redshift,
             run=run_redshift_region_copy, policy=narrowed(("redshift",), COPY, redshift_region_ops),
             moto_blind=_merge(GRANTS.items(), blind("kms:TagResource", why=TAG_ON_CREATE).items())),
    Scenario("redshift-restore", rows=("redshift",), features=RESTORE, setup=setup_redshift_restore,
             run=run_redshift_restore, policy=narrowed(("redshift",), RESTORE, lambda p: p.service == "redshift"),
             moto_blind=_merge(GRANTS.items(), blind("kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey",
                                                     "kms:RetireGrant", why=KMS_GRANT).items())),
]  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
