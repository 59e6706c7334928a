"""The DynamoDB driver: discovery, scan and export backups into the library, native on-demand backups, and
restores (BatchWriteItem, RestoreTableFromBackup, or ImportTable with ``--via import``)."""

from __future__ import annotations

from skyvault.errors import ConfigError
from skyvault.jobs.spec import JobSpec
from skyvault.services.contract import PlanBackup, PlanTarget, ServiceDriver
from skyvault.services.dynamodb import jobs
from skyvault.services.dynamodb.discover import discover_tables


def plan_spec(target: PlanTarget) -> JobSpec:
    """A plan's backup of one table: a native backup, or (``library``) a paced parallel Scan into the library."""
    method = "scan" if target.mode == "library" else "native"
    if method == "scan" and not target.library:
        raise ConfigError(
            f"a DynamoDB library backup needs a library (table {target.resource_id})",
            hint="set the plan's library or default_library, or mode dynamodb = native",
        )
    params = jobs.backup_params(tables=[target.resource_id], account=target.account, region=target.region,
                                method=method, library=target.library if method == "scan" else None)  # fmt: skip
    return JobSpec(jobs.BACKUP_JOB, params)


DRIVER = ServiceDriver(
    name="dynamodb",
    docs="docs/dynamodb.md",
    permission_rows=("dynamodb",),
    discoverers={"dynamodb": discover_tables},
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job},
    cleaners=jobs.CLEANERS,
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"table_name", "account", "region", "via", "export_bucket"}),
    prepare_resume=jobs.prepare_resume,
    plan_backups={"dynamodb": PlanBackup(modes=("native", "library"), copies=False, spec=plan_spec)},
)
