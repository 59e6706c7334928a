"""Database backup and restore job bodies: RDS instances, Aurora and DocumentDB clusters (Redshift reuses the loop).

A backup job covers one or more sources of one kind (``backup-rds`` with ``params["resources"]``). Every source
gets a recovery point recorded as ``running`` before its snapshot is taken (so a failed run leaves a findable,
``failed`` point that retention can expire) and ``completed`` with its native snapshots, copies, captured
configuration and stats. Everything a run needs is in ``spec.params``, timeouts and poll intervals included, so
``skyvault jobs resume`` (maybe in another process) waits exactly as the first run did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import RecoveryPoint
from skyvault.catalog.store import new_id
from skyvault.errors import ConfirmationRequiredError, NotFoundError
from skyvault.services.contract import JobEnvironment
from skyvault.services.rds import backup as rds_backup
from skyvault.services.rds import cleanup as rds_cleanup
from skyvault.services.rds import restore as rds_restore
from skyvault.services.rds.backup import BackupResult, CopyOptions
from skyvault.services.rds.config_capture import family_for
from skyvault.services.rds.snapshots import FAMILIES, Family
from skyvault.services.rds.waiting import WaitPolicy

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

KINDS = ("rds", "aurora", "docdb")
SourceBackup = Callable[["JobContext", ClientFactory, dict[str, Any], str, str, CopyOptions], BackupResult]


def wait_policy(params: dict[str, Any]) -> WaitPolicy:
    """The wait policy a job was started with (``timeout_s``/``poll_s`` in its params; defaults otherwise)."""
    default = WaitPolicy()
    return WaitPolicy(
        timeout_s=float(params.get("timeout_s") or default.timeout_s),
        poll_s=float(params.get("poll_s") or default.poll_s),
        stall_s=float(params.get("stall_s") or default.stall_s),
    )


def backup_params(
    *,
    resources: list[str],
    account: str,
    region: str,
    copy_to_region: str | None = None,
    copy_to_account: str | None = None,
    wait: WaitPolicy | None = None,
    retain_days: float | None = None,
    vault_subnet_group: str | None = None,
    option_group_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``params`` of a ``backup-<database kind>`` job (what the CLI and the demo build)."""
    policy = wait or WaitPolicy()
    return {
        "resources": list(resources),
        "account": account,
        "region": region,
        "copy_to_region": copy_to_region,
        "copy_to_account": copy_to_account,
        "retain_days": retain_days,
        "timeout_s": policy.timeout_s,
        "poll_s": policy.poll_s,
        "stall_s": policy.stall_s,
        "vault_subnet_group": vault_subnet_group,
        "option_group_map": dict(option_group_map or {}),
    }


def run_backups(ctx: JobContext, spec: JobSpec, env: JobEnvironment, backup_one: SourceBackup) -> list[dict[str, Any]]:
    """The loop every database backup job runs: one recovery point per source, ``backup_one`` for its steps."""
    params = spec.params
    kind = spec.subject
    account, region = str(params["account"]), str(params["region"])
    options = CopyOptions(
        params.get("copy_to_region"),
        params.get("copy_to_account"),
        wait_policy(params),
        vault_subnet_group=params.get("vault_subnet_group"),
        option_groups=dict(params.get("option_group_map") or {}),
    )
    retain_days = params.get("retain_days")
    catalog = env.catalog
    results = []
    for source in params["resources"]:
        started = time.monotonic()
        calls_before = sum(ctx.api_calls().values())

        def open_point(source: str = source) -> str:
            point = catalog.add_recovery_point(
                id=new_id("rp"), kind=kind, resource_id=source, account=account, region=region, status="running",
                job_id=ctx.job_id,
            )  # fmt: skip
            return point.id

        point_id: str = ctx.step(f"{source}: open recovery point", open_point)
        try:
            outcome = backup_one(ctx, env.factory, {**params, "kind": kind}, source, point_id, options)
        except BaseException:
            catalog.update_recovery_point(point_id, status="failed")
            raise
        stats = {
            **outcome.stats,
            "duration_s": round(time.monotonic() - started, 3),
            "api_calls": sum(ctx.api_calls().values()) - calls_before,
        }
        expires = datetime.now(UTC) + timedelta(days=float(retain_days)) if retain_days is not None else None
        catalog.update_recovery_point(
            point_id, status="completed", native=outcome.native, captured_config=outcome.captured, stats=stats,
            expires_at=expires,
        )  # fmt: skip
        results.append({"recovery_point": point_id, "stats": stats})
    return results


def _backup_source(
    ctx: JobContext, factory: ClientFactory, params: dict[str, Any], source: str, point_id: str, options: CopyOptions
) -> BackupResult:
    account, region, kind = str(params["account"]), str(params["region"]), str(params["kind"])
    client = factory.client(account, region, "docdb" if kind == "docdb" else "rds")
    family = ctx.step(f"{source}: resolve", lambda: family_for(client, kind, source, FAMILIES).kind)
    return rds_backup.backup(
        ctx, factory, FAMILIES[family], account=account, region=region, source_id=source, point_id=point_id,
        options=options,
    )  # fmt: skip


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> list[dict[str, Any]]:
    """``backup-rds|aurora|docdb``: ``{"recovery_point", "stats"}`` per source, in the order given."""
    return run_backups(ctx, spec, env, _backup_source)


def restorable_point(env: JobEnvironment, spec: JobSpec) -> RecoveryPoint:
    """The job's recovery point, checked: of the job's kind, completed, and confirmed when it replaces the original."""
    params = spec.params
    point = env.catalog.recovery_point(str(params["recovery_point"]))
    if point.kind != spec.subject:
        raise NotFoundError(f"recovery point {point.id} is of kind {point.kind!r}, not {spec.subject!r}")
    if params.get("target", "new") == "original" and not params.get("confirmed"):
        # The CLI asks first; this is the second lock on the door (any caller of the job reaches here).
        raise ConfirmationRequiredError(
            "restoring over the original needs explicit confirmation; nothing was changed", hint="add --yes"
        )
    if point.status != "completed":
        raise NotFoundError(f"recovery point {point.id} is {point.status}, not restorable")
    return point


def restore_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments both database restores take, from a ``restore-<kind>`` job's params."""
    return {
        "target": params.get("target", "new"),
        "confirmed": bool(params.get("confirmed")),
        "name": params.get("name"),
        "account": params.get("account"),
        "region": params.get("region"),
        "options": dict(params.get("options") or {}),
        "wait": wait_policy(params),
    }


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-rds|aurora|docdb``: a new instance/cluster, or a rename-swap over the original (confirmed)."""
    point = restorable_point(env, spec)
    return rds_restore.restore(ctx, env.factory, family_of(point), point, **restore_arguments(spec.params))


def family_of(point: RecoveryPoint) -> Family:
    """The snapshot family a point was taken with (older points: the family of their kind)."""
    return FAMILIES[point.native.get("family") or point.kind]


def expire(factory: ClientFactory, point: RecoveryPoint) -> int:
    """Delete a point's snapshot and copies that carry skyvault's tag; returns how many were deleted."""
    return rds_cleanup.expire_point(factory, family_of(point), point.account, point.region, point.native)
