"""Database backup and restore jobs: RDS instances, Aurora clusters, DocumentDB clusters, Redshift clusters.

Each backup is one job (``engine.jobs``) over one or more sources of one kind. Every source gets a recovery point
recorded as ``running`` before its snapshot is taken (so a failed run leaves a findable, ``failed`` point that
retention can expire) and ``completed`` with its native snapshots, copies, captured configuration and stats.
Restorers for the four kinds are registered with ``engine.restore`` by ``register``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.catalog.store import new_id
from skyvault.engine.jobs import JobContext, JobRunner, ProgressCallback, register_cleaner
from skyvault.engine.restore import RestoreRequest, register_restorer
from skyvault.engine.retention import register_expirer
from skyvault.errors import ConfirmationRequiredError, NotFoundError
from skyvault.services.rds import backup as rds_backup
from skyvault.services.rds import cleanup as rds_cleanup
from skyvault.services.rds import restore as rds_restore
from skyvault.services.rds.config_capture import family_for
from skyvault.services.rds.snapshots import FAMILIES
from skyvault.services.rds.waiting import WaitPolicy
from skyvault.services.redshift import backup as redshift_backup
from skyvault.services.redshift import cleanup as redshift_cleanup
from skyvault.services.redshift import restore as redshift_restore

KINDS = ("rds", "aurora", "docdb", "redshift")

for _type, _cleaner in {**rds_cleanup.CLEANERS, **redshift_cleanup.CLEANERS}.items():
    register_cleaner(_type, _cleaner)


@dataclass(frozen=True)
class BackupRequest:
    kind: str
    resources: list[str]
    account: str
    region: str
    copy_to_region: str | None = None
    copy_to_account: str | None = None
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    retain_days: float | None = None  # the point (and its snapshots) expire after this many days


def _backup_one(job: JobContext, factory: ClientFactory, request: BackupRequest, source: str, point_id: str) -> Any:
    options = rds_backup.CopyOptions(request.copy_to_region, request.copy_to_account, request.wait)
    common: dict[str, Any] = {
        "account": request.account,
        "region": request.region,
        "source_id": source,
        "point_id": point_id,
    }
    if request.kind == "redshift":
        return redshift_backup.backup(job, factory, options=options, **common)
    client = factory.client(request.account, request.region, "docdb" if request.kind == "docdb" else "rds")
    family = job.step(f"{source}: resolve", lambda: family_for(client, request.kind, source, FAMILIES).kind)
    return rds_backup.backup(job, factory, FAMILIES[family], options=options, **common)


def _params(request: BackupRequest) -> dict[str, Any]:
    return {
        "kind": request.kind,
        "resources": request.resources,
        "account": request.account,
        "region": request.region,
        "copy_to_region": request.copy_to_region,
        "copy_to_account": request.copy_to_account,
        "retain_days": request.retain_days,
    }


def _body(catalog: Catalog, factory: ClientFactory, request: BackupRequest) -> Callable[[JobContext], Any]:
    """The job body: the same for a first run and a resumed one (finished steps are then skipped)."""

    def body(job: JobContext) -> list[dict[str, Any]]:
        results = []
        for source in request.resources:
            started = time.monotonic()
            calls_before = sum(factory.guard.counts().values())

            def open_point(source: str = source) -> str:
                point = catalog.add_recovery_point(
                    id=new_id("rp"), kind=request.kind, resource_id=source, account=request.account,
                    region=request.region, status="running", job_id=job.job_id,
                )  # fmt: skip
                return point.id

            point_id = job.step(f"{source}: open recovery point", open_point)
            try:
                outcome = _backup_one(job, factory, request, source, point_id)
            except BaseException:
                catalog.update_recovery_point(point_id, status="failed")
                raise
            stats = {
                **outcome.stats,
                "duration_s": round(time.monotonic() - started, 3),
                "api_calls": sum(factory.guard.counts().values()) - calls_before,
            }
            expires = (
                datetime.now(UTC) + timedelta(days=request.retain_days) if request.retain_days is not None else None
            )
            catalog.update_recovery_point(
                point_id,
                status="completed",
                native=outcome.native,
                captured_config=outcome.captured,
                stats=stats,
                expires_at=expires,
            )
            results.append({"recovery_point": point_id, "stats": stats})
        return results

    return body


def backup(
    catalog: Catalog, factory: ClientFactory, request: BackupRequest, *, progress: ProgressCallback | None = None
) -> list[dict[str, Any]]:
    """Back up every source of the request in one job; returns ``{"recovery_point", "stats"}`` per source."""
    if request.kind not in KINDS:
        raise NotFoundError(f"no database kind {request.kind!r} (known: {', '.join(KINDS)})")
    runner = JobRunner(catalog, factory, progress=progress)
    return runner.run(f"backup-{request.kind}", _params(request), _body(catalog, factory, request))


def resume_backup(
    catalog: Catalog,
    factory: ClientFactory,
    job_id: str,
    *,
    progress: ProgressCallback | None = None,
    wait: WaitPolicy | None = None,
) -> list[dict[str, Any]]:
    """``skyvault jobs resume`` for a database backup job: the same sources and copies, finished steps skipped."""
    params = catalog.job(job_id).params
    request = BackupRequest(
        kind=params["kind"],
        resources=list(params["resources"]),
        account=params["account"],
        region=params["region"],
        copy_to_region=params.get("copy_to_region"),
        copy_to_account=params.get("copy_to_account"),
        wait=wait or WaitPolicy(),
        retain_days=params.get("retain_days"),
    )
    runner = JobRunner(catalog, factory, progress=progress)
    return runner.resume(job_id, _body(catalog, factory, request))


ProgressFactory = Callable[[Any], ProgressCallback | None]


def register(progress_for: ProgressFactory, wait_for_context: Callable[[Any], WaitPolicy]) -> None:
    """Register the restorers for the four kinds; the CLI supplies progress drawing and the wait policy."""

    def restorer(request: RestoreRequest) -> dict[str, Any]:
        point = request.point
        if request.target == "original" and not request.confirmed:
            # The CLI refuses too; this is the second lock on the door (library callers reach here directly).
            raise ConfirmationRequiredError(
                "restoring over the original needs explicit confirmation; nothing was changed", hint="add --yes"
            )
        if point.status != "completed":
            raise NotFoundError(f"recovery point {point.id} is {point.status}, not restorable")
        factory: ClientFactory = request.context.factory()
        wait = wait_for_context(request.context)
        common: dict[str, Any] = {
            "target": request.target,
            "confirmed": request.confirmed,
            "name": request.name,
            "account": request.account,
            "region": request.region,
            "options": request.options,
            "wait": wait,
        }

        def body(job: JobContext) -> dict[str, Any]:
            if point.kind == "redshift":
                return redshift_restore.restore(job, factory, point, **common)
            return rds_restore.restore(job, factory, _family(point), point, **common)

        runner = JobRunner(request.catalog, factory, progress=progress_for(request.context))
        params = {"recovery_point": point.id, "target": request.target, "name": request.name}
        return runner.run(f"restore-{point.kind}", params, body)

    for kind in KINDS:
        register_restorer(kind, restorer)


def expire(factory: Any, point: Any) -> int:
    """Delete a recovery point's snapshots and copies that carry skyvault's tag; returns how many were deleted."""
    if point.kind == "redshift":
        return redshift_cleanup.expire_point(factory, point.account, point.region, point.native)
    return rds_cleanup.expire_point(factory, _family(point), point.account, point.region, point.native)


def _family(point: Any) -> Any:
    """The snapshot family a point was taken with (older points: the family of their kind)."""
    return FAMILIES[point.native.get("family") or point.kind]


for _kind in KINDS:
    register_expirer(_kind, expire)
