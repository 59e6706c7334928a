"""Restore an EC2 recovery point: to a new instance (any region or account), to volumes only, or over the original.

Sources: the recovery point's native snapshots (same account and region only) or the library copy, written into
new snapshots in the target account/region with StartSnapshot/PutSnapshotBlock/CompleteSnapshot (every block
checksummed, the whole snapshot sealed with the aggregate checksum). Written snapshots and the AMI registered to
launch are intermediates of the restore job: recorded before they exist, deleted when the job ends, on failure too.

``--target original`` (confirmed only): the original is stopped and kept until the replacement runs and passes
verification, then terminated; if anything fails before that, the replacement is removed and the original is
started again. Every action is listed in the result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, Job, RecoveryPoint
from skyvault.errors import (
    ConfirmationRequiredError,
    ConflictError,
    JobError,
    LibraryError,
    NotFoundError,
    SkyvaultError,
)
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import ALLOW_OVERWRITE_TAG
from skyvault.services.base import tags_from_list
from skyvault.services.contract import JobEnvironment
from skyvault.services.ec2 import launch, snapshots, waiting
from skyvault.services.ec2.capture import InstanceConfig, VolumeConfig
from skyvault.services.ec2.cleanup import IMAGE, INSTANCES, SNAPSHOTS, VOLUMES, recorder
from skyvault.services.ec2.copy import LIBRARY_KIND
from skyvault.services.ec2.ebs_direct import BLOCK_SIZE, ParallelPuts, SnapshotWriter
from skyvault.services.ec2.launch import Placement
from skyvault.services.ec2.tagging import ROLE_INTERMEDIATE, ROLE_RESTORED, new_token, skyvault_tags

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

JOB_KIND = "restore-ec2"
VOLUMES_AT_ONCE = 4  # volumes written from the library at once (as a backup copies them)
_INSTANCE_ARN = "arn:${Partition}:ec2:${Region}:${Account}:instance/*"

STOP_ORIGINAL = declare(
    policy="ec2",
    service="ec2",
    operation="StopInstances",
    feature=Feature.RESTORE_OVERWRITE,
    step="replace original instance",
    purpose="Stop the original instance (kept, not deleted) before its replacement is launched.",
    resources=(_INSTANCE_ARN,),
    destructive=True,
)
START_ORIGINAL = declare(
    policy="ec2",
    service="ec2",
    operation="StartInstances",
    feature=Feature.RESTORE_OVERWRITE,
    step="replace original instance",
    purpose="Start the original instance again when its replacement failed.",
    resources=(_INSTANCE_ARN,),
    destructive=True,
)
TERMINATE_ORIGINAL = declare(
    policy="ec2",
    service="ec2",
    operation="TerminateInstances",
    feature=Feature.RESTORE_OVERWRITE,
    step="replace original instance",
    purpose="Terminate the original instance once its replacement runs and passed verification.",
    resources=(_INSTANCE_ARN,),
    destructive=True,
)
DESCRIBE_ORIGINAL = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeInstances",
    feature=Feature.RESTORE_OVERWRITE,
    step="replace original instance",
    purpose="Find the original instance and wait until it is stopped or terminated.",
)


@dataclass
class RestoreOptions:
    account: str
    region: str
    source: str  # snapshot | library
    target: str = "new"  # new | original
    instance_type: str | None = None
    subnet_id: str | None = None
    volumes_only: bool = False
    confirmed: bool = False
    name: str | None = None  # the restored instance's Name tag (default: the original's)


@dataclass
class RestoreOutcome:
    recovery_point: str
    job_id: str
    account: str
    region: str
    source: str
    instance_id: str | None = None
    volume_ids: dict[str, str] = field(default_factory=dict)  # device -> restored volume ID (docs/ec2.md)
    snapshot_ids: list[str] = field(default_factory=list)
    image_id: str | None = None
    replaced_instance_id: str | None = None
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "recovery_point": self.recovery_point,
            "job_id": self.job_id,
            "account": self.account,
            "region": self.region,
            "from": self.source,
            "instance_id": self.instance_id,
            "volume_ids": self.volume_ids,
            "snapshot_ids": self.snapshot_ids,
            "image_id": self.image_id,
        }
        if self.replaced_instance_id:
            data["replaced_instance_id"] = self.replaced_instance_id
        data["actions"] = self.actions
        data["warnings"] = self.warnings
        data["stats"] = self.stats
        return data


def _manifests(point: RecoveryPoint) -> dict[str, str]:
    return dict(point.captured_config.get("library_snapshots", {}))


def choose_source(point: RecoveryPoint, requested: str | None, same_place: bool, native_alive: bool) -> str:
    """``--from``, else the native snapshots when they can serve (same account and region, still there)."""
    if requested not in (None, "snapshot", "library"):
        raise LibraryError(f"--from must be 'snapshot' or 'library', not {requested!r}")
    if requested == "snapshot" or (requested is None and same_place and native_alive):
        if not same_place:
            raise ConflictError(
                "native snapshots restore only in their own account and region",
                hint="restore from the library copy: --from library",
            )
        if not native_alive:
            raise NotFoundError(
                f"the native snapshots of {point.id} are gone (retired after a newer copy, or deleted)",
                hint="restore from the library copy: --from library",
            )
        return "snapshot"
    if not point.library or not _manifests(point):
        raise LibraryError(f"recovery point {point.id} has no library copy", hint="restore with --from snapshot")
    return "library"


def _block_writer(puts: ParallelPuts) -> Callable[[int, bytes], None]:
    def write(offset: int, data: bytes) -> None:
        puts.submit(offset // BLOCK_SIZE, data)

    return write


class _Restore:
    def __init__(
        self,
        factory: ClientFactory,
        point: RecoveryPoint,
        options: RestoreOptions,
        repo_opener: Callable[[], Repository] | None,
    ) -> None:
        self.factory = factory
        self.point = point
        self.options = options
        self.open_repo = repo_opener
        self.config = InstanceConfig.from_json(point.captured_config["instance"])
        self.snapshots_by_volume: dict[str, str] = dict(point.captured_config.get("snapshots", {}))
        self._record_lock = threading.Lock()

    def __call__(self, job: JobContext) -> RestoreOutcome:
        started = time.monotonic()
        o = self.options
        outcome = RestoreOutcome(self.point.id, job.job_id, o.account, o.region, o.source)
        target_account_id = self.factory.account_id(o.account)
        placement = launch.resolve_placement(
            self.factory, self.config, account=o.account, region=o.region,
            target_account_id=target_account_id, subnet_id=o.subnet_id,
        )  # fmt: skip
        outcome.warnings.extend(placement.warnings)
        written: dict[str, Any] = {}
        if o.source == "library":
            written = job.step("write snapshots", lambda: self._write_from_library(job))
            source_snapshots = dict(written["snapshots"])
        else:
            source_snapshots = self.snapshots_by_volume
        outcome.snapshot_ids = [
            source_snapshots[v.volume_id] for v in self._volumes() if v.volume_id in source_snapshots
        ]
        if o.volumes_only:
            created = self._create_volumes(job, placement, source_snapshots)
            outcome.volume_ids = {v.device: created[v.volume_id] for v in self._volumes() if v.volume_id in created}
        elif o.target == "original":
            self._replace_original(job, placement, source_snapshots, outcome)
        else:
            self._launch(job, placement, source_snapshots, outcome)
        outcome.stats = {
            "blocks_written": int(written.get("blocks_written", 0)),
            "bytes_written": int(written.get("bytes_written", 0)),
            "throttles": int(written.get("throttles", 0)),
            "api_calls": dict(sorted(job.api_calls().items())),
            "duration_s": round(time.monotonic() - started, 3),
        }
        if outcome.image_id:
            outcome.actions.append(f"temporary AMI {outcome.image_id} is deregistered at the end of the job")
        if o.source == "library":
            outcome.actions.append("snapshots written from the library are deleted at the end of the job")
        return outcome

    def _volumes(self) -> list[VolumeConfig]:
        return sorted(self.config.volumes, key=lambda v: v.device)

    def _tags(self, job: JobContext, role: str, token: str | None = None, **extra: str) -> dict[str, str]:
        return skyvault_tags(job_id=job.job_id, source=self.point.id, role=role, token=token, **extra)

    # -- library -> new snapshots -----------------------------------------------------------------------
    def _write_from_library(self, job: JobContext) -> dict[str, Any]:
        """Each volume's library copy written into a new snapshot, up to ``VOLUMES_AT_ONCE`` volumes at a time (they
        share the account's PutSnapshotBlock rate); the first failure is raised once the running ones end."""
        if self.open_repo is None:
            raise LibraryError("restoring from the library needs the library (no opener was given)")
        repo = self.open_repo()
        o = self.options
        reading = None
        written: list[tuple[str, SnapshotWriter]] = []
        try:
            # Shared: a prune (exclusive) cannot remove the data this restore reads, nor start while it runs.
            reading = repo.lock(purpose=f"restore {self.point.id}")
            todo = []
            for volume in self._volumes():
                manifest_id = _manifests(self.point).get(volume.volume_id)
                if manifest_id is None:
                    continue
                manifest = repo.load_snapshot(manifest_id)
                manifest.expect(
                    f"volume {volume.volume_id} of {self.point.id}", kind=LIBRARY_KIND, volume_id=volume.volume_id
                )
                if manifest.block_size != BLOCK_SIZE:
                    raise LibraryError(f"library snapshot {manifest.id} uses {manifest.block_size}-byte blocks")
                todo.append((volume, manifest))
            if todo:
                with job.executor(max_workers=min(VOLUMES_AT_ONCE, len(todo)), thread_name_prefix="restore") as pool:
                    futures = [pool.submit(self._write_volume, job, repo, v, m) for v, m in todo]
                    wait(futures)
                for (volume, _manifest), future in zip(todo, futures, strict=True):
                    written.append((volume.volume_id, future.result()))  # the first failure, in device order
        finally:
            if reading is not None:
                reading.release()
            repo.close()
        result = {volume_id: str(writer.snapshot_id) for volume_id, writer in written}
        snapshots.wait_completed(self.factory, o.account, o.region, list(result.values()))
        return {
            "snapshots": result,
            "blocks_written": sum(w.blocks_written for _, w in written),
            "bytes_written": sum(w.bytes_written for _, w in written),
            "throttles": sum(w.flow.throttles for _, w in written),
        }

    def _write_volume(
        self, job: JobContext, repo: Repository, volume: VolumeConfig, manifest: Manifest
    ) -> SnapshotWriter:
        o = self.options
        token = new_token()
        with self._record_lock:  # catalog writes one at a time
            job.intermediate(SNAPSHOTS, token, o.account, o.region)
        writer = SnapshotWriter(self.factory.client(o.account, o.region, "ebs"))
        same_account = self.factory.account_id(o.account) == self.config.account_id
        writer.start(
            volume_size_gib=max(volume.size_gib, -(-manifest.size // 1024**3)),
            tags=self._tags(job, ROLE_INTERMEDIATE, token, device=volume.device),
            description=f"skyvault restore of {volume.volume_id} from {self.point.id}",
            client_token=token,
            encrypted=volume.encrypted,
            # A customer key of the source account/region is not usable elsewhere: the target's default.
            kms_key_arn=volume.kms_key_id if same_account and o.region == self.config.region else None,
        )
        with self._record_lock:
            recorder(job, SNAPSHOTS, token, o.account, o.region)(str(writer.snapshot_id))
        job.progress(f"writing {volume.device} ({volume.size_gib} GiB) from the library")
        # The library's readers decode packs; the writes go out from their own threads, enough of them in flight to
        # reach the snapshot's quota under latency (paced by its rate and the account's, shared by the volumes).
        with ParallelPuts(writer) as puts:
            BlockReader(repo, manifest).restore(_block_writer(puts))
        writer.complete()
        return writer

    # -- volumes only -------------------------------------------------------------------------------------
    def _create_volumes(self, job: JobContext, placement: Placement, source: dict[str, str]) -> dict[str, str]:
        token = new_token()
        job.intermediate(VOLUMES, token, placement.account, placement.region)  # until every volume is available
        tags_for = {
            v.volume_id: self._tags(job, ROLE_RESTORED, token, device=v.device, volume=v.volume_id)
            for v in self.config.volumes
        }
        record = recorder(job, VOLUMES, token, placement.account, placement.region, release_token=False)
        created = launch.create_volumes(
            self.factory, placement, self.config, source, tags_for=tags_for, on_created=record
        )
        for volume_id in created.values():
            job.release(volume_id)
        job.release(token)
        return created

    # -- new instance ---------------------------------------------------------------------------------------
    def _launch(self, job: JobContext, placement: Placement, source: dict[str, str], outcome: RestoreOutcome) -> None:
        o = self.options
        image_token = new_token()
        job.intermediate(IMAGE, image_token, placement.account, placement.region)
        outcome.image_id = launch.register_image(
            self.factory, placement, self.config, source,
            name=f"skyvault-restore-{self.point.id}-{image_token}",
            tags=self._tags(job, ROLE_INTERMEDIATE, image_token),
            on_created=recorder(job, IMAGE, image_token, placement.account, placement.region),
        )  # fmt: skip
        instance_token = new_token()
        # Until it runs and passes verification, the new instance is an intermediate: a failure terminates it.
        job.intermediate(INSTANCES, instance_token, placement.account, placement.region)
        instance_id = launch.run_instance(
            self.factory, placement, self.config, image_id=outcome.image_id, snapshots=source,
            instance_type=self.options.instance_type,
            tags={**self._tags(job, ROLE_RESTORED, instance_token), **({"Name": o.name} if o.name else {})},
            client_token=instance_token,
            on_created=recorder(job, INSTANCES, instance_token, placement.account, placement.region),
        )  # fmt: skip
        outcome.instance_id = instance_id
        outcome.volume_ids = launch.verify_instance(self.factory, placement, self.config, instance_id)
        job.release(instance_id)
        outcome.actions.append(f"launched {instance_id} in {placement.subnet_id} ({placement.availability_zone})")

    # -- over the original ------------------------------------------------------------------------------------
    def _replace_original(
        self, job: JobContext, placement: Placement, source: dict[str, str], outcome: RestoreOutcome
    ) -> None:
        if not self.options.confirmed:
            raise ConfirmationRequiredError(
                "replacing the original instance needs explicit confirmation; nothing was changed",
                hint="add --yes (or restore with --target new)",
            )
        if not placement.same_place:
            raise ConflictError("the original instance lives in the recovery point's own account and region")
        original = self.config.instance_id
        ec2 = self.factory.client(placement.account, placement.region, "ec2")
        reservations = ec2.describe_instances(InstanceIds=[original]).get("Reservations", [])
        found = reservations[0]["Instances"][0] if reservations else {}
        state = found.get("State", {}).get("Name", "terminated")
        if found and tags_from_list(found.get("Tags")).get(ALLOW_OVERWRITE_TAG) != "true":
            outcome.warnings.append(
                f"{original} is not tagged {ALLOW_OVERWRITE_TAG}=true: the restricted policy refuses to replace it"
            )
        if state in ("terminated", "shutting-down"):
            raise NotFoundError(f"the original instance {original} is {state}", hint="restore with --target new")
        stopped_by_us = False
        if state != "stopped":
            ec2.stop_instances(InstanceIds=[original])
            waiting.instances_in(self.factory, placement.account, placement.region, [original], "stopped")
            stopped_by_us = True
            outcome.actions.append(f"stopped original {original} (kept until the replacement is verified)")
        try:
            self._launch(job, placement, source, outcome)
        except BaseException as exc:
            if stopped_by_us:
                try:
                    ec2.start_instances(InstanceIds=[original])
                    outcome.actions.append(f"replacement failed: started original {original} again")
                except SkyvaultError as start_error:  # report it, but the launch failure is the cause to show
                    outcome.actions.append(f"replacement failed; could not start {original} again: {start_error}")
            raise JobError(
                f"replacing {original} failed, the original was kept: {exc}; actions: {'; '.join(outcome.actions)}"
            ) from exc
        ec2.terminate_instances(InstanceIds=[original])
        outcome.replaced_instance_id = original
        outcome.actions.append(f"terminated original {original} after {outcome.instance_id} was verified")
        kept = [v.volume_id for v in self.config.volumes if not v.delete_on_termination]
        if kept:
            outcome.actions.append(f"original volumes kept (DeleteOnTermination=false): {', '.join(kept)}")


def prepare_resume(catalog: Catalog, job: Job) -> None:
    """A resumed restore keeps only its choice of source: the snapshots it wrote from the library were
    intermediates, deleted before it runs again, so they are written again (the AMI and instance steps follow)."""
    catalog.reset_steps(job.id, ("choose source",))


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-ec2``: params ``recovery_point``, ``target`` (new|original), ``confirmed``, ``account``,
    ``region``, ``source`` (snapshot|library|None: choose), ``name``, ``options`` (instance_type, subnet,
    volumes_only). The source is chosen in the first step, so a resumed restore reads from the same place."""
    params = spec.params
    factory = env.factory
    point = env.catalog.recovery_point(str(params["recovery_point"]))
    target = str(params.get("target") or "new")
    confirmed = bool(params.get("confirmed"))
    options = dict(params.get("options") or {})
    if target not in ("new", "original"):
        raise LibraryError(f"--target must be 'new' or 'original', not {target!r}")
    if target == "original" and not confirmed:
        # Checked again here (the CLI asks first): no code path may replace an instance unconfirmed.
        raise ConfirmationRequiredError(
            "restoring over the original needs explicit confirmation; nothing was changed",
            hint="add --yes (or restore with --target new)",
        )
    if point.kind != "ec2" or "instance" not in point.captured_config:
        raise LibraryError(f"recovery point {point.id} has no captured EC2 configuration")
    target_account = str(params.get("account") or point.account)
    target_region = str(params.get("region") or point.region)

    def choose() -> str:
        same_place = (
            factory.account_id(target_account) == factory.account_id(point.account) and target_region == point.region
        )
        native = list(point.captured_config.get("snapshots", {}).values())
        alive = (
            same_place
            and bool(native)
            and snapshots.existing_snapshots(factory, point.account, point.region, native) == set(native)
        )
        return choose_source(point, params.get("source"), same_place, alive)

    chosen: str = ctx.step("choose source", choose)
    launch.refuse_unlicensable(
        InstanceConfig.from_json(point.captured_config["instance"]),
        chosen,
        volumes_only=bool(options.get("volumes_only")),
    )
    restore_options = RestoreOptions(
        account=target_account,
        region=target_region,
        source=chosen,
        target=target,
        instance_type=options.get("instance_type"),
        subnet_id=options.get("subnet"),
        volumes_only=bool(options.get("volumes_only")),
        confirmed=confirmed,
        name=params.get("name"),
    )
    library = point.library

    def opener() -> Repository:
        return env.open_library(library)

    restore = _Restore(factory, point, restore_options, opener if library else None)
    return restore(ctx).to_json()
