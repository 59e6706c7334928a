"""``convert-image``: VM disk images (or image recovery points of the library) become an EC2 instance or volumes.

Method ``direct`` (the only one built): each disk is streamed into a new EBS snapshot through the EBS direct APIs
(``SnapshotWriter``: StartSnapshot, parallel PutSnapshotBlock with SHA-256 checksums, CompleteSnapshot with the
aggregate checksum). Blocks that are zero or unallocated in the image are never sent (EBS reads them as zeros).
Then, unless ``volumes_only``, a temporary AMI maps the snapshots (first disk: the root device ``/dev/xvda``, boot
mode, ENA, architecture) and the instance is launched from it and verified; with ``volumes_only`` each snapshot
becomes a volume. The snapshots and the AMI are intermediates of the job: recorded before they exist, removed when
the job ends (on failure too, and by ``jobs resume``/``cleanup`` after a kill). The instance and volumes are the
user's (tagged ``restored``).

Steps: ``preflight`` (formats, sizes, target reachable: nothing created), ``disk N: write`` per disk,
``launch``/``volumes``. A resumed job keeps its preflight; the snapshots of the killed attempt are intermediates
the runner deletes before it resumes, so the disks are written again.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, Job
from skyvault.errors import LibraryError, NotFoundError, PreflightError, SkyvaultError
from skyvault.library.diskformats import BLOCK_SIZE, GIB, ZERO_BLOCK, detect, open_image
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment, LibraryOpener
from skyvault.services.ec2 import launch, snapshots
from skyvault.services.ec2.capture import InstanceConfig, VolumeConfig
from skyvault.services.ec2.cleanup import IMAGE, INSTANCES, SNAPSHOTS, VOLUMES, recorder
from skyvault.services.ec2.ebs_direct import SnapshotWriter
from skyvault.services.ec2.tagging import ROLE_INTERMEDIATE, ROLE_RESTORED, new_token, skyvault_tags, tag_specifications
from skyvault.services.image import permissions as _permissions  # noqa: F401 - declares the convert row
from skyvault.services.image import vmimport
from skyvault.services.image.backup import KIND

if TYPE_CHECKING:
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

JOB_KIND = f"convert-{KIND}"  # the image driver's CONVERT_JOB
METHODS = ("direct", "vmimport")
BOOT_MODES = ("legacy-bios", "uefi")
ARCHITECTURES = ("x86_64", "arm64")
ROOT_DEVICE = "/dev/xvda"
DATA_DEVICES = tuple(f"/dev/sd{letter}" for letter in "fghijklmnop")
DEFAULT_WRITERS = 8
DEFAULT_VOLUME_TYPE = "gp3"
MAX_VOLUME_GIB = 16384  # gp3's largest volume (16 TiB)
# Burstable general-purpose types by (vCPUs, memory MiB), smallest first: what an OVA's hardware section maps to.
INSTANCE_TYPES = (
    ("t3.micro", 2, 1024),
    ("t3.small", 2, 2048),
    ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192),
    ("t3.xlarge", 4, 16384),
    ("t3.2xlarge", 8, 32768),
)


def suggest_instance_type(cpus: int | None, memory_mib: int | None) -> str:
    for name, vcpus, memory in INSTANCE_TYPES:
        if (cpus or 1) <= vcpus and (memory_mib or 0) <= memory:
            return name
    return INSTANCE_TYPES[-1][0]


# -- sources --------------------------------------------------------------------------------------------------
@dataclass
class DiskPlan:
    source: str  # the SOURCE argument (file, or recovery point ID)
    index: int  # the disk's position in that source (OVA: several)
    name: str
    format: str
    variant: str
    virtual_size: int
    volume_size_gib: int
    device: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _library_manifest(catalog: Catalog, repo: Repository, point_id: str) -> Any:
    point = catalog.recovery_point(point_id)
    if point.kind != KIND:
        raise LibraryError(f"recovery point {point_id} is a {point.kind} backup; convert reads image backups")
    if not point.library_snapshot:
        raise LibraryError(f"recovery point {point_id} has no library copy")
    manifest = repo.load_snapshot(point.library_snapshot)
    manifest.expect(f"recovery point {point.id}", kind=KIND, path=point.resource_id)
    if manifest.block_size != BLOCK_SIZE:
        raise LibraryError(
            f"recovery point {point_id} uses {manifest.block_size}-byte blocks; convert writes {BLOCK_SIZE}-byte "
            "EBS blocks",
            hint="restore it with --to-file and convert the file",
        )
    return point, manifest


def inspect_sources(
    sources: list[dict[str, str]], catalog: Catalog, open_library: LibraryOpener
) -> tuple[list[DiskPlan], dict[str, Any]]:
    """Every disk of every SOURCE, in order (first: the boot disk), and the VM's CPUs/memory from an OVA."""
    disks: list[DiskPlan] = []
    vm: dict[str, Any] = {}
    for source in sources:
        if "path" in source:
            with open_image(source["path"]) as image:
                for index, found in enumerate(image.disks):
                    disks.append(
                        DiskPlan(source["path"], index, found.name, found.format, found.variant, found.virtual_size,
                                 found.volume_size_gib)
                    )  # fmt: skip
                if image.cpus or image.memory_mib:
                    vm.setdefault("cpus", image.cpus)
                    vm.setdefault("memory_mib", image.memory_mib)
                    vm.setdefault("name", image.vm_name)
        else:
            point = catalog.recovery_point(source["recovery_point"])
            repo = open_library(point.library)
            try:
                point, manifest = _library_manifest(catalog, repo, point.id)
            finally:
                repo.close()
            size = int(manifest.size)
            gib = max(1, -(-size // GIB))
            disks.append(DiskPlan(point.id, 0, point.resource_id, "library", "image recovery point", size, gib))
    if not disks:
        raise PreflightError("no disk to convert")
    too_big = [d for d in disks if d.volume_size_gib > MAX_VOLUME_GIB]
    if too_big:
        raise PreflightError(
            f"{too_big[0].name}: virtual size {too_big[0].volume_size_gib} GiB; an EBS volume holds at most "
            f"{MAX_VOLUME_GIB} GiB (gp3)"
        )
    if len(disks) > 1 + len(DATA_DEVICES):
        raise PreflightError(f"{len(disks)} disks: convert attaches at most {1 + len(DATA_DEVICES)}")
    for position, disk in enumerate(disks):
        disk.device = ROOT_DEVICE if position == 0 else DATA_DEVICES[position - 1]
    return disks, vm


def _image_blocks(path: str, index: int) -> Iterator[tuple[int, bytes]]:
    with open_image(path) as image:
        yield from image.disks[index].blocks()


# -- the job --------------------------------------------------------------------------------------------------
@dataclass
class ConvertOptions:
    account: str
    region: str
    method: str = "direct"
    instance_type: str | None = None
    subnet: str | None = None
    boot_mode: str | None = None
    architecture: str = "x86_64"
    volumes_only: bool = False
    volume_type: str = DEFAULT_VOLUME_TYPE
    name: str | None = None
    writers: int = DEFAULT_WRITERS
    bucket: str | None = None  # vmimport: where the images are uploaded (in the target region)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ConvertOptions:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in params.items() if k in known and v is not None})

    def check(self) -> None:
        if self.method not in METHODS:
            raise PreflightError(f"--method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.method == "vmimport" and not self.bucket:
            raise PreflightError(
                "--method vmimport uploads the images to S3 first: give --bucket BUCKET (a bucket of the target "
                "region that the vmimport role may read)",
                hint="'skyvault policy vmimport --bucket BUCKET' renders the role for that bucket",
            )
        if self.boot_mode is not None and self.boot_mode not in BOOT_MODES:
            raise PreflightError(f"--boot-mode must be one of {', '.join(BOOT_MODES)}, not {self.boot_mode!r}")
        if self.architecture not in ARCHITECTURES:
            raise PreflightError(f"--architecture must be one of {', '.join(ARCHITECTURES)}")
        if not 1 <= self.writers <= 64:
            raise PreflightError("writers must be 1..64")


def _config(options: ConvertOptions, disks: list[DiskPlan], instance_type: str, account_id: str) -> InstanceConfig:
    """The instance to build, in the shape the EC2 driver launches (no source instance: nothing to carry over)."""
    volumes = [
        VolumeConfig(device=d.device, volume_id=f"disk{i}", size_gib=d.volume_size_gib, volume_type=options.volume_type)
        for i, d in enumerate(disks)
    ]
    return InstanceConfig(
        instance_id=options.name or Path(disks[0].name).name, account_id=account_id, region=options.region,
        availability_zone=None, instance_type=instance_type, image_id=None, architecture=options.architecture,
        virtualization_type="hvm", ena_support=True, root_device_name=disks[0].device or ROOT_DEVICE,
        subnet_id=None, vpc_id=None,
        security_group_ids=[], key_name=None, iam_instance_profile_arn=None, user_data_b64=None, tags={},
        ebs_optimized=True, volumes=volumes, network_interfaces=[], boot_mode=options.boot_mode,
    )  # fmt: skip


def preflight(
    factory: ClientFactory, catalog: Catalog, open_library: LibraryOpener, params: dict[str, Any]
) -> dict[str, Any]:
    """What the conversion will do, checked before anything is created: the disks (format, virtual size, volume
    size in whole GiB, device), the instance type, and the target account/region/subnet (reached: STS and EC2)."""
    options = ConvertOptions.from_params(params)
    options.check()
    disks, vm = inspect_sources(list(params["sources"]), catalog, open_library)
    imported: dict[str, Any] = {}
    if options.method == "vmimport":
        imported = _vmimport_plan(factory, options, list(params["sources"]), disks)
    instance_type = options.instance_type or suggest_instance_type(vm.get("cpus"), vm.get("memory_mib"))
    try:
        account_id = factory.account_id(options.account)
        config = _config(options, disks, instance_type, account_id)
        placement = launch.resolve_placement(
            factory, config, account=options.account, region=options.region, target_account_id=account_id,
            subnet_id=options.subnet,
        )  # fmt: skip
    except NotFoundError:
        raise
    except SkyvaultError as exc:
        raise PreflightError(
            f"the target (account {options.account!r}, {options.region}) is not reachable: {exc}",
            hint=getattr(exc, "hint", None),
        ) from exc
    return {
        "method": options.method,
        "disks": [d.to_json() for d in disks],
        "boot_disk": disks[0].name,
        "boot_mode": options.boot_mode,
        "architecture": options.architecture,
        "vm": vm,
        "instance_type": None if options.volumes_only else instance_type,
        "volumes_only": options.volumes_only,
        "target": {
            "account": options.account,
            "account_id": account_id,
            "region": options.region,
            "subnet": placement.subnet_id,
            "availability_zone": placement.availability_zone,
        },
        "volume_gib_total": sum(d.volume_size_gib for d in disks),
        **imported,
    }


IMPORTED_DEVICES = ("/dev/sda1", *(f"/dev/sd{letter}" for letter in "bcdefghijklmnop"))  # VM Import's AMI layout


def _vmimport_plan(
    factory: ClientFactory, options: ConvertOptions, sources: list[dict[str, str]], disks: list[DiskPlan]
) -> dict[str, Any]:
    """What VM Import will be asked: per source file its DiskContainer Format; ImportImage (one AMI of every
    disk) or, with --volumes-only and formats ImportSnapshot takes, one ImportSnapshot per disk. Checks the
    bucket is in the target region and the vmimport role exists (when GetRole is allowed)."""
    if any("path" not in s for s in sources):
        raise PreflightError(
            "--method vmimport uploads image files; a library recovery point converts with --method direct",
            hint="or restore it with 'skyvault restore POINT --to-file F' and convert the file",
        )
    formats: list[str] = []
    for source in sources:
        mine = [d for d in disks if d.source == source["path"]]
        with Path(source["path"]).open("rb") as handle:
            source_format = detect(handle)
        found = {vmimport.check_format(d.to_json(), source_format=source_format) for d in mine}
        formats.append(found.pop())
    if "OVA" in formats and len(sources) > 1:
        raise PreflightError("an OVA is imported on its own: give its disks in the OVA, or convert the files apart")
    for position, disk in enumerate(disks):
        disk.device = IMPORTED_DEVICES[position]
    by_snapshots = options.volumes_only and all(f in vmimport.SNAPSHOT_FORMATS for f in formats)
    bucket = str(options.bucket)
    s3 = factory.client(options.account, options.region, "s3")
    try:
        where = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except NotFoundError:
        raise PreflightError(f"bucket {bucket!r} does not exist (or is not visible to account {options.account!r})",
                             hint="create it in the target region first") from None  # fmt: skip
    if where != options.region:
        raise PreflightError(
            f"bucket {bucket!r} is in {where}; VM Import reads images from a bucket of the target region "
            f"({options.region})"
        )
    role = vmimport.role_state(factory, options.account, options.region)
    if role in ("missing", "untrusted"):
        raise PreflightError(
            f"the vmimport service role is {role} in account {options.account!r}: VM Import runs under it",
            hint=f"add --create-vmimport-role, or ask an administrator for the role "
            f"'skyvault policy vmimport --bucket {bucket}' renders",
        )
    return {
        "bucket": bucket,
        "import": "ImportSnapshot" if by_snapshots else "ImportImage",
        "import_formats": formats,
        "vmimport_role": role,
    }


class _Writer:
    """Blocks from one reader thread to ``writers`` PutSnapshotBlock threads, a bounded number in flight."""

    def __init__(self, job: JobContext, snapshot: SnapshotWriter, writers: int, label: str, total: int) -> None:
        self.job, self.snapshot, self.writers, self.label, self.total = job, snapshot, writers, label, total
        self.done = 0
        self._lock = threading.Lock()

    def put(self, index: int, data: bytes) -> None:
        if len(data) < BLOCK_SIZE:
            data = data + bytes(BLOCK_SIZE - len(data))
        if data == ZERO_BLOCK:
            return
        self.snapshot.put(index, data)
        with self._lock:
            self.done += 1
            done = self.done
        self.job.progress(f"writing {self.label}", done * BLOCK_SIZE, self.total, unit="bytes")

    def run(self, blocks: Iterator[tuple[int, bytes]]) -> None:
        pool = self.job.executor(self.writers, thread_name_prefix="convert")
        pending: set[Future[None]] = set()
        try:
            for index, data in blocks:
                if len(pending) >= self.writers * 2:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                pending.add(pool.submit(self.put, index, data))
            for future in pending:
                future.result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)


class _Convert:
    def __init__(self, job: JobContext, env: JobEnvironment, params: dict[str, Any]) -> None:
        self.job, self.env, self.params = job, env, params
        self.factory = env.factory
        self.options = ConvertOptions.from_params(params)
        self.sources: list[dict[str, str]] = list(params["sources"])

    def tags(self, role: str, token: str | None = None, **extra: str) -> dict[str, str]:
        source = self.options.name or Path(str(next(iter(self.sources[0].values())))).name
        return skyvault_tags(job_id=self.job.job_id, source=f"convert:{source}"[:255], role=role, token=token, **extra)

    def __call__(self) -> dict[str, Any]:
        started = time.monotonic()
        self.options.check()
        plan: dict[str, Any] = self.job.step(
            "preflight", lambda: preflight(self.factory, self.env.catalog, self.env.open_library, self.params)
        )
        disks = [DiskPlan(**d) for d in plan["disks"]]
        if self.options.method == "vmimport":
            return self._vmimport(plan, disks, started)
        written: list[dict[str, Any]] = []
        for position, disk in enumerate(disks):
            written.append(self.job.step(f"disk {position}: write", functools.partial(self._write, disk)))
        snapshot_ids = {f"disk{i}": str(w["snapshot_id"]) for i, w in enumerate(written)}
        snapshots.wait_completed(self.factory, self.options.account, self.options.region, list(snapshot_ids.values()))
        config = _config(self.options, disks, plan["instance_type"] or "", plan["target"]["account_id"])
        placement = launch.resolve_placement(
            self.factory, config, account=self.options.account, region=self.options.region,
            target_account_id=plan["target"]["account_id"], subnet_id=plan["target"]["subnet"],
        )  # fmt: skip
        result: dict[str, Any] = {
            "job_id": self.job.job_id,
            "method": self.options.method,
            "account": self.options.account,
            "region": self.options.region,
            "disks": plan["disks"],
            "instance_id": None,
            "image_id": None,
            "volume_ids": {},
            "snapshot_ids": list(snapshot_ids.values()),
            "actions": [],
        }
        if self.options.volumes_only:
            created = self._volumes(placement, config, snapshot_ids)
            result["volume_ids"] = {d.device: created[f"disk{i}"] for i, d in enumerate(disks)}
        else:
            self._launch(placement, config, snapshot_ids, result)
        result["actions"].append("the snapshots written from the images are deleted at the end of the job")
        result["stats"] = {
            "blocks_written": sum(int(w["blocks_written"]) for w in written),
            "bytes_written": sum(int(w["bytes_written"]) for w in written),
            "logical_bytes": sum(d.virtual_size for d in disks),
            "api_calls": dict(sorted(self.job.api_calls().items())),
            "duration_s": round(time.monotonic() - started, 3),
        }
        return result

    # -- one disk -> one snapshot --------------------------------------------------------------------------
    def _blocks(self, disk: DiskPlan, writer: _Writer) -> None:
        source = next(s for s in self.sources if disk.source in s.values())
        if "path" in source:
            writer.run(_image_blocks(source["path"], disk.index))
            return
        point = self.env.catalog.recovery_point(source["recovery_point"])
        repo = self.env.open_library(point.library)
        try:
            with repo.lock(purpose=f"convert {point.id}"):  # shared: a prune cannot remove what is being read
                _point, manifest = _library_manifest(self.env.catalog, repo, point.id)
                reader = BlockReader(repo, manifest)
                reader.restore(lambda offset, data: writer.put(offset // BLOCK_SIZE, data), threads=writer.writers)
        finally:
            repo.close()

    def _write(self, disk: DiskPlan) -> dict[str, Any]:
        o = self.options
        token = new_token()
        self.job.intermediate(SNAPSHOTS, token, o.account, o.region)
        snapshot = SnapshotWriter(self.factory.client(o.account, o.region, "ebs"))
        snapshot.start(
            volume_size_gib=disk.volume_size_gib,
            tags=self.tags(ROLE_INTERMEDIATE, token, device=disk.device),
            description=f"skyvault convert of {disk.name}",
            client_token=token,
        )
        assert snapshot.snapshot_id is not None
        recorder(self.job, SNAPSHOTS, token, o.account, o.region)(snapshot.snapshot_id)
        writer = _Writer(self.job, snapshot, o.writers, f"{disk.device} from {disk.name}", disk.virtual_size)
        self._blocks(disk, writer)
        snapshot.complete()
        return {
            "snapshot_id": snapshot.snapshot_id,
            "blocks_written": snapshot.blocks_written,
            "bytes_written": snapshot.bytes_written,
        }

    # -- volumes only -------------------------------------------------------------------------------------------
    def _volumes(self, placement: launch.Placement, config: InstanceConfig, source: dict[str, str]) -> dict[str, str]:
        token = new_token()
        self.job.intermediate(VOLUMES, token, placement.account, placement.region)
        tags_for = {v.volume_id: self.tags(ROLE_RESTORED, token, device=v.device) for v in config.volumes}
        record = recorder(self.job, VOLUMES, token, placement.account, placement.region, release_token=False)
        created = launch.create_volumes(self.factory, placement, config, source, tags_for=tags_for, on_created=record)
        for volume_id in created.values():
            self.job.release(volume_id)
        self.job.release(token)
        return created

    # -- VM Import ----------------------------------------------------------------------------------------------------
    def _vmimport(self, plan: dict[str, Any], disks: list[DiskPlan], started: float) -> dict[str, Any]:
        o = self.options
        bucket = str(plan["bucket"])
        keys = [vmimport.object_key(self.job.job_id, i, s["path"]) for i, s in enumerate(self.sources)]
        for key in keys:  # recorded (again, on resume: see prepare_resume) before anything is uploaded
            self.job.intermediate(vmimport.UPLOAD, vmimport.upload_intermediate(bucket, key, new_token()),
                                  o.account, o.region)  # fmt: skip
        s3 = self.factory.client(o.account, o.region, "s3")
        uploads: list[dict[str, Any]] = []
        for position, (source, key) in enumerate(zip(self.sources, keys, strict=True)):
            upload = functools.partial(self._upload, s3, bucket, key, source["path"])
            uploads.append(self.job.step(f"upload {position}", upload))
        imported: dict[str, Any] = self.job.step("import", functools.partial(self._import, plan, uploads, disks))
        snapshot_ids = {f"disk{i}": str(s) for i, s in enumerate(imported["snapshot_ids"])}
        config = _config(o, disks, plan["instance_type"] or "", plan["target"]["account_id"])
        placement = launch.resolve_placement(
            self.factory, config, account=o.account, region=o.region,
            target_account_id=plan["target"]["account_id"], subnet_id=plan["target"]["subnet"],
        )  # fmt: skip
        result: dict[str, Any] = {
            "job_id": self.job.job_id, "method": o.method, "account": o.account, "region": o.region,
            "disks": [d.to_json() for d in disks], "instance_id": None, "image_id": imported["image_id"],
            "import_task_ids": imported["task_ids"], "volume_ids": {}, "snapshot_ids": list(snapshot_ids.values()),
            "actions": [],
        }  # fmt: skip
        if o.volumes_only:
            created = self._volumes(placement, config, snapshot_ids)
            result["volume_ids"] = {d.device: created[f"disk{i}"] for i, d in enumerate(disks)}
        else:
            image_id = str(imported["image_id"])
            self._launch_from(
                placement, config, snapshot_ids, image_id, result, origin=f" from the imported AMI {image_id}"
            )
        result["actions"].append(
            f"the uploaded images (s3://{bucket}/{vmimport.KEY_PREFIX}/{self.job.job_id}/) and the import's "
            "AMI and snapshots are deleted at the end of the job"
        )
        result["stats"] = {
            "bytes_uploaded": sum(int(u["size"]) for u in uploads),
            "parts_uploaded": sum(int(u["parts"]) for u in uploads),
            "parts_resumed": sum(int(u["parts_kept"]) for u in uploads),
            "logical_bytes": sum(d.virtual_size for d in disks),
            "api_calls": dict(sorted(self.job.api_calls().items())),
            "duration_s": round(time.monotonic() - started, 3),
        }
        return result

    def _upload(self, s3: Any, bucket: str, key: str, path: str) -> dict[str, Any]:
        uploaded = vmimport.upload_file(self.job, s3, bucket, key, path, writers=min(self.options.writers, 4),
                                        label=Path(path).name)  # fmt: skip
        return uploaded.to_json()

    def _import(self, plan: dict[str, Any], uploads: list[dict[str, Any]], disks: list[DiskPlan]) -> dict[str, Any]:
        o = self.options
        ec2 = self.factory.client(o.account, o.region, "ec2")
        bucket = str(plan["bucket"])
        description = f"skyvault convert {self.job.job_id}"
        containers = [
            {"Format": fmt, "UserBucket": {"S3Bucket": u["bucket"], "S3Key": u["key"]},
             "Description": Path(u["key"]).name}
            for fmt, u in zip(plan["import_formats"], uploads, strict=True)
        ]  # fmt: skip
        task_ids: list[str] = []
        by_image = plan["import"] == "ImportImage"
        for container in [containers] if by_image else containers:
            token = new_token()
            self.job.intermediate(vmimport.IMPORT_TASK, f"token:{token}", o.account, o.region)
            kind: Any = "import-image-task" if by_image else "import-snapshot-task"
            tags = tag_specifications(self.tags(ROLE_INTERMEDIATE, token), kind)
            if by_image:
                assert isinstance(container, list)
                task_id = vmimport.start_image_import(
                    ec2, container, token=token, tags=tags, description=description,
                    architecture=o.architecture, boot_mode=o.boot_mode, bucket=bucket,
                )  # fmt: skip
            else:
                assert isinstance(container, dict)
                task_id = vmimport.start_snapshot_import(ec2, container, token=token, tags=tags,
                                                         description=description, bucket=bucket)  # fmt: skip
            recorder(self.job, vmimport.IMPORT_TASK, f"token:{token}", o.account, o.region)(task_id)
            task_ids.append(task_id)
        self.job.progress(f"import {', '.join(task_ids)}: started", 0, 100, unit="%")
        states = vmimport.wait_tasks(
            ec2, task_ids, progress=lambda message, done: self.job.progress(message, done, 100, unit="%")
        )
        if by_image:
            [state] = states.values()
            image_id = str(state["image_id"])
            from skyvault.services.ec2 import waiting

            waiting.images_available(self.factory, o.account, o.region, [image_id])
            image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
            mapped = {m["DeviceName"]: m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
                      if "Ebs" in m}  # fmt: skip
            missing = [d.device for d in disks if d.device not in mapped]
            if missing:
                raise SkyvaultError(f"the imported AMI {image_id} lacks device(s) {', '.join(missing)}")
            snapshot_ids = [mapped[d.device] for d in disks]
        else:
            image_id = None
            snapshot_ids = [states[t]["snapshot_ids"][0] for t in task_ids]
        return {"task_ids": task_ids, "image_id": image_id, "snapshot_ids": snapshot_ids}

    def _launch_from(
        self, placement: launch.Placement, config: InstanceConfig, source: dict[str, str], image_id: str,
        result: dict[str, Any], *, origin: str = "",
    ) -> None:  # fmt: skip
        """Launch the instance from ``image_id`` (the temporary AMI, or the imported one), verify its volumes."""
        token = new_token()
        self.job.intermediate(INSTANCES, token, placement.account, placement.region)
        name = {"Name": self.options.name} if self.options.name else {}
        instance_id = launch.run_instance(
            self.factory, placement, config, image_id=image_id, snapshots=source,
            instance_type=config.instance_type, tags={**self.tags(ROLE_RESTORED, token), **name},
            client_token=token,
            on_created=recorder(self.job, INSTANCES, token, placement.account, placement.region),
        )  # fmt: skip
        result["instance_id"] = instance_id
        result["volume_ids"] = launch.verify_instance(self.factory, placement, config, instance_id)
        self.job.release(instance_id)
        result["actions"].append(
            f"launched {instance_id} ({config.instance_type}){origin} in {placement.subnet_id} "
            f"({placement.availability_zone})"
        )

    # -- AMI and instance -----------------------------------------------------------------------------------------
    def _register(self, placement: launch.Placement, config: InstanceConfig, source: dict[str, str]) -> str:
        token = new_token()
        self.job.intermediate(IMAGE, token, placement.account, placement.region)
        params: dict[str, Any] = {
            "Name": f"skyvault-convert-{self.job.job_id}-{token}"[:128],
            "Description": f"skyvault convert of {config.instance_id} (temporary)"[:255],
            "RootDeviceName": ROOT_DEVICE,
            "VirtualizationType": "hvm",
            "Architecture": self.options.architecture,
            "EnaSupport": True,
            "BlockDeviceMappings": launch.block_device_mappings(config, source),
            "TagSpecifications": tag_specifications(self.tags(ROLE_INTERMEDIATE, token), "image"),
        }
        if self.options.boot_mode:
            params["BootMode"] = self.options.boot_mode
        ec2 = self.factory.client(placement.account, placement.region, "ec2")
        image_id = str(ec2.register_image(**params)["ImageId"])
        recorder(self.job, IMAGE, token, placement.account, placement.region)(image_id)
        from skyvault.services.ec2 import waiting

        waiting.images_available(self.factory, placement.account, placement.region, [image_id])
        return image_id

    def _launch(
        self, placement: launch.Placement, config: InstanceConfig, source: dict[str, str], result: dict[str, Any]
    ) -> None:
        image_id = self._register(placement, config, source)
        result["image_id"] = image_id
        self._launch_from(placement, config, source, image_id, result)
        result["actions"].append(f"temporary AMI {image_id} is deregistered at the end of the job")


def prepare_resume(catalog: Catalog, job: Job) -> None:
    """Keep the preflight; the snapshots of the killed attempt are intermediates (deleted before the job runs
    again), so every disk is written again and the AMI, instance or volumes follow.

    vmimport: keep the finished uploads too, and the S3 objects and unfinished multipart uploads (released here,
    so the runner does not delete them; the job records them again, under new IDs, before its first step): the
    upload continues from the parts S3 lists. An import task of the killed attempt is cancelled by the runner
    (its cleaner) and the import starts again."""
    if job.params.get("method") != "vmimport":
        catalog.reset_steps(job.id, ("preflight",))
        return
    done = [name for name, step in job.steps.items() if name.startswith("upload ") and step.get("status") == "done"]
    catalog.reset_steps(job.id, ("preflight", *done))
    for item in catalog.live_intermediates(job.id):
        if item.resource_type == vmimport.UPLOAD:
            catalog.mark_deleted(item.id)


def convert_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``convert-image``: params ``sources`` (``[{"path": P} | {"recovery_point": ID}]``, boot disk first),
    ``account``, ``region``, ``method``, ``instance_type``, ``subnet``, ``boot_mode``, ``architecture``,
    ``volumes_only``, ``volume_type``, ``name``, ``writers``, ``bucket`` (vmimport)."""
    return _Convert(ctx, env, dict(spec.params))()


def logical_sha256(path: str | Path, index: int = 0, padded_to: int | None = None) -> str:
    """SHA-256 of a disk's logical contents (then zeros up to ``padded_to``): what the converted volume holds."""
    digest = hashlib.sha256()
    with open_image(path) as image:
        disk = image.disks[index]
        for block in range(disk.block_count):
            digest.update(disk.read(block * BLOCK_SIZE, BLOCK_SIZE))
        remaining = (padded_to or disk.virtual_size) - disk.virtual_size
        while remaining > 0:
            step = min(remaining, 8 * 1024 * 1024)
            digest.update(bytes(step))
            remaining -= step
    return digest.hexdigest()


__all__ = ["JOB_KIND", "convert_job", "logical_sha256", "preflight", "prepare_resume", "suggest_instance_type"]
