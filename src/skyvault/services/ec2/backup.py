"""Back up one EC2 instance: capture, crash-consistent snapshots, changed-block copy into the library, catalog.

Steps (job steps: a resumed job skips the finished ones):

1. ``capture``: the configuration needed to rebuild the instance (``capture.InstanceConfig``);
2. ``snapshot``: ``CreateSnapshots`` of all volumes at once, tagged (role ``base`` with a copy, else
   ``recovery-point``), recorded as the job's intermediates by token *before* the call: a job that fails before
   its recovery point is recorded leaves no snapshot behind. With ``app_consistent`` the SSM pre script runs just
   before and the post script right after (always, even when the snapshot call fails);
3. ``wait``: until the snapshots are completed;
4. ``copy <volume>``: each snapshot into the library, incremental against the previous recovery point's
   manifest, listing changed blocks against its base snapshot;
5. ``record``: the recovery point (native snapshot per device, library manifest per volume, configuration,
   stats); the snapshots stop being intermediates;
6. ``retire bases``: with a copy, the previous recovery point's base snapshots are deleted (one base per volume
   is enough for the next changed-block copy; the library holds the older points).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.engine.jobs import JobContext, JobRunner
from skyvault.errors import NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services.base import Target
from skyvault.services.ec2 import agents, snapshots
from skyvault.services.ec2.capture import InstanceConfig, capture_instance
from skyvault.services.ec2.cleanup import SNAPSHOTS
from skyvault.services.ec2.copy import DEFAULT_WORKERS, CopySource, copy_snapshot
from skyvault.services.ec2.tagging import ROLE_BASE, ROLE_RECOVERY_POINT, new_token, skyvault_tags

KIND = "ec2"
JOB_KIND = "backup-ec2"


@dataclass(frozen=True)
class BackupOptions:
    copy: bool = True
    library: str | None = None  # the configured library's name (recorded with the recovery point)
    app_consistent: bool = False
    workers: int = DEFAULT_WORKERS


@dataclass
class BackupOutcome:
    recovery_point: str
    job_id: str
    stats: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"recovery_point": self.recovery_point, "job_id": self.job_id, "stats": self.stats}


def _api_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in sorted(after.items()) if n - before.get(op, 0) > 0}


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


class _InstanceBackup:
    """One job body: the instance's backup, step by step."""

    def __init__(
        self,
        factory: ClientFactory,
        catalog: Catalog,
        repo: Repository | None,
        account: str,
        region: str,
        instance_id: str,
        options: BackupOptions,
        progress: Callable[[str], None],
    ) -> None:
        self.factory = factory
        self.catalog = catalog
        self.repo = repo
        self.account = account
        self.region = region
        self.instance_id = instance_id
        self.options = options
        self.say = progress
        self.warnings: list[str] = []

    @property
    def copying(self) -> bool:
        return self.options.copy and self.repo is not None and self.options.library is not None

    def __call__(self, job: JobContext) -> BackupOutcome:
        started = time.monotonic()
        before = self.factory.guard.counts()
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
        snapped: dict[str, Any] = job.step("snapshot", lambda: self._snapshot(job, config))
        token, taken = str(snapped["token"]), dict(snapped["snapshots"])
        job.step(
            "wait", lambda: snapshots.wait_completed(self.factory, self.account, self.region, sorted(taken.values()))
        )
        previous = (
            previous_copy_point(self.catalog, self.account, self.region, self.instance_id, self.options.library or "")
            if self.copying
            else None
        )
        copies: dict[str, dict[str, Any]] = {}
        if self.copying:
            for volume in config.volumes:
                snapshot_id = taken.get(volume.volume_id)
                if snapshot_id is None:
                    continue
                copy_one = functools.partial(self._copy, job, target, config, volume.volume_id, snapshot_id, previous)
                copies[volume.volume_id] = job.step(f"copy {volume.volume_id}", copy_one)
        for copy in copies.values():
            self.warnings.extend(copy.get("warnings", []))
        stats = self._stats(copies, before, started)
        point_id: str = job.step("record", lambda: self._record(job, config, token, taken, copies, stats))
        if self.copying and previous is not None:
            job.step("retire bases", lambda: self._retire(previous, set(taken.values())))
        stats["api_calls"] = _api_delta(before, self.factory.guard.counts())
        stats["duration_s"] = round(time.monotonic() - started, 3)
        stats["warnings"] = list(self.warnings)  # retiring old bases may have added some
        self.catalog.update_recovery_point(point_id, stats=stats)
        return BackupOutcome(recovery_point=point_id, job_id=job.job_id, stats=stats, warnings=self.warnings)

    def _snapshot(self, job: JobContext, config: InstanceConfig) -> dict[str, Any]:
        token = new_token()
        role = ROLE_BASE if self.copying else ROLE_RECOVERY_POINT
        tags = skyvault_tags(job_id=job.job_id, source=self.instance_id, role=role, token=token)
        job.intermediate(SNAPSHOTS, token, self.account, self.region)
        self.say(f"snapshotting {len(config.volumes)} volume(s) of {self.instance_id}")
        if self.options.app_consistent:
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
            if self.options.app_consistent:
                agents.run_script(
                    self.factory,
                    self.account,
                    self.region,
                    self.instance_id,
                    agents.POST_COMMANDS,
                    comment=f"skyvault post-snapshot {job.job_id}",
                )
        return {"token": token, "snapshots": taken}

    def _copy(
        self,
        job: JobContext,
        target: Target,
        config: InstanceConfig,
        volume_id: str,
        snapshot_id: str,
        previous: RecoveryPoint | None,
    ) -> dict[str, Any]:
        assert self.repo is not None
        parent, base = self._parent_and_base(previous, volume_id)
        volume = config.volume(volume_id)
        self.say(
            f"copying {volume_id} ({volume.device}) from {snapshot_id}" + (f", changes since {base}" if base else "")
        )

        def progress(done: int, total: int) -> None:
            job.progress(f"{volume_id}: {done}/{total} blocks", done, total)

        copied = copy_snapshot(
            self.factory,
            self.repo,
            CopySource(self.account, self.region, volume_id, target.arn("ec2", f"volume/{volume_id}"), snapshot_id),
            parent=parent,
            base_snapshot_id=base,
            meta={"instance": config.to_json(), "device": volume.device, "job": job.job_id},
            workers=self.options.workers,
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
            self.warnings.append(f"{volume_id}: previous base snapshot {base} no longer exists; full read")
            base = None
        return parent, base

    def _stats(self, copies: dict[str, dict[str, Any]], before: dict[str, int], started: float) -> dict[str, Any]:
        def total(key: str) -> int:
            return sum(int(c.get(key, 0)) for c in copies.values())

        return {
            "blocks_listed": total("blocks_listed"),
            "blocks_read": total("blocks_read"),
            "bytes_read": total("bytes_read"),
            "bytes_stored": total("bytes_stored"),
            "api_calls": _api_delta(before, self.factory.guard.counts()),
            "duration_s": round(time.monotonic() - started, 3),
            "volumes": {
                volume_id: {k: c[k] for k in ("mode", "blocks_listed", "blocks_read", "bytes_stored", "duration_s")}
                for volume_id, c in copies.items()
            },
            "warnings": list(self.warnings),
        }

    def _record(
        self,
        job: JobContext,
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
        # The snapshots now belong to the recovery point: no longer intermediates of this job.
        job.release(token)
        point = self.catalog.add_recovery_point(
            kind=KIND,
            resource_id=self.instance_id,
            account=self.account,
            region=self.region,
            job_id=job.job_id,
            native={devices.get(v, v): s for v, s in sorted(by_volume.items(), key=lambda i: devices.get(i[0], i[0]))},
            library=self.options.library if copies else None,
            library_snapshot=library_snapshot or next(iter(manifests.values()), None),
            captured_config={
                "instance": config.to_json(),
                "snapshots": by_volume,
                "snapshot_role": ROLE_BASE if self.copying else ROLE_RECOVERY_POINT,
                "library_snapshots": manifests,
            },
            stats=stats,
        )
        return point.id

    def _retire(self, previous: RecoveryPoint, keep: set[str]) -> dict[str, Any]:
        if previous.captured_config.get("snapshot_role") != ROLE_BASE:
            return {"deleted": []}
        deleted: list[str] = []
        for snapshot_id in previous.captured_config.get("snapshots", {}).values():
            if snapshot_id in keep:
                continue
            try:
                if snapshots.delete_managed_snapshot(self.factory, self.account, self.region, snapshot_id):
                    deleted.append(snapshot_id)
            except Exception as exc:  # a base left behind costs money, not data: report it, finish the backup
                self.warnings.append(f"could not delete previous base snapshot {snapshot_id}: {exc}")
                continue
        native = {d: s for d, s in previous.native.items() if s not in deleted}
        retired = {**previous.captured_config, "retired_snapshots": deleted}
        self.catalog.update_recovery_point(previous.id, native=native, captured_config=retired)
        return {"deleted": deleted}


def backup_instance(
    runner: JobRunner,
    *,
    catalog: Catalog,
    account: str,
    region: str,
    instance_id: str,
    repo: Repository | None,
    options: BackupOptions,
    progress: Callable[[str], None] | None = None,
) -> BackupOutcome:
    """Back up one instance as one job; returns the recovery point and its stats (``--json`` shape)."""
    body = _InstanceBackup(
        runner.factory, catalog, repo, account, region, instance_id, options, progress or (lambda _m: None)
    )
    params = {
        "instance_id": instance_id,
        "account": account,
        "region": region,
        "copy": body.copying,
        "library": options.library,
        "app_consistent": options.app_consistent,
    }
    return runner.run(JOB_KIND, params, body)


def resume_backup_instance(
    runner: JobRunner,
    job_id: str,
    *,
    catalog: Catalog,
    repo: Repository | None,
    options: BackupOptions,
    progress: Callable[[str], None] | None = None,
) -> BackupOutcome:
    """Resume a failed or crashed backup job: the capture is kept, the snapshots are taken again.

    Until the ``record`` step the snapshots are intermediates of the job, so a failed run's cleanup (or the
    runner's resume, for a crashed run) deletes them: everything after ``capture`` is then forgotten so the resumed
    job snapshots and copies again rather than reading snapshots that are gone. Once recorded, nothing repeats.
    """
    job = catalog.job(job_id)
    params = job.params
    account, region, instance_id = str(params["account"]), str(params["region"]), str(params["instance_id"])
    if job.steps.get("record", {}).get("status") != "done":
        catalog.reset_steps(job_id, keep=["capture"])
    body = _InstanceBackup(
        runner.factory, catalog, repo, account, region, instance_id, options, progress or (lambda _m: None)
    )
    return runner.resume(job_id, body)
