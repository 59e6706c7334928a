"""Model: VM Import/Export's ``ImportImage`` and ``ImportSnapshot`` (moto 5.2.1 has neither).

What AWS does (VM Import/Export User Guide, "Import a VM as an image", https://docs.aws.amazon.com/vm-import/latest/
userguide/vmimport-image-import.html, "Required service role", https://docs.aws.amazon.com/vm-import/latest/
userguide/required-permissions.html#vmimport-role, "Image formats", https://docs.aws.amazon.com/vm-import/latest/
userguide/prerequisites.html#vmimport-image-formats, "Monitor an import image task" and "Troubleshooting",
https://docs.aws.amazon.com/vm-import/latest/userguide/vmimport-troubleshooting.html; EC2 API Reference
"ImportImage", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportImage.html, "ImportSnapshot",
"DescribeImportImageTasks", "DescribeImportSnapshotTasks", "CancelImportTask"):

- ``ImportImage`` takes ``DiskContainers`` (each ``Format`` OVA | VHD | VHDX | VMDK | RAW and ``UserBucket``
  ``S3Bucket``/``S3Key``; an OVA is one container holding the VM's disks; several containers are the disks of one
  VM, the first boots) and ``RoleName`` (default ``vmimport``). The role must exist and trust
  ``vmie.amazonaws.com``, else the call fails with ``InvalidParameter`` "The service role vmimport provided does not
  exist or does not have sufficient permissions for the service to continue". It returns an ``import-ami-...``
  task at once; the task is ``active`` while its ``StatusMessage`` goes ``pending``, ``validating``,
  ``validated``, ``converting``, ``updating``, ``booting``, ``booted``, ``preparing ami`` with a ``Progress``
  percentage, and ends ``completed`` (``ImageId``, one ``SnapshotDetails`` entry per disk with its
  ``SnapshotId``) or ``deleted`` with a ``StatusMessage`` such as ``ClientError: ...``.
- ``ImportSnapshot`` takes one ``DiskContainer`` (VHD | VMDK | RAW) and makes an ``import-snap-...`` task whose
  ``SnapshotTaskDetail`` goes ``active`` (``pending``, ``downloading/converting``) to ``completed`` with its
  ``SnapshotId``.
- VMDK is accepted stream-optimized only (a monolithic sparse or flat VMDK fails: "Unsupported VMDK File Format");
  QCOW2 is not an accepted format. An object the role cannot read fails the task with "We do not have access to
  the given resource".
- ``CancelImportTask`` cancels an active task (``PreviousState``, ``State`` ``deleting``); it ends ``deleted``
  and its partial snapshots are removed.
- Imported snapshots hold the disk's logical contents on a volume of the virtual size rounded up to GiB; the AMI's
  root device is ``/dev/sda1``, further disks ``/dev/sdb``, ``/dev/sdc``...

What the lab does: the same calls, tasks and statuses, asynchronously (a thread per task, a short pause per
phase). The task reads the object from the lab's S3, detects its format with ``skyvault.library.diskformats``
(the reader the product uses), refuses what AWS refuses, and writes each disk's non-zero 512 KiB blocks into a
new snapshot of the EBS model (so the lab's checksum of a volume made from it equals the SHA-256 of the image's
logical bytes); ``ImportImage`` then registers the AMI through the images model. The role check is the trust
policy (``vmie.amazonaws.com`` may ``sts:AssumeRole``) and an ``s3:GetObject`` allow on the object in one of
its policies (no conditions, no denies). ``TagSpecifications`` tag the task (filters ``task-state`` and
``tag:KEY`` are honoured).

Not emulated (docs/lab.md): the guest OS checks (AWS fails "Unknown OS / Missing OS files" for a disk without a
supported OS; the lab imports any bytes), driver and agent injection (AWS edits the guest: an imported volume is
NOT byte-identical to the image on AWS; in the lab it is), licensing (``LicenseType``/``Platform`` are echoed,
``Platform`` defaults to Linux), encryption (recorded only), ``Url`` sources (S3 only) and the import quotas.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ACCEPTED_FORMATS = ("OVA", "VHD", "VHDX", "VMDK", "RAW")
SNAPSHOT_FORMATS = ("VHD", "VMDK", "RAW")
DEFAULT_ROLE = "vmimport"
VMIE_SERVICE = "vmie.amazonaws.com"
PHASE_PAUSE_S = 0.05  # a real import takes tens of minutes; the lab only shows the phases
ROLE_MESSAGE = (
    "The service role {role} provided does not exist or does not have sufficient permissions for the service to "
    "continue"
)
UNSUPPORTED_FORMAT = "ClientError: Disk validation failed [Unsupported specified file format]"
UNSUPPORTED_VMDK = "ClientError: Disk validation failed [Unsupported VMDK File Format]"
NO_ACCESS = "ClientError: Disk validation failed [We do not have access to the given resource. Reason 403 Forbidden]"
CANCELLED = "User initiated task cancelation"
IMAGE_PHASES = (
    ("pending", 2),
    ("validating", 10),
    ("validated", 20),
    ("converting", 30),
    ("updating", 60),
    ("booting", 70),
    ("booted", 80),
    ("preparing ami", 90),
)
SNAPSHOT_PHASES = (("pending", 2), ("downloading/converting", 30))

_MARK = "_skyvault_vm_import_model"
_LOCK = threading.Lock()


class ImportFailedError(Exception):
    """The task ends ``deleted`` with this StatusMessage."""


@dataclass
class Task:
    id: str
    kind: str  # image | snapshot
    account: str
    region: str
    description: str
    containers: list[dict[str, Any]]
    tags: dict[str, str]
    params: dict[str, Any]
    status: str = "active"
    message: str = "pending"
    progress: int = 0
    image_id: str | None = None
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # per disk: SnapshotId, DiskImageSize, Format...
    cancelled: threading.Event = field(default_factory=threading.Event)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


_tasks: dict[str, Task] = {}
_client_tokens: dict[tuple[str, str, str], str] = {}


# -- the role check --------------------------------------------------------------------------------------------
def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    text = str(raw or "{}")
    try:
        parsed: dict[str, Any] = json.loads(text)
    except ValueError:
        parsed = json.loads(unquote(text))
    return parsed


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []


def _trusts_vmie(role: Any) -> bool:
    for statement in _listed_statements(_document(role.assume_role_policy_document)):
        principal = statement.get("Principal") or {}
        services = _listed(principal.get("Service")) if isinstance(principal, dict) else []
        actions = _listed(statement.get("Action"))
        if statement.get("Effect") == "Allow" and VMIE_SERVICE in services and "sts:AssumeRole" in actions:
            return True
    return False


def _listed_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def _role_policies(backend: Any, role: Any) -> list[dict[str, Any]]:
    documents = [_document(text) for text in getattr(role, "policies", {}).values()]
    for arn in getattr(role, "managed_policies", {}):
        policy = backend.managed_policies.get(arn)
        if policy is not None:
            documents.append(_document(policy.default_version.document))
    return documents


def _allows(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    for document in documents:
        for statement in _listed_statements(document):
            if statement.get("Effect") != "Allow":
                continue
            actions = [a.lower() for a in _listed(statement.get("Action"))]
            resources = _listed(statement.get("Resource"))
            if any(fnmatch.fnmatchcase(action.lower(), a) for a in actions) and any(
                fnmatch.fnmatchcase(resource, r) for r in resources
            ):
                return True
    return False


def _service_role(account: str, name: str) -> tuple[Any, Any]:
    from moto.ec2.exceptions import EC2ClientError
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    role = next((r for r in backend.roles.values() if r.name == name), None)
    if role is None or not _trusts_vmie(role):
        raise EC2ClientError("InvalidParameter", ROLE_MESSAGE.format(role=name))
    return backend, role


def _role_reads(account: str, role_name: str, bucket: str, key: str) -> bool:
    try:
        backend, role = _service_role(account, role_name)
    except Exception:  # the role was deleted while the task waited
        return False
    return _allows(_role_policies(backend, role), "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")


# -- requests ------------------------------------------------------------------------------------------------------
def _invalid(message: str, code: str = "InvalidParameter") -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _container(raw: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    bucket = (raw.get("UserBucket") or {}).get("S3Bucket")
    key = (raw.get("UserBucket") or {}).get("S3Key")
    if raw.get("Url") or raw.get("SnapshotId"):
        raise _invalid("The lab imports from UserBucket S3Bucket/S3Key only (Url and SnapshotId are not modelled)")
    if not bucket or not key:
        raise _invalid("Invalid S3 source location: UserBucket S3Bucket and S3Key are required")
    fmt = str(raw.get("Format") or "").upper()
    if fmt and fmt not in allowed:
        raise _invalid(f"Invalid value '{raw.get('Format')}' for Format. Valid values: {', '.join(allowed)}")
    return {"bucket": bucket, "key": key, "format": fmt, "description": raw.get("Description") or ""}


def _tags(specs: list[dict[str, Any]] | None, resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in specs or []:
        if spec.get("ResourceType") in (None, resource_type):
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags") or []})
    return tags


def _start(account: str, region: str, kind: str, containers: list[dict[str, Any]], params: dict[str, Any]) -> Task:
    role = params.get("RoleName") or DEFAULT_ROLE
    _service_role(account, role)
    token = params.get("ClientToken")
    with _LOCK:
        if token and (account, region, token) in _client_tokens:
            return _tasks[_client_tokens[(account, region, token)]]
        prefix = "import-ami-" if kind == "image" else "import-snap-"
        task = Task(
            id=prefix + uuid.uuid4().hex[:17],
            kind=kind,
            account=account,
            region=region,
            description=params.get("Description") or "",
            containers=containers,
            tags=_tags(params.get("TagSpecifications"), f"import-{kind}-task"),
            params={**params, "RoleName": role},
        )
        _tasks[task.id] = task
        if token:
            _client_tokens[(account, region, token)] = task.id
    threading.Thread(target=_run, args=(task,), name=f"lab-{task.id}", daemon=True).start()
    return task


# -- the task -------------------------------------------------------------------------------------------------------
def _phase(task: Task, message: str, progress: int) -> None:
    if task.cancelled.is_set():
        raise ImportFailedError(CANCELLED)
    with _LOCK:
        task.message, task.progress = message, progress
    time.sleep(PHASE_PAUSE_S)


def _download(task: Task, container: dict[str, Any], into: Path) -> Path:
    from moto.s3.models import s3_backends

    if not _role_reads(task.account, task.params["RoleName"], container["bucket"], container["key"]):
        raise ImportFailedError(NO_ACCESS)
    try:
        key = s3_backends[task.account]["aws"].get_object(container["bucket"], container["key"])
    except Exception:
        key = None
    if key is None:
        raise ImportFailedError(NO_ACCESS)
    path = into / f"disk-{len(list(into.iterdir()))}"
    with key.lock, path.open("wb") as out:
        key._value_buffer.seek(0)
        shutil.copyfileobj(key._value_buffer, out, 16 * 1024 * 1024)
    return path


def _check_disk(disk: Any, declared: str, allowed: tuple[str, ...]) -> None:
    fmt = str(disk.format).upper()
    if fmt not in allowed:
        raise ImportFailedError(UNSUPPORTED_FORMAT)
    if fmt == "VMDK" and disk.variant != "stream-optimized":
        raise ImportFailedError(UNSUPPORTED_VMDK)
    if declared and declared not in (fmt, "OVA"):
        raise ImportFailedError(UNSUPPORTED_FORMAT)


def _snapshot_of(task: Task, disk: Any, description: str) -> Any:
    """A completed snapshot of the EBS model holding the disk's non-zero blocks."""
    from skyvault.lab.blockstore import current_store
    from skyvault.lab.models.ebs_direct import PLACEHOLDER_VOLUME_ID
    from skyvault.lab.models.ebs_state import LOCK, SNAPSHOT_ATTR, BlockMap, FrozenBlocks, ec2_backend, pin, unpin

    blocks = BlockMap()
    pin(blocks)  # blocks put below are referenced from the start: a concurrent sweep keeps them
    try:
        store = current_store()
        for index, data in disk.blocks():
            if task.cancelled.is_set():
                raise ImportFailedError(CANCELLED)
            with LOCK:
                blocks[index] = store.put(data)
        ec2 = ec2_backend(task.account, task.region)
        volume = ec2.create_volume(size=disk.volume_size_gib, zone_name=f"{task.region}a")
        snapshot = ec2.create_snapshot(volume.id, description)
        ec2.volumes.pop(volume.id, None)  # AWS's import leaves no volume behind
        volume.id = PLACEHOLDER_VOLUME_ID
        with LOCK:
            setattr(snapshot, SNAPSHOT_ATTR, FrozenBlocks(blocks, disk.volume_size_gib, f"lineage-{uuid.uuid4().hex}"))
            snapshot.status = "completed"
        return snapshot
    finally:
        unpin(blocks)


def _register(task: Task, snapshots: list[tuple[Any, Any]]) -> str:
    from moto.ec2.models import EC2Backend

    from skyvault.lab.models.ebs_state import ec2_backend
    from skyvault.lab.models.images import register_image_with_mappings

    devices = ["/dev/sda1", *(f"/dev/sd{letter}" for letter in "bcdefghijklmnop")]
    mappings = [
        {
            "DeviceName": devices[position],
            "Ebs": {"SnapshotId": snapshot.id, "VolumeSize": disk.volume_size_gib, "DeleteOnTermination": True},
        }
        for position, (disk, snapshot) in enumerate(snapshots)
    ]
    params = {
        "Name": task.id,
        "Description": task.description or f"AWS-VMImport service: {task.id}",
        "RootDeviceName": "/dev/sda1",
        "BlockDeviceMappings": mappings,
        "Architecture": task.params.get("Architecture") or "x86_64",
        "VirtualizationType": "hvm",
        "BootMode": task.params.get("BootMode"),
    }
    backend = ec2_backend(task.account, task.region)
    ami = register_image_with_mappings(backend, EC2Backend.register_image, params)
    ami.platform = "windows" if str(task.params.get("Platform") or "").lower() == "windows" else None
    return str(ami.id)


def _import(task: Task, workdir: Path) -> None:
    from skyvault.library.diskformats import detect, open_image

    phases = IMAGE_PHASES if task.kind == "image" else SNAPSHOT_PHASES
    allowed = ("VHD", "VHDX", "VMDK", "RAW") if task.kind == "image" else SNAPSHOT_FORMATS
    _phase(task, *phases[0])
    _phase(task, *phases[1])
    made: list[tuple[Any, dict[str, Any], int]] = []
    opened = []
    try:
        for container in task.containers:
            path = _download(task, container, workdir)
            try:
                image = open_image(path)
            except Exception as exc:  # not a disk image the parsers read
                raise ImportFailedError(f"ClientError: Disk validation failed [{exc}]") from exc
            opened.append(image)
            with path.open("rb") as handle:
                is_ova = detect(handle) == "ova"
            if is_ova != (container["format"] == "OVA") and (is_ova or container["format"]):
                raise ImportFailedError(UNSUPPORTED_FORMAT)  # declared OVA but not one, or an OVA declared otherwise
            if is_ova and task.kind != "image":
                raise ImportFailedError(UNSUPPORTED_FORMAT)
            for disk in image.disks:
                _check_disk(disk, container["format"], allowed)
                size = path.stat().st_size
                made.append((disk, container, size))
        if task.kind == "image":
            for message, progress in phases[2:4]:
                _phase(task, message, progress)
        snapshots = []
        for position, (disk, container, size) in enumerate(made):
            description = f"Created by AWS-VMImport service for {task.id}"
            try:
                snapshot = _snapshot_of(task, disk, description)
            except ImportFailedError:
                raise
            except Exception as exc:
                raise ImportFailedError(f"ClientError: Disk validation failed [{exc}]") from exc
            snapshots.append((disk, snapshot))
            with _LOCK:
                task.snapshots.append(
                    {
                        "DeviceName": "/dev/sda1" if position == 0 else f"/dev/sd{'bcdefghijklmnop'[position - 1]}",
                        "DiskImageSize": float(size),
                        "Format": str(disk.format).upper(),
                        "SnapshotId": snapshot.id,
                        "Status": "completed",
                        "UserBucket": {"S3Bucket": container["bucket"], "S3Key": container["key"]},
                        "Progress": "100",
                    }
                )
        if task.kind == "image":
            for message, progress in phases[4:]:
                _phase(task, message, progress)
            image_id = _register(task, snapshots)
            with _LOCK:
                task.image_id = image_id
    finally:
        for image in opened:
            image.close()


def _discard_snapshots(task: Task) -> None:
    from skyvault.lab.models.ebs_state import ec2_backend

    backend = ec2_backend(task.account, task.region)
    if task.image_id and task.image_id in backend.amis:  # cancelled after registering: the AMI pins its snapshots
        backend.deregister_image(task.image_id)
        task.image_id = None
    for detail in task.snapshots:
        if detail.get("SnapshotId") in backend.snapshots:
            backend.delete_snapshot(detail["SnapshotId"])
    task.snapshots = []


def _run(task: Task) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"lab-{task.id}-"))
    try:
        _import(task, workdir)
        if task.cancelled.is_set():
            raise ImportFailedError(CANCELLED)
        with _LOCK:
            task.status, task.message, task.progress = "completed", "", 100
    except ImportFailedError as failed:
        _fail(task, str(failed))
    except Exception as exc:  # a lab bug must still end the task, as AWS always does
        _fail(task, f"ServerError: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _fail(task: Task, message: str) -> None:
    try:
        _discard_snapshots(task)
    finally:
        with _LOCK:
            task.status, task.message = "deleted", message


# -- responses ------------------------------------------------------------------------------------------------
def _tag_list(task: Task) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in task.tags.items()]


def _image_task(task: Task) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ImportTaskId": task.id,
        "Architecture": task.params.get("Architecture") or "x86_64",
        "Description": task.description,
        "Platform": task.params.get("Platform") or "Linux",
        "Status": task.status,
        "SnapshotDetails": [dict(d) for d in task.snapshots],
        "Tags": _tag_list(task),
    }
    if task.status == "active" or task.message:
        data["StatusMessage"] = task.message
    if task.status == "active":
        data["Progress"] = str(task.progress)
    if task.image_id:
        data["ImageId"] = task.image_id
    for name in ("LicenseType", "BootMode", "Encrypted", "KmsKeyId"):
        if task.params.get(name) is not None:
            data[name] = task.params[name]
    return data


def _snapshot_task(task: Task) -> dict[str, Any]:
    container = task.containers[0]
    detail: dict[str, Any] = {
        "Description": task.description,
        "Format": container["format"] or (task.snapshots[0]["Format"] if task.snapshots else ""),
        "Status": task.status,
        "UserBucket": {"S3Bucket": container["bucket"], "S3Key": container["key"]},
    }
    if task.status == "active" or task.message:
        detail["StatusMessage"] = task.message
    if task.status == "active":
        detail["Progress"] = str(task.progress)
    if task.snapshots:
        detail["SnapshotId"] = task.snapshots[0]["SnapshotId"]
        detail["DiskImageSize"] = task.snapshots[0]["DiskImageSize"]
    return {"ImportTaskId": task.id, "Description": task.description, "SnapshotTaskDetail": detail,
            "Tags": _tag_list(task)}  # fmt: skip


def _matches(task: Task, filters: list[dict[str, Any]] | None) -> bool:
    for flt in filters or []:
        name, values = str(flt.get("Name")), [str(v) for v in flt.get("Values") or []]
        if name == "task-state" and task.status not in values:
            return False
        if name.startswith("tag:") and task.tags.get(name[4:]) not in values:
            return False
        if name == "tag-key" and not set(values) & set(task.tags):
            return False
    return True


def _visible(account: str, region: str, kind: str, ids: list[str] | None, filters: Any) -> list[Task]:
    with _LOCK:
        found = [t for t in _tasks.values() if t.account == account and t.region == region and t.kind == kind]
    if ids:
        known = {t.id for t in found}
        missing = [i for i in ids if i not in known]
        if missing:
            raise _invalid(f"The import task {missing[0]} does not exist", "InvalidConversionTaskId.Malformed")
        found = [t for t in found if t.id in ids]
    return [t for t in found if _matches(t, filters)]


def _patch() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def import_image(self: Any) -> Any:
        self.error_on_dryrun()
        params = {k: self._get_param(k) for k in (
            "Architecture", "BootMode", "ClientToken", "Description", "DiskContainers", "Encrypted", "KmsKeyId",
            "LicenseType", "Platform", "RoleName", "TagSpecifications",
        )}  # fmt: skip
        raw = params.get("DiskContainers") or []
        if not raw:
            raise _invalid("DiskContainers is required")
        containers = [_container(c, ACCEPTED_FORMATS) for c in raw]
        if len(containers) > 1 and any(c["format"] == "OVA" for c in containers):
            raise _invalid("An OVA is imported as the only disk container")
        task = _start(self.current_account, self.region, "image", containers, params)
        return ActionResult(_image_task(task))

    def import_snapshot(self: Any) -> Any:
        self.error_on_dryrun()
        params = {k: self._get_param(k) for k in (
            "ClientToken", "Description", "DiskContainer", "Encrypted", "KmsKeyId", "RoleName", "TagSpecifications",
        )}  # fmt: skip
        container = _container(params.get("DiskContainer") or {}, SNAPSHOT_FORMATS)
        task = _start(self.current_account, self.region, "snapshot", [container], params)
        return ActionResult(_snapshot_task(task))

    def describe_import_image_tasks(self: Any) -> Any:
        tasks = _visible(self.current_account, self.region, "image", self._get_param("ImportTaskIds"),
                         self._get_param("Filters"))  # fmt: skip
        return ActionResult({"ImportImageTasks": [_image_task(t) for t in tasks]})

    def describe_import_snapshot_tasks(self: Any) -> Any:
        tasks = _visible(self.current_account, self.region, "snapshot", self._get_param("ImportTaskIds"),
                         self._get_param("Filters"))  # fmt: skip
        return ActionResult({"ImportSnapshotTasks": [_snapshot_task(t) for t in tasks]})

    def cancel_import_task(self: Any) -> Any:
        self.error_on_dryrun()
        task_id = self._get_param("ImportTaskId")
        with _LOCK:
            task = _tasks.get(task_id)
        if task is None or task.account != self.current_account or task.region != self.region:
            raise _invalid(f"The import task {task_id} does not exist", "InvalidConversionTaskId.Malformed")
        if task.status != "active":
            raise _invalid(f"The import task {task_id} is {task.status} and cannot be canceled",
                           "IncorrectState")  # fmt: skip
        task.cancelled.set()
        return ActionResult({"ImportTaskId": task_id, "PreviousState": "active", "State": "deleting"})

    for name, function in (
        ("import_image", import_image),
        ("import_snapshot", import_snapshot),
        ("describe_import_image_tasks", describe_import_image_tasks),
        ("describe_import_snapshot_tasks", describe_import_snapshot_tasks),
        ("cancel_import_task", cancel_import_task),
    ):
        setattr(EC2Response, name, function)


def apply() -> None:
    from moto.ec2.responses import EC2Response

    if getattr(EC2Response, _MARK, False):
        return
    _patch()
    setattr(EC2Response, _MARK, True)


def reset() -> None:
    with _LOCK:
        for task in _tasks.values():
            task.cancelled.set()
        _tasks.clear()
        _client_tokens.clear()
