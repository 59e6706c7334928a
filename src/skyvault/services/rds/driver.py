"""The RDS driver: RDS DB instances (and Multi-AZ DB clusters), Aurora clusters, DocumentDB clusters."""

from __future__ import annotations

from skyvault.jobs.spec import JobSpec
from skyvault.services.contract import PlanBackup, PlanTarget, ServiceDriver
from skyvault.services.rds import cleanup, jobs
from skyvault.services.rds.discover import discover_aurora, discover_docdb, discover_rds


def plan_spec(target: PlanTarget) -> JobSpec:
    """A plan's backup of one database: a native snapshot and the plan's extra copies."""
    params = jobs.backup_params(
        resources=[target.resource_id], account=target.account, region=target.region,
        copy_to_region=target.copy_to_region, copy_to_account=target.copy_to_account,
    )  # fmt: skip
    return JobSpec(f"backup-{target.service}", params)


DRIVER = ServiceDriver(
    name="rds",
    docs="docs/databases.md",
    permission_rows=("rds", "docdb"),
    discoverers={"rds": discover_rds, "aurora": discover_aurora, "docdb": discover_docdb},
    recovery_point_kinds=jobs.KINDS,
    jobs={
        **{f"backup-{kind}": jobs.backup_job for kind in jobs.KINDS},
        **{f"restore-{kind}": jobs.restore_job for kind in jobs.KINDS},
    },
    cleaners=cleanup.CLEANERS,
    expirers=dict.fromkeys(jobs.KINDS, jobs.expire),
    restore_options=frozenset({"target", "account", "region", "name", "instance_class", "subnet_group"}),
    plan_backups={kind: PlanBackup(modes=("native",), copies=True, spec=plan_spec) for kind in jobs.KINDS},
)
