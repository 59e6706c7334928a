"""Back up one EC2 instance: capture, crash-consistent snapshots, changed-block copy into the library, catalog.

The ``backup-ec2`` job body. Its params say everything (``backup_params``): the instance, where it lives, whether
to copy into which library, SSM scripts, read workers; a resumed job (in any process) is rebuilt from them.
Steps (a resumed job skips the finished ones):

1. ``plan``: the recovery point's ID and the previous copy point of this instance in this library, chosen once:
   a resumed job must not find its own point as "previous", nor pick a second ID for the same point;
2. ``capture``: the configuration needed to rebuild the instance (``capture.InstanceConfig``);
3. ``snapshot``: ``CreateSnapshots`` of all volumes at once, tagged (role ``base`` with a copy, else
   ``recovery-point``), recorded as the job's intermediates by token *before* the call: a job that fails before
   its recovery point is recorded leaves no snapshot behind. With ``app_consistent`` the SSM pre script runs just
   before and the post script right after (always, even when the snapshot call fails);
4. ``wait``: until the snapshots are completed;
5. ``copy <volume>``: each snapshot into the library, incremental against the previous recovery point's
   manifest, listing changed blocks against its base snapshot; up to ``VOLUMES_AT_ONCE`` volumes in parallel;
6. ``record``: the recovery point under the planned ID (written or updated: a run killed after writing it
   does not make a second one), then the snapshots stop being intermediates;
7. ``retire bases``: with a copy, the base snapshots of every older point of the instance in this place are deleted
   (one base per volume is enough for the next changed-block copy; the library holds the older points; side-by-side
   backups supersede each other's bases). Idempotent: a snapshot already gone counts as retired, so a run killed
   halfway retires the rest on resume.

``prepare_resume`` decides what a resumed job repeats: once the point is written, nothing but the unfinished
steps; before that, everything after ``capture`` (the runner deletes the crashed run's snapshots first).
"""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import Future, as_completed
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, Job, RecoveryPoint
from skyvault.catalog.store import new_id
from skyvault.errors import NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services.base import Target
from skyvault.services.contract import JobEnvironment
from skyvault.services.ec2 import agents, snapshots
from skyvault.services.ec2.capture import InstanceConfig, capture_instance
from skyvault.services.ec2.cleanup import SNAPSHOTS
from skyvault.services.ec2.copy import DEFAULT_WORKERS, CopySource, copy_snapshot
from skyvault.services.ec2.tagging import ROLE_BASE, ROLE_RECOVERY_POINT, new_token, skyvault_tags

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

KIND = "ec2"
JOB_KIND = "backup-ec2"
VOLUMES_AT_ONCE = 4  # volumes of one instance copied in parallel (each with its own block readers)
FIRST_STEPS = ("plan", "capture")  # what a resumed job keeps when its snapshots are gone


def backup_params(
    *,
    instance_id: str,
    account: str,
    region: str,
    library: str | None,
    copy: bool = True,
    app_consistent: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, Any]:
    """The ``params`` of a ``backup-ec2`` job. ``copy`` needs ``library`` (a configured library's name)."""
    return {
        "instance_id": instance_id,
        "account": account,
        "region": region,
        "copy": bool(copy and library),
        "library": library if copy else None,
        "app_consistent": app_consistent,
        "workers": workers,
    }


def older_points(
    catalog: Catalog, account: str, region: str, instance_id: str, library: str | None, point_id: str
) -> list[RecoveryPoint]:
    """The completed points of this instance in this place recorded before ``point_id`` that still hold bases."""
    points = catalog.recovery_points(kind=KIND, resource_id=instance_id)
    ids = [point.id for point in points]
    if point_id not in ids:
        return []
    older = points[: ids.index(point_id)]
    return [
        point
        for point in older
        if point.account == account
        and point.region == region
        and point.library == library
        and point.captured_config.get("snapshot_role") == ROLE_BASE
        and set(point.captured_config.get("snapshots", {}).values())
        - set(point.captured_config.get("retired_snapshots", []))
    ]


def previous_copy_point(
    catalog: Catalog, account: str, region: str, instance_id: str, library: str
) -> RecoveryPoint | None:
    """The newest completed recovery point of this instance with a copy in this library."""
    points = catalog.recovery_points(kind=KIND, resource_id=instance_id)
    for point in reversed(points):
        same_place = point.account == account and point.region == region and point.library == library
        if same_place and point.captured_config.get("library_snapshots"):
            return point
    return None


def _point_or_none(catalog: Catalog, point_id: str | None) -> RecoveryPoint | None:
    if not point_id:
        return None
    try:
        return catalog.recovery_point(point_id)
    except NotFoundError:
        return None


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``backup-ec2``: ``{"recovery_point", "stats", "warnings"}`` for one instance."""
    params = spec.params
    library = params.get("library")
    if not (params.get("copy") and library):
        return _InstanceBackup(ctx, env, params, None)()
    repo = env.open_library(str(library))
    try:
        with repo.lock(purpose="backup ec2"):
            return _InstanceBackup(ctx, env, params, repo)()
    finally:
        repo.close()


def prepare_resume(catalog: Catalog, job: Job) -> None:
    """Once the recovery point is written its snapshots are its own (release them: the runner must not delete
    them) and every finished step stands; before that, the snapshots go and everything after ``capture`` runs
    again rather than read snapshots that are gone."""
    plan = job.steps.get("plan") or {}
    planned = (plan.get("result") or {}).get("point_id") if plan.get("status") == "done" else None
    recorded = (job.steps.get("record") or {}).get("status") == "done"
    if recorded or _point_or_none(catalog, planned) is not None:
        for item in catalog.live_intermediates(job.id):
            if item.resource_type == SNAPSHOTS:
                catalog.mark_deleted(item.id)
        return
    catalog.reset_steps(job.id, FIRST_STEPS)


class _InstanceBackup:
    """One run of the job body: the instance's backup, step by step."""

    def __init__(self, job: JobContext, env: JobEnvironment, params: dict[str, Any], repo: Repository | None) -> None:
        self.job = job
        self.factory: ClientFactory = env.factory
        self.catalog = env.catalog
        self.repo = repo
        self.account = str(params["account"])
        self.region = str(params["region"])
        self.instance_id = str(params["instance_id"])
        self.library: str | None = params.get("library")
        self.app_consistent = bool(params.get("app_consistent"))
        self.workers = int(params.get("workers") or DEFAULT_WORKERS)
        self.warnings: list[str] = []
        self._warnings_lock = threading.Lock()

    @property
    def copying(self) -> bool:
        return self.repo is not None and self.library is not None

    def warn(self, message: str) -> None:
        with self._warnings_lock:  # copies of several volumes run at once
            self.warnings.append(message)

    def __call__(self) -> dict[str, Any]:
        job = self.job
        started = time.monotonic()
        plan: dict[str, Any] = job.step("plan", self._plan)
        point_id = str(plan["point_id"])
        previous = _point_or_none(self.catalog, plan.get("previous_point"))
        account_id = self.factory.account_id(self.account)
        target = Target(self.account, account_id, self.region)
        config = InstanceConfig.from_json(
            job.step(
                "capture",
                lambda: capture_instance(
                    self.factory, self.account, self.region, self.instance_id, account_id=account_id
                ).to_json(),
            )
        )
        snapped: dict[str, Any] = job.step("snapshot", lambda: self._snapshot(config))
        token, taken = str(snapped["token"]), dict(snapped["snapshots"])
        job.step(
            "wait", lambda: snapshots.wait_completed(self.factory, self.account, self.region, sorted(taken.values()))
        )
        copies = self._copy_all(target, config, taken, previous) if self.copying else {}
        for copy in copies.values():
            self.warnings.extend(copy.get("warnings", []))
        stats = self._stats(copies, started)
        job.step("record", lambda: self._record(point_id, config, token, taken, copies, stats))
        if self.copying:
            job.step("retire bases", lambda: self._retire_older(point_id, set(taken.values())))
        stats["api_calls"] = dict(sorted(job.api_calls().items()))
        stats["duration_s"] = round(time.monotonic() - started, 3)
        stats["warnings"] = list(self.warnings)  # retiring old bases may have added some
        self.catalog.update_recovery_point(point_id, stats=stats)
        return {"recovery_point": point_id, "stats": stats, "warnings": list(self.warnings)}

    def _plan(self) -> dict[str, Any]:
        previous = (
            previous_copy_point(self.catalog, self.account, self.region, self.instance_id, self.library or "")
            if self.copying
            else None
        )
        return {"point_id": new_id("rp"), "previous_point": previous.id if previous else None}

    def _snapshot(self, config: InstanceConfig) -> dict[str, Any]:
        job = self.job
        token = new_token()
        role = ROLE_BASE if self.copying else ROLE_RECOVERY_POINT
        tags = skyvault_tags(job_id=job.job_id, source=self.instance_id, role=role, token=token)
        job.intermediate(SNAPSHOTS, token, self.account, self.region)
        job.progress(f"snapshotting {len(config.volumes)} volume(s) of {self.instance_id}")
        if self.app_consistent:
            agents.run_script(
                self.factory,
                self.account,
                self.region,
                self.instance_id,
                agents.PRE_COMMANDS,
                comment=f"skyvault pre-snapshot {job.job_id}",
            )
        try:
            taken = snapshots.create_instance_snapshots(
                self.factory,
                self.account,
                self.region,
                self.instance_id,
                tags=tags,
                description=f"skyvault {job.job_id} {self.instance_id}",
            )
        finally:
            if self.app_consistent:
                agents.run_script(
                    self.factory,
                    self.account,
                    self.region,
                    self.instance_id,
                    agents.POST_COMMANDS,
                    comment=f"skyvault post-snapshot {job.job_id}",
                )
        return {"token": token, "snapshots": taken}

    def _copy_all(
        self, target: Target, config: InstanceConfig, taken: dict[str, str], previous: RecoveryPoint | None
    ) -> dict[str, dict[str, Any]]:
        """One ``copy <volume>`` step per volume, up to ``VOLUMES_AT_ONCE`` at a time; the first failure stops
        the volumes not started yet and is raised once the running ones end."""
        todo = [(v.volume_id, taken[v.volume_id]) for v in config.volumes if v.volume_id in taken]
        if not todo:
            return {}
        futures: dict[str, Future[dict[str, Any]]] = {}
        failure: BaseException | None = None
        with self.job.executor(max_workers=min(VOLUMES_AT_ONCE, len(todo))) as pool:
            for volume_id, snapshot_id in todo:
                copy_one = functools.partial(self._copy, target, config, volume_id, snapshot_id, previous)
                futures[volume_id] = pool.submit(self.job.step, f"copy {volume_id}", copy_one)
            for future in as_completed(futures.values()):
                failure = future.exception()
                if failure is not None:
                    for other in futures.values():
                        other.cancel()
                    break
        if failure is not None:
            raise failure
        return {volume_id: future.result() for volume_id, future in futures.items()}

    def _copy(
        self,
        target: Target,
        config: InstanceConfig,
        volume_id: str,
        snapshot_id: str,
        previous: RecoveryPoint | None,
    ) -> dict[str, Any]:
        assert self.repo is not None
        job = self.job
        parent, base = self._parent_and_base(previous, volume_id)
        volume = config.volume(volume_id)
        job.progress(
            f"copying {volume_id} ({volume.device}) from {snapshot_id}" + (f", changes since {base}" if base else "")
        )

        def progress(done: int, total: int) -> None:
            job.progress(f"{volume_id}: {done}/{total} blocks", done, total, unit="blocks")

        copied = copy_snapshot(
            self.factory,
            self.repo,
            CopySource(self.account, self.region, volume_id, target.arn("ec2", f"volume/{volume_id}"), snapshot_id),
            parent=parent,
            base_snapshot_id=base,
            meta={"instance": config.to_json(), "device": volume.device, "job": job.job_id},
            workers=self.workers,
            progress=progress,
        )
        return copied.to_json()

    def _parent_and_base(self, previous: RecoveryPoint | None, volume_id: str) -> tuple[Manifest | None, str | None]:
        if previous is None or self.repo is None:
            return None, None
        manifest_id = previous.captured_config.get("library_snapshots", {}).get(volume_id)
        if not manifest_id:
            return None, None
        try:
            parent = self.repo.load_snapshot(manifest_id)
        except NotFoundError:
            return None, None  # pruned: the next copy is a full one
        base = previous.captured_config.get("snapshots", {}).get(volume_id)
        if base and not snapshots.existing_snapshots(self.factory, self.account, self.region, [base]):
            self.warn(f"{volume_id}: previous base snapshot {base} no longer exists; full read")
            base = None
        return parent, base

    def _stats(self, copies: dict[str, dict[str, Any]], started: float) -> dict[str, Any]:
        def total(key: str) -> int:
            return sum(int(c.get(key, 0)) for c in copies.values())

        return {
            "blocks_listed": total("blocks_listed"),
            "blocks_read": total("blocks_read"),
            "bytes_read": total("bytes_read"),
            "bytes_stored": total("bytes_stored"),
            "throttles": total("throttles"),  # throttled EBS direct answers, absorbed (the copy slowed down)
            "api_calls": dict(sorted(self.job.api_calls().items())),
            "duration_s": round(time.monotonic() - started, 3),
            "volumes": {
                volume_id: {k: c[k] for k in ("mode", "blocks_listed", "blocks_read", "bytes_stored", "duration_s")}
                for volume_id, c in copies.items()
            },
            "warnings": list(self.warnings),
        }

    def _record(
        self,
        point_id: str,
        config: InstanceConfig,
        token: str,
        by_volume: dict[str, str],
        copies: dict[str, dict[str, Any]],
        stats: dict[str, Any],
    ) -> str:
        devices = {v.volume_id: v.device for v in config.volumes}
        manifests = {v: c["manifest_id"] for v, c in copies.items()}
        root = config.root_volume
        library_snapshot = manifests.get(root.volume_id) if root else None
        fields: dict[str, Any] = {
            "kind": KIND,
            "resource_id": self.instance_id,
            "account": self.account,
            "region": self.region,
            "job_id": self.job.job_id,
            "native": {
                devices.get(v, v): s for v, s in sorted(by_volume.items(), key=lambda i: devices.get(i[0], i[0]))
            },
            "library": self.library if copies else None,
            "library_snapshot": library_snapshot or next(iter(manifests.values()), None),
            "captured_config": {
                "instance": config.to_json(),
                "snapshots": by_volume,
                "snapshot_role": ROLE_BASE if self.copying else ROLE_RECOVERY_POINT,
                "library_snapshots": manifests,
            },
            "stats": stats,
        }
        # Written under the planned ID, or updated when a killed run wrote it already: one point per job.
        self.catalog.put_recovery_point(point_id, **fields)
        # The snapshots now belong to the recovery point: no longer intermediates of this job. After the write:
        # a run killed in between leaves them live, and ``prepare_resume`` releases them as the point exists.
        self.job.release(token)
        return point_id

    def _retire_older(self, point_id: str, keep: set[str]) -> dict[str, Any]:
        """Retire the bases of every point of this instance (same account, region, library) recorded before this
        one: the next copy starts from this point's bases, so older ones only cost money. Not only the previous
        point's: two backups of one instance that ran side by side both started from the same previous point, and
        the one recorded first would otherwise keep its bases forever."""
        deleted: list[str] = []
        for older in older_points(self.catalog, self.account, self.region, self.instance_id, self.library, point_id):
            deleted.extend(self._retire(older, keep)["deleted"])
        return {"deleted": deleted}

    def _retire(self, previous: RecoveryPoint, keep: set[str]) -> dict[str, Any]:
        """Delete a point's base snapshots; one already gone counts as retired (a resumed run)."""
        if previous.captured_config.get("snapshot_role") != ROLE_BASE:
            return {"deleted": []}
        candidates = [s for s in previous.captured_config.get("snapshots", {}).values() if s not in keep]
        for snapshot_id in candidates:
            try:
                snapshots.delete_managed_snapshot(self.factory, self.account, self.region, snapshot_id)
            except Exception as exc:  # a base left behind costs money, not data: report it, finish the backup
                self.warn(f"could not delete previous base snapshot {snapshot_id}: {exc}")
        remaining = snapshots.existing_snapshots(self.factory, self.account, self.region, candidates)
        retired = [s for s in candidates if s not in remaining]
        earlier = list(previous.captured_config.get("retired_snapshots", []))
        native = {d: s for d, s in previous.native.items() if s not in retired}
        noted = {**previous.captured_config, "retired_snapshots": sorted(set(earlier) | set(retired))}
        self.catalog.update_recovery_point(previous.id, native=native, captured_config=noted)
        return {"deleted": retired}
