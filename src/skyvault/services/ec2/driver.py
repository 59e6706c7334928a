"""The EC2 driver: instances (and their EBS volumes) and volumes; backups into snapshots and the library."""

from __future__ import annotations

from skyvault.catalog import Catalog, Job
from skyvault.jobs.spec import JobSpec
from skyvault.services.contract import PlanBackup, PlanTarget, ServiceDriver
from skyvault.services.ec2 import backup, cleanup, restore, snapshots
from skyvault.services.ec2.discover import discover_instances, discover_volumes


def prepare_resume(catalog: Catalog, job: Job) -> None:
    """Backups and restores forget different things before they run again."""
    if job.kind == backup.JOB_KIND:
        backup.prepare_resume(catalog, job)
    elif job.kind == restore.JOB_KIND:
        restore.prepare_resume(catalog, job)


def plan_spec(target: PlanTarget) -> JobSpec:
    """A plan's backup of one instance: snapshots only (native), or a library copy (library)."""
    copy = target.mode == "library"
    params = backup.backup_params(
        instance_id=target.resource_id, account=target.account, region=target.region,
        library=target.library if copy else None, copy=copy,
    )  # fmt: skip
    return JobSpec(backup.JOB_KIND, params)


DRIVER = ServiceDriver(
    name="ec2",
    docs="docs/ec2.md",
    permission_rows=("ec2", "ec2-agents"),
    discoverers={"ec2": discover_instances, "ebs": discover_volumes},
    recovery_point_kinds=(backup.KIND,),
    jobs={backup.JOB_KIND: backup.backup_job, restore.JOB_KIND: restore.restore_job},
    cleaners=cleanup.CLEANERS,
    expirers={backup.KIND: snapshots.expire_point},
    restore_options=frozenset(
        {"target", "account", "region", "source", "name", "instance_type", "subnet", "volumes_only"}
    ),
    prepare_resume=prepare_resume,
    orphan_sweep=cleanup.SWEEP,
    plan_backups={"ec2": PlanBackup(modes=("native", "library"), copies=False, spec=plan_spec)},
)
