"""The disk-image driver: raw images and block devices into the library, restored to a file. No AWS calls."""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.image import jobs

DRIVER = ServiceDriver(
    name="image",
    docs="docs/image.md",
    permission_rows=(),
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job},
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"to_file"}),
)
