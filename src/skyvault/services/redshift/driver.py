"""The Redshift driver: provisioned clusters (manual snapshots; vault copies by restore-and-snapshot)."""

from __future__ import annotations

from skyvault.jobs.spec import JobSpec
from skyvault.services.contract import PlanBackup, PlanTarget, ServiceDriver
from skyvault.services.rds.jobs import backup_params
from skyvault.services.redshift import cleanup, jobs
from skyvault.services.redshift.discover import discover_clusters


def plan_spec(target: PlanTarget) -> JobSpec:
    """A plan's backup of one cluster: a native snapshot and the plan's extra copies."""
    params = backup_params(
        resources=[target.resource_id], account=target.account, region=target.region,
        copy_to_region=target.copy_to_region, copy_to_account=target.copy_to_account,
    )  # fmt: skip
    return JobSpec(f"backup-{target.service}", params)


DRIVER = ServiceDriver(
    name="redshift",
    docs="docs/databases.md",
    permission_rows=("redshift",),
    discoverers={"redshift": discover_clusters},
    recovery_point_kinds=(jobs.KIND,),
    jobs={f"backup-{jobs.KIND}": jobs.backup_job, f"restore-{jobs.KIND}": jobs.restore_job},
    cleaners=cleanup.CLEANERS,
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"target", "account", "region", "name", "node_type", "subnet_group"}),
    plan_backups={kind: PlanBackup(modes=("native",), copies=True, spec=plan_spec) for kind in (jobs.KIND,)},
)
