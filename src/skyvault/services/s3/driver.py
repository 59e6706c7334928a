"""The S3 driver: discovery, and backups of buckets, prefixes and S3 on Outposts access points into the library.

Bucket names are global: S3 is discovered once per account (``account_discoverers``), not per region. Backups are
library trees (``services/s3/backup.py``); restores write them back to a bucket (``services/s3/restore.py``).
"""

from __future__ import annotations

from skyvault.errors import ConfigError
from skyvault.jobs.spec import JobSpec
from skyvault.services.contract import PlanBackup, PlanTarget, ServiceDriver
from skyvault.services.s3 import jobs
from skyvault.services.s3.discover import discover_buckets


def plan_spec(target: PlanTarget) -> JobSpec:
    """A plan's backup of one bucket: its current objects into the plan's library (one job per bucket)."""
    if not target.library:
        raise ConfigError(
            f"an S3 backup needs a library (bucket {target.resource_id})",
            hint="set the plan's library or default_library",
        )
    params = jobs.backup_params(locations=[target.resource_id], account=target.account, region=target.region,
                                library=target.library)  # fmt: skip
    return JobSpec(jobs.BACKUP_JOB, params)


DRIVER = ServiceDriver(
    name="s3",
    docs="docs/s3.md",
    permission_rows=("s3", "s3-outposts"),
    account_discoverers={"s3": discover_buckets},
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job},
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"bucket", "prefix", "as_of", "overwrite", "account", "region"}),
    plan_backups={"s3": PlanBackup(modes=("library",), copies=False, spec=plan_spec)},
)
