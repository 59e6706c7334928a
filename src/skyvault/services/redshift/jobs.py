"""Redshift backup and restore job bodies (the per-source loop and the checks are the database ones, in rds.jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import RecoveryPoint
from skyvault.services.contract import JobEnvironment
from skyvault.services.rds.backup import BackupResult, CopyOptions
from skyvault.services.rds.jobs import restorable_point, restore_arguments, run_backups
from skyvault.services.redshift import backup as redshift_backup
from skyvault.services.redshift import cleanup as redshift_cleanup
from skyvault.services.redshift import restore as redshift_restore

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

KIND = "redshift"


def _backup_cluster(
    ctx: JobContext, factory: ClientFactory, params: dict[str, Any], source: str, point_id: str, options: CopyOptions
) -> BackupResult:
    return redshift_backup.backup(
        ctx, factory, account=str(params["account"]), region=str(params["region"]), source_id=source,
        point_id=point_id, options=options,
    )  # fmt: skip


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> list[dict[str, Any]]:
    """``backup-redshift``: ``{"recovery_point", "stats"}`` per cluster, in the order given."""
    return run_backups(ctx, spec, env, _backup_cluster)


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-redshift``: a new cluster, or a rename-swap over the original (confirmed)."""
    point = restorable_point(env, spec)
    return redshift_restore.restore(ctx, env.factory, point, **restore_arguments(spec.params))


def expire(factory: ClientFactory, point: RecoveryPoint) -> int:
    """Delete a point's snapshot and copies that carry skyvault's tag; returns how many were deleted."""
    return redshift_cleanup.expire_point(factory, point.account, point.region, point.native)
