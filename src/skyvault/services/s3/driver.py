"""The S3 driver: discovery, and backups of buckets, prefixes and S3 on Outposts access points into the library.

Bucket names are global: S3 is discovered once per account (``account_discoverers``), not per region. Backups are
library trees (``services/s3/backup.py``); restores write them back to a bucket (``services/s3/restore.py``).
"""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.s3 import jobs
from skyvault.services.s3.discover import discover_buckets

DRIVER = ServiceDriver(
    name="s3",
    docs="docs/s3.md",
    permission_rows=("s3", "s3-outposts"),
    account_discoverers={"s3": discover_buckets},
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job},
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"bucket", "prefix", "as_of", "overwrite", "account", "region"}),
)
