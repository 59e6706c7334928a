"""S3 job bodies: ``backup-s3`` (buckets or prefixes into the library as trees) and ``restore-s3``.

A backup job covers the locations of one ``skyvault backup s3`` call. Per location, step ``<source>: copy`` writes
the library tree (incremental against the previous recovery point of the same location, account and versions mode
in the same library) and picks the recovery point's ID; step ``<source>: record`` writes the point under that ID,
so a resumed job neither reads a finished location again nor records it twice.

``restore-s3`` with ``as_of`` chooses among the recovery points of the given point's location (same account):
the earliest point with versions captured at or after that time (its history holds the version current then), else
the newest point captured at or before it (the state it captured).
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.catalog.store import new_id
from skyvault.errors import ConfirmationRequiredError, LibraryError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services.contract import JobEnvironment
from skyvault.services.s3.backup import DEFAULT_WORKERS, KIND, Tuning, backup_location, bucket_client, iso
from skyvault.services.s3.locations import S3Location, parse_location
from skyvault.services.s3.restore import RestoreTuning, Target, parse_time, restore_tree

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

__all__ = ["BACKUP_JOB", "KIND", "RESTORE_JOB", "backup_job", "backup_params", "expire", "restore_job"]

BACKUP_JOB = f"backup-{KIND}"
RESTORE_JOB = f"restore-{KIND}"


def backup_params(
    *,
    locations: list[str],
    account: str,
    region: str,
    library: str,
    versions: bool = False,
    workers: int = DEFAULT_WORKERS,
    tuning: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The ``params`` of a ``backup-s3`` job; ``tuning`` overrides ``Tuning`` fields (tests lower sizes)."""
    return {
        "locations": [parse_location(text).source for text in locations],
        "account": account,
        "region": region,
        "library": library,
        "versions": versions,
        "workers": workers,
        "tuning": dict(tuning or {}),
    }


def _same_place(point: RecoveryPoint, account: str, library: str | None, versions: bool | None) -> bool:
    same = point.account == account and (library is None or point.library == library)
    return same and (versions is None or bool(point.captured_config.get("versions")) == versions)


def previous_manifest(
    repo: Repository, catalog: Catalog, library: str, account: str, source: str, versions: bool
) -> Manifest | None:
    """The newest recovery point of this location, account and mode in this library (its tree is the parent)."""
    points = catalog.recovery_points(kind=KIND, resource_id=source)
    points = [p for p in points if _same_place(p, account, library, versions)]
    for point in reversed(points):
        if point.library_snapshot:
            try:
                return repo.load_snapshot(point.library_snapshot)
            except NotFoundError:
                continue  # pruned from the library: an older one
    return None


class _Progress:
    def __init__(self, job: JobContext, message: str) -> None:
        self.job, self.message, self.done = job, message, 0
        self._lock = threading.Lock()

    def __call__(self, length: int) -> None:
        with self._lock:
            self.done += length
            done = self.done
        self.job.progress(self.message, done, None, unit="bytes")


def _copy(
    ctx: JobContext, env: JobEnvironment, repo: Repository, params: dict[str, Any], source: str
) -> dict[str, Any]:
    location = parse_location(source)
    account, library, versions = str(params["account"]), str(params["library"]), bool(params["versions"])
    client = bucket_client(env.factory, account, location, str(params["region"]))
    parent = previous_manifest(repo, env.catalog, library, account, source, versions)
    tuning = Tuning(workers=int(params.get("workers", DEFAULT_WORKERS)), **params.get("tuning", {}))
    captured_at = iso(datetime.now(UTC))
    calls_before = ctx.api_calls()
    with ctx.executor(tuning.workers, thread_name_prefix="s3-read") as pool:
        result = backup_location(repo, client, location, versions=versions, pool=pool, parent=parent, tuning=tuning,
                                 progress=_Progress(ctx, f"backing up {source}"),
                                 meta={"account": account, "region": client.region,
                                       "captured_at": captured_at})  # fmt: skip
    after = ctx.api_calls()  # this location's calls: the job's counts now, less those before it
    stats = dict(result.stats)
    stats["api_calls"] = {op: n - calls_before.get(op, 0) for op, n in after.items() if n - calls_before.get(op, 0)}
    return {
        "point_id": new_id("rp"),
        "manifest_id": result.manifest.id,
        "region": client.region,
        "captured_at": captured_at,
        "stats": stats,
    }


def _record(catalog: Catalog, job_id: str, params: dict[str, Any], source: str, copied: dict[str, Any]) -> str:
    location = parse_location(source)
    point_id = str(copied["point_id"])
    fields: dict[str, Any] = {
        "kind": KIND,
        "resource_id": source,
        "account": str(params["account"]),
        "region": str(copied["region"]),
        "job_id": job_id,
        "library": str(params["library"]),
        "library_snapshot": copied["manifest_id"],
        "captured_config": {
            "bucket": location.bucket,
            "prefix": location.prefix,
            "versions": bool(params["versions"]),
            "outposts": location.outposts,
            "captured_at": copied["captured_at"],
        },
        "stats": copied["stats"],
    }
    catalog.put_recovery_point(point_id, **fields)
    return point_id


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> list[dict[str, Any]]:
    """``backup-s3``: ``{"recovery_point", "stats"}`` per location, in the order given."""
    params = dict(spec.params)
    repo = env.open_library(str(params["library"]))
    results = []
    try:
        with repo.lock(purpose="backup s3"):
            for source in params["locations"]:
                copy = functools.partial(_copy, ctx, env, repo, params, str(source))
                copied: dict[str, Any] = ctx.step(f"{source}: copy", copy)
                record = functools.partial(_record, env.catalog, ctx.job_id, params, str(source), copied)
                point_id: str = ctx.step(f"{source}: record", record)
                results.append({"recovery_point": point_id, "stats": copied["stats"]})
    finally:
        repo.close()
    return results


def captured_at(point: RecoveryPoint) -> datetime:
    text = point.captured_config.get("captured_at")
    if text:
        return parse_time(str(text))
    created = point.created_at
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def point_as_of(catalog: Catalog, point: RecoveryPoint, when: datetime) -> RecoveryPoint:
    """The recovery point of ``point``'s location that best shows its state at ``when`` (see the module doc)."""
    points = [
        p
        for p in catalog.recovery_points(kind=KIND, resource_id=point.resource_id)
        if p.account == point.account and p.library_snapshot
    ]
    later = [p for p in points if p.captured_config.get("versions") and captured_at(p) >= when]
    if later:
        return min(later, key=captured_at)
    earlier = [p for p in points if captured_at(p) <= when]
    if not earlier:
        raise NotFoundError(
            f"no recovery point of {point.resource_id} covers {iso(when)}: the first was captured "
            f"{iso(min((captured_at(p) for p in points), default=when))}",
            hint="skyvault backups list --kind s3",
        )
    return max(earlier, key=captured_at)


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-s3``: options ``bucket``, ``prefix``, ``as_of``, ``overwrite`` (with ``confirmed``: --yes)."""
    params = dict(spec.params)
    options = dict(params.get("options") or {})
    point = env.catalog.recovery_point(str(params["recovery_point"]))
    as_of = parse_time(str(options["as_of"])) if options.get("as_of") else None
    if as_of is not None:
        point = point_as_of(env.catalog, point, as_of)
    if not point.library_snapshot or not point.library:
        raise LibraryError(f"recovery point {point.id} has no library copy")
    overwrite = bool(options.get("overwrite"))
    if overwrite and not params.get("confirmed"):
        raise ConfirmationRequiredError(
            "--overwrite replaces existing objects and needs --yes as well; nothing was written",
            hint="add --yes",
        )
    location = S3Location(str(point.captured_config["bucket"]), str(point.captured_config.get("prefix", "")))
    bucket = str(options.get("bucket") or location.bucket)
    prefix = str(options["prefix"]) if options.get("prefix") is not None else location.prefix
    account = str(params.get("account") or point.account)
    target_location = parse_location(bucket)
    client = bucket_client(env.factory, account, target_location, str(params.get("region") or point.region))
    tuning = RestoreTuning(**dict(params.get("tuning") or {}))
    repo = env.open_library(point.library)
    try:
        with repo.lock(purpose=f"restore {point.id}"):
            manifest = repo.load_snapshot(point.library_snapshot)
            manifest.expect(f"recovery point {point.id}", kind=KIND, bucket=location.bucket, prefix=location.prefix)
            with ctx.executor(tuning.workers, thread_name_prefix="s3-write") as pool:
                target = Target(bucket=target_location.bucket, prefix=prefix, source_prefix=location.prefix)
                result = restore_tree(repo, manifest, client, target, overwrite=overwrite, as_of=as_of,
                                      tuning=tuning, pool=pool)  # fmt: skip
    finally:
        repo.close()
    return {"recovery_point": point.id, **result}


def expire(_factory: Any, _point: RecoveryPoint) -> int:
    """An S3 point owns nothing in AWS: its library tree goes with ``library prune`` (0 deleted here)."""
    return 0
