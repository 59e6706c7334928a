"""The Redshift driver: provisioned clusters (manual snapshots; vault copies by restore-and-snapshot)."""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.redshift import cleanup, jobs
from skyvault.services.redshift.discover import discover_clusters

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
)
