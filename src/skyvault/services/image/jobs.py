"""Disk-image job bodies: ``backup-image`` (files or block devices into the library) and ``restore-image``.

A backup job covers the paths of one ``skyvault backup image`` call. Per image, step ``<path>: copy`` writes the
library snapshot (incremental against the image's previous recovery point in the same library) and picks the
recovery point's ID; step ``<path>: record`` writes the point under that ID (or updates it, when a run killed
after writing it is resumed), so a resumed job neither copies a finished image again nor records it twice.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.catalog.store import new_id
from skyvault.errors import LibraryError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services.contract import JobEnvironment
from skyvault.services.image.backup import KIND, backup_image, image_size
from skyvault.services.image.restore import examine_target, restore_image

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

__all__ = ["BACKUP_JOB", "KIND", "RESTORE_JOB", "backup_job", "backup_params", "expire", "restore_job"]

BACKUP_JOB = f"backup-{KIND}"
RESTORE_JOB = f"restore-{KIND}"


def backup_params(*, paths: list[str], library: str) -> dict[str, Any]:
    """The ``params`` of a ``backup-image`` job: absolute image paths and the configured library's name."""
    return {"paths": [str(Path(p).resolve()) for p in paths], "library": library}


def previous_manifest(repo: Repository, catalog: Catalog, library: str, source: str) -> Manifest | None:
    """The previous recovery point of this image in this library (the catalog first, the library as fallback)."""
    points = [p for p in catalog.recovery_points(kind=KIND, resource_id=source) if p.library == library]
    for point in reversed(points):
        if point.library_snapshot:
            try:
                return repo.load_snapshot(point.library_snapshot)
            except NotFoundError:
                continue  # pruned from the library: fall back to an older one or to the library itself
    return repo.latest(KIND, source)


class _Progress:
    """Bytes done for one image, summed from the backup's worker threads into the job's progress events."""

    def __init__(self, job: JobContext, message: str, total: int) -> None:
        self.job, self.message, self.total = job, message, total
        self.done = 0
        self._lock = threading.Lock()

    def __call__(self, length: int) -> None:
        with self._lock:
            self.done += length
            done = self.done
        self.job.progress(self.message, done, self.total, unit="bytes")


def _copy(job: JobContext, repo: Repository, catalog: Catalog, library: str, source: str) -> dict[str, Any]:
    path = Path(source)
    size = image_size(path)
    parent = previous_manifest(repo, catalog, library, source)
    result = backup_image(repo, path, parent=parent, progress=_Progress(job, f"backing up {path.name}", size))
    manifest = result.manifest
    return {
        "point_id": new_id("rp"),
        "manifest_id": manifest.id,
        "size": size,
        "block_size": manifest.block_size,
        "stats": result.stats,
    }


def _record(catalog: Catalog, job_id: str, library: str, source: str, copied: dict[str, Any]) -> str:
    point_id = str(copied["point_id"])
    fields: dict[str, Any] = {
        "kind": KIND,
        "resource_id": source,
        "job_id": job_id,
        "library": library,
        "library_snapshot": copied["manifest_id"],
        "captured_config": {"size": copied["size"], "block_size": copied["block_size"], "path": source},
        "stats": copied["stats"],
    }
    catalog.put_recovery_point(point_id, **fields)
    return point_id


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> list[dict[str, Any]]:
    """``backup-image``: ``{"recovery_point", "stats"}`` per path, in the order given."""
    library = str(spec.params["library"])
    repo = env.open_library(library)
    results = []
    try:
        with repo.lock(purpose="backup image"):
            for source in spec.params["paths"]:
                copy = functools.partial(_copy, ctx, repo, env.catalog, library, str(source))
                copied: dict[str, Any] = ctx.step(f"{source}: copy", copy)
                record = functools.partial(_record, env.catalog, ctx.job_id, library, str(source), copied)
                point_id: str = ctx.step(f"{source}: record", record)
                results.append({"recovery_point": point_id, "stats": copied["stats"]})
    finally:
        repo.close()
    return results


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-image``: params ``recovery_point`` and ``to_file`` (the file or block device to write)."""
    point = env.catalog.recovery_point(str(spec.params["recovery_point"]))
    to_file = spec.params.get("to_file")
    if not to_file:
        raise LibraryError("restoring a disk image needs --to-file PATH")
    if not point.library_snapshot:
        raise LibraryError(f"recovery point {point.id} has no library copy")
    overwrite = bool(spec.params.get("confirmed"))  # --yes: an existing target may be replaced
    examine_target(Path(str(to_file)), overwrite=overwrite)  # refuse before asking for a passphrase
    repo = env.open_library(point.library)
    try:
        # Shared: a prune (exclusive) cannot remove the data this restore reads, nor start while it runs.
        with repo.lock(purpose=f"restore {point.id}"):
            manifest = repo.load_snapshot(point.library_snapshot)
            recorded_size = point.captured_config.get("size")
            manifest.expect(
                f"recovery point {point.id}",
                kind=KIND,
                size=int(recorded_size) if recorded_size is not None else None,
                path=point.resource_id,  # the image's resolved path, as backup recorded it in both places
            )
            progress = _Progress(ctx, "restoring", manifest.size)
            result = restore_image(repo, manifest, Path(str(to_file)), overwrite=overwrite, progress=progress)
    finally:
        repo.close()
    return {"recovery_point": point.id, **result}


def expire(_factory: Any, _point: RecoveryPoint) -> int:
    """An image point owns nothing in AWS: its library snapshot goes with ``library prune`` (0 deleted here)."""
    return 0
