"""The disk-image driver: raw images and block devices into the library, restored to a file (no AWS calls); and
``convert``: VM disk images or image recovery points into EC2 (policy row ``convert``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, IntermediateResource, Job
from skyvault.services.contract import JobEnvironment, ServiceDriver
from skyvault.services.image import jobs
from skyvault.services.image.intermediates import IMPORT_TASK, UPLOAD

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

CONVERT_JOB = f"convert-{jobs.KIND}"


def convert_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> Any:
    """``convert-image`` (services/image/convert.py, imported when a conversion runs: it loads the EC2 helpers,
    which backups and restores of disk images do not need)."""
    from skyvault.services.image import convert

    return convert.convert_job(ctx, spec, env)


def prepare_resume(catalog: Catalog, job: Job) -> None:
    if job.kind == CONVERT_JOB:
        from skyvault.services.image import convert

        convert.prepare_resume(catalog, job)


def _clean_upload(factory: ClientFactory, item: IntermediateResource) -> None:
    from skyvault.services.image import vmimport  # only when there is one: a disk-image backup never needs it

    vmimport.clean_upload(factory, item)


def _clean_import_task(factory: ClientFactory, item: IntermediateResource) -> None:
    from skyvault.services.image import vmimport

    vmimport.clean_import_task(factory, item)


# The intermediates of ``convert --method vmimport`` (S3 uploads, import tasks); the direct path's snapshots, AMI,
# volumes and instances are the EC2 driver's types.
CLEANERS = {UPLOAD: _clean_upload, IMPORT_TASK: _clean_import_task}


DRIVER = ServiceDriver(
    name="image",
    docs="docs/image.md",
    permission_rows=("convert", "convert-vmimport"),
    recovery_point_kinds=(jobs.KIND,),
    jobs={jobs.BACKUP_JOB: jobs.backup_job, jobs.RESTORE_JOB: jobs.restore_job, CONVERT_JOB: convert_job},
    cleaners=CLEANERS,
    expirers={jobs.KIND: jobs.expire},
    restore_options=frozenset({"to_file"}),
    prepare_resume=prepare_resume,
)
