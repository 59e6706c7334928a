"""The RDS driver: RDS DB instances (and Multi-AZ DB clusters), Aurora clusters, DocumentDB clusters."""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.rds import cleanup, jobs
from skyvault.services.rds.discover import discover_aurora, discover_docdb, discover_rds

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
)
