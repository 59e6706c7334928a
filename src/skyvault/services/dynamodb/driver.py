"""The DynamoDB driver: discovery, scan backups into the library, native on-demand backups, and restores."""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.dynamodb import jobs
from skyvault.services.dynamodb.discover import discover_tables

DRIVER = ServiceDriver(
    name="dynamodb",
    docs="docs/dynamodb.md",
    permission_rows=("dynamodb",),
    discoverers={"dynamodb": discover_tables},
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job},
    cleaners=jobs.CLEANERS,
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"table_name", "account", "region"}),
    prepare_resume=jobs.prepare_resume,
)
