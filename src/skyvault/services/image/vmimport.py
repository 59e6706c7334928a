"""``convert --method vmimport``: VM Import/Export (the disk images go to S3, AWS converts them).

AWS's procedure (VM Import/Export User Guide, "Import a VM as an image using VM Import/Export",
https://docs.aws.amazon.com/vm-import/latest/userguide/vmimport-image-import.html; "Required service role",
https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html; EC2 API Reference "ImportImage",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ImportImage.html): upload each image file to an S3
bucket in the target region, then ``ImportImage`` with one ``DiskContainer`` per file (an OVA is one container;
several files are the disks of one VM, the first boots) under the ``vmimport`` service role, which must trust
``vmie.amazonaws.com`` and read the bucket (``skyvault policy vmimport --bucket B`` renders it;
``--create-vmimport-role`` creates it). ``ImportSnapshot`` imports one disk into a snapshot (``--volumes-only``).
The task runs for minutes to hours; ``DescribeImportImageTasks`` reports its status, progress and, when it fails,
its ``StatusMessage``.

Here: each file is uploaded with a multipart upload of fixed-size parts (its object key is derived from the job,
so a resumed job finds its upload with ``ListMultipartUploads`` and keeps the parts ``ListParts`` lists whose MD5
matches the file, uploading only the rest). The S3 objects (and their multipart uploads) and the import tasks are
intermediates of the job: recorded before they exist, removed when the job ends, however it ends (an active task
is cancelled; a finished task's AMI is deregistered and its snapshots deleted once the instance or volumes exist).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyvault.catalog import IntermediateResource
from skyvault.errors import (
    AccessDeniedError,
    AwsError,
    ConflictError,
    JobError,
    NotFoundError,
    PreflightError,
    SkyvaultError,
)
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import REGISTRY, Registry
from skyvault.permissions.trust import VMIMPORT_ROLE, vmimport_policies
from skyvault.services.image.intermediates import IMPORT_TASK, UPLOAD

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.jobs.context import JobContext

ROW = "convert-vmimport"
KEY_PREFIX = "skyvault-convert"
MIB = 1024 * 1024
PART_SIZE = 64 * MIB
MAX_PARTS = 10_000
POLL_S = 5.0
CANCEL_PATIENCE_S = 120.0
# ImportImage's DiskContainer Format by what diskformats reads (VMDK: stream-optimized only).
IMPORT_FORMATS = {"raw": "RAW", "vhd": "VHD", "vhdx": "VHDX", "vmdk": "VMDK", "ova": "OVA"}
SNAPSHOT_FORMATS = ("RAW", "VHD", "VMDK")  # ImportSnapshot takes no VHDX and no OVA
ROLE_MESSAGE = "The service role vmimport provided does not exist or does not have sufficient permissions"

_OBJECTS = "arn:${Partition}:s3:::${Bucket}/" + KEY_PREFIX + "/*"
_BUCKET = "arn:${Partition}:s3:::${Bucket}"
_TASKS = ("arn:${Partition}:ec2:${Region}:${Account}:import-image-task/*",
          "arn:${Partition}:ec2:${Region}:${Account}:import-snapshot-task/*")  # fmt: skip
_NO_ACCOUNT = "arn:${Partition}:ec2:${Region}::"  # snapshots and AMIs: IAM's ARNs carry no account
_ROLE_ARN = "arn:${Partition}:iam::${Account}:role/" + VMIMPORT_ROLE


def _declare(service: str, operation: str, step: str, purpose: str, *, feature: Feature = Feature.CONVERT,
             **more: Any) -> Any:  # fmt: skip
    return declare(policy=ROW, service=service, operation=operation, feature=feature, step=step, purpose=purpose,
                   **more)  # fmt: skip


GET_BUCKET_LOCATION = _declare("s3", "GetBucketLocation", "preflight",
                               "Check the --bucket is in the target region (VM Import reads it there only).",
                               actions=("s3:GetBucketLocation",), resources=(_BUCKET,))  # fmt: skip
GET_ROLE = _declare("iam", "GetRole", "preflight",
                    "Check the vmimport service role exists and trusts vmie.amazonaws.com (and find it before "
                    "--create-vmimport-role creates it).", resources=(_ROLE_ARN,))  # fmt: skip
CREATE_ROLE = _declare("iam", "CreateRole", "create vmimport role",
                       "--create-vmimport-role only: create the vmimport service role trusted by "
                       "vmie.amazonaws.com.", resources=(_ROLE_ARN,))  # fmt: skip
PUT_ROLE_POLICY = _declare("iam", "PutRolePolicy", "create vmimport role",
                           "--create-vmimport-role only: let the role read the --bucket and register the image.",
                           resources=(_ROLE_ARN,))  # fmt: skip
LIST_UPLOADS = _declare("s3", "ListMultipartUploads", "upload images",
                        "Find the job's unfinished multipart upload of an image (a resumed job continues it).",
                        actions=("s3:ListBucketMultipartUploads",), resources=(_BUCKET,))  # fmt: skip
LIST_PARTS = _declare("s3", "ListParts", "upload images",
                      "List the parts a killed job uploaded already (kept when their MD5 matches the file).",
                      actions=("s3:ListMultipartUploadParts",), resources=(_OBJECTS,))  # fmt: skip
CREATE_UPLOAD = _declare("s3", "CreateMultipartUpload", "upload images",
                         "Start the upload of each image file under skyvault-convert/JOB/ in the --bucket.",
                         actions=("s3:PutObject",), resources=(_OBJECTS,))  # fmt: skip
UPLOAD_PART = _declare("s3", "UploadPart", "upload images", "Upload the image's parts, in parallel.",
                       actions=("s3:PutObject",), resources=(_OBJECTS,))  # fmt: skip
COMPLETE_UPLOAD = _declare("s3", "CompleteMultipartUpload", "upload images", "Finish each image's object.",
                           actions=("s3:PutObject",), resources=(_OBJECTS,))  # fmt: skip
IMPORT_IMAGE = _declare("ec2", "ImportImage", "import",
                        "Import the uploaded disks as one AMI (the first disk boots) with the vmimport role.",
                        resources=(_TASKS[0], _NO_ACCOUNT + "image/*", _NO_ACCOUNT + "snapshot/*"))  # fmt: skip
IMPORT_SNAPSHOT = _declare("ec2", "ImportSnapshot", "import",
                           "--volumes-only: import each uploaded disk as a snapshot.",
                           resources=(_TASKS[1], _NO_ACCOUNT + "snapshot/*"))  # fmt: skip
IMPORT_TAGS = _declare("ec2", "CreateTags", "import",
                       "Tag the import task as skyvault's in the ImportImage/ImportSnapshot request; tag the "
                       "instance and volumes in their create requests.",
                       resources=(*_TASKS, "arn:${Partition}:ec2:${Region}:${Account}:instance/*",
                                  "arn:${Partition}:ec2:${Region}:${Account}:volume/*"),
                       conditions=(("StringEquals", "ec2:CreateAction",
                                    ("ImportImage", "ImportSnapshot", "RunInstances", "CreateVolume")),),
                       tags_write=True)  # fmt: skip
DESCRIBE_IMAGE_TASKS = _declare(
    "ec2",
    "DescribeImportImageTasks",
    "import",
    "Follow the import task's status and progress (and find it by its token).",
)
DESCRIBE_SNAPSHOT_TASKS = _declare(
    "ec2", "DescribeImportSnapshotTasks", "import", "Follow --volumes-only import tasks (and find one by its token)."
)
CANCEL_IMPORT = _declare("ec2", "CancelImportTask", "clean up intermediates",
                         "Cancel an import task of a failed or killed conversion.", feature=Feature.CLEANUP,
                         resources=_TASKS, destructive=True)  # fmt: skip
ABORT_UPLOAD = _declare("s3", "AbortMultipartUpload", "clean up intermediates",
                        "Abort the image uploads of the job (no parts are left to bill).", feature=Feature.CLEANUP,
                        actions=("s3:AbortMultipartUpload",), resources=(_OBJECTS,), destructive=True)  # fmt: skip
DELETE_OBJECT = _declare("s3", "DeleteObject", "clean up intermediates",
                         "Delete the uploaded images once imported (or when the job failed).",
                         feature=Feature.CLEANUP, actions=("s3:DeleteObject",), resources=(_OBJECTS,),
                         destructive=True)  # fmt: skip


ROLE_CREATION = frozenset({"CreateRole", "PutRolePolicy"})  # --create-vmimport-role only
OPTIONAL = frozenset({"GetRole"})  # denied: the role's state is "unverified", nothing fails


def required_permissions(*, create_role: bool) -> Registry:
    """The row's declarations a conversion's preflight checks: without the optional GetRole, and without the
    role's creation unless --create-vmimport-role asks for it (an administrator usually made the role)."""
    narrow = Registry()
    for permission in REGISTRY.select(policies=(ROW,)):
        if permission.operation in OPTIONAL or (permission.operation in ROLE_CREATION and not create_role):
            continue
        narrow.add(permission)
    return narrow


# -- upload -----------------------------------------------------------------------------------------------------
def object_key(job_id: str, position: int, path: str) -> str:
    return f"{KEY_PREFIX}/{job_id}/{position}-{Path(path).name}"


def upload_intermediate(bucket: str, key: str, token: str) -> str:
    return f"s3://{bucket}/{key}#{token}"


def _parse_upload(resource_id: str) -> tuple[str, str]:
    where = resource_id.removeprefix("s3://").split("#", 1)[0]
    bucket, _, key = where.partition("/")
    return bucket, key


def part_size(size: int) -> int:
    """64 MiB parts, larger (in MiB steps) when a file would need more than S3's 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    return max(PART_SIZE, -(-needed // MIB) * MIB)


def _md5(path: str, offset: int, length: int) -> str:
    with Path(path).open("rb") as handle:
        handle.seek(offset)
        return hashlib.md5(handle.read(length), usedforsecurity=False).hexdigest()


@dataclass
class UploadResult:
    bucket: str
    key: str
    size: int
    parts: int
    parts_kept: int  # parts a killed attempt had uploaded (resumed)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _existing_upload(s3: Any, bucket: str, key: str) -> str | None:
    """The job's unfinished upload of ``key`` (the newest one; older ones are aborted)."""
    uploads = [u for u in s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", []) if u["Key"] == key]
    uploads.sort(key=lambda u: u.get("Initiated") or 0)
    for stale in uploads[:-1]:
        with contextlib.suppress(NotFoundError):
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=stale["UploadId"])
    return str(uploads[-1]["UploadId"]) if uploads else None


def _kept_parts(s3: Any, bucket: str, key: str, upload_id: str, path: str, size: int, unit: int) -> dict[int, str]:
    """Parts already uploaded whose size and MD5 (the part's ETag) match the file; others are uploaded again."""
    kept: dict[int, str] = {}
    marker = 0
    while True:
        page = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
        for part in page.get("Parts", []):
            number = int(part["PartNumber"])
            offset = (number - 1) * unit
            length = min(unit, size - offset)
            if length > 0 and int(part["Size"]) == length and part["ETag"].strip('"') == _md5(path, offset, length):
                kept[number] = str(part["ETag"])
        if not page.get("IsTruncated"):
            return kept
        marker = int(page["NextPartNumberMarker"])


def upload_file(
    job: JobContext, s3: Any, bucket: str, key: str, path: str, *, writers: int, label: str
) -> UploadResult:
    """Upload ``path`` to ``s3://bucket/key`` with a multipart upload, continuing the job's unfinished one."""
    size = Path(path).stat().st_size
    unit = part_size(size)
    count = max(1, -(-size // unit))
    upload_id = _existing_upload(s3, bucket, key)
    kept: dict[int, str] = {}
    if upload_id is not None:
        kept = _kept_parts(s3, bucket, key, upload_id, path, size, unit)
    else:
        upload_id = str(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    etags = dict(kept)
    done = {"bytes": sum(min(unit, size - (n - 1) * unit) for n in kept)}

    def send(number: int) -> tuple[int, str]:
        offset = (number - 1) * unit
        with Path(path).open("rb") as handle:
            handle.seek(offset)
            data = handle.read(min(unit, size - offset))
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        etag = str(s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data,
                                  ContentMD5=digest)["ETag"])  # fmt: skip
        return number, etag

    pool = job.executor(writers, thread_name_prefix="upload")
    pending: set[Future[tuple[int, str]]] = set()

    def collect(finished: set[Future[tuple[int, str]]]) -> None:
        for future in finished:
            number, etag = future.result()
            etags[number] = etag
            done["bytes"] += min(unit, size - (number - 1) * unit)
            job.progress(f"uploading {label}", done["bytes"], size, unit="bytes")

    try:
        for number in range(1, count + 1):
            if number in kept:
                continue
            if len(pending) >= writers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(finished)
            pending.add(pool.submit(send, number))
        finished, pending = wait(pending)
        collect(finished)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return UploadResult(bucket, key, size, count, len(kept))


# -- import ------------------------------------------------------------------------------------------------------
def _role_refused(exc: SkyvaultError, bucket: str) -> SkyvaultError:
    if ROLE_MESSAGE.lower() in str(exc).lower():
        return PreflightError(
            f"VM Import refused the vmimport service role: {exc}",
            hint=f"'skyvault convert ... --create-vmimport-role --bucket {bucket}' creates it, or ask an "
            f"administrator for the role 'skyvault policy vmimport --bucket {bucket}' renders",
        )
    return exc


def start_image_import(
    ec2: Any, containers: list[dict[str, Any]], *, token: str, tags: list[Any], description: str,
    architecture: str, boot_mode: str | None, bucket: str,
) -> str:  # fmt: skip
    params: dict[str, Any] = {
        "DiskContainers": containers,
        "RoleName": VMIMPORT_ROLE,
        "ClientToken": token,
        "Description": description,
        "Architecture": architecture,
        "TagSpecifications": tags,
    }
    if boot_mode:
        params["BootMode"] = boot_mode
    try:
        return str(ec2.import_image(**params)["ImportTaskId"])
    except SkyvaultError as exc:
        raise _role_refused(exc, bucket) from exc


def start_snapshot_import(
    ec2: Any, container: dict[str, Any], *, token: str, tags: list[Any], description: str, bucket: str
) -> str:
    try:
        started = ec2.import_snapshot(DiskContainer=container, RoleName=VMIMPORT_ROLE, ClientToken=token,
                                      Description=description, TagSpecifications=tags)  # fmt: skip
    except SkyvaultError as exc:
        raise _role_refused(exc, bucket) from exc
    return str(started["ImportTaskId"])


def describe_task(ec2: Any, task_id: str) -> dict[str, Any] | None:
    """``{"status", "message", "progress", "image_id", "snapshot_ids"}`` of an import task, None if unknown."""
    try:
        if task_id.startswith("import-snap-"):
            found = ec2.describe_import_snapshot_tasks(ImportTaskIds=[task_id]).get("ImportSnapshotTasks", [])
            if not found:
                return None
            detail = found[0].get("SnapshotTaskDetail", {})
            return {"status": detail.get("Status"), "message": detail.get("StatusMessage", ""),
                    "progress": detail.get("Progress"), "image_id": None,
                    "snapshot_ids": [detail["SnapshotId"]] if detail.get("SnapshotId") else []}  # fmt: skip
        found = ec2.describe_import_image_tasks(ImportTaskIds=[task_id]).get("ImportImageTasks", [])
    except (NotFoundError, AwsError) as exc:
        if isinstance(exc, NotFoundError) or "InvalidConversionTaskId" in getattr(exc, "code", ""):
            return None
        raise
    if not found:
        return None
    task = found[0]
    snapshot_ids = [d["SnapshotId"] for d in task.get("SnapshotDetails", []) if d.get("SnapshotId")]
    return {"status": task.get("Status"), "message": task.get("StatusMessage", ""), "progress": task.get("Progress"),
            "image_id": task.get("ImageId"), "snapshot_ids": snapshot_ids}  # fmt: skip


def wait_tasks(
    ec2: Any, task_ids: list[str], *, progress: Callable[[str, float], None], poll_s: float = POLL_S
) -> dict[str, dict[str, Any]]:
    """Poll until every task has ended; a task that did not complete fails the job with AWS's StatusMessage."""
    finished: dict[str, dict[str, Any]] = {}
    delay = 0.2
    while len(finished) < len(task_ids):
        for task_id in task_ids:
            if task_id in finished:
                continue
            state = describe_task(ec2, task_id)
            if state is None:
                raise JobError(f"import task {task_id} is not found")
            if state["status"] == "completed":
                finished[task_id] = state
            elif state["status"] in ("deleted", "deleting"):
                raise ImportFailedError(task_id, str(state["message"] or state["status"]))
            else:
                progress(f"{task_id}: {state['message'] or state['status']}", float(state["progress"] or 0))
        if len(finished) < len(task_ids):
            time.sleep(delay)
            delay = min(poll_s, delay * 2)
    return finished


class ImportFailedError(JobError):
    """An import task ended without completing: AWS's StatusMessage, as it is."""

    def __init__(self, task_id: str, message: str) -> None:
        super().__init__(
            f"import task {task_id} failed: {message}",
            hint="AWS's troubleshooting for this message: "
            "https://docs.aws.amazon.com/vm-import/latest/userguide/vmimport-troubleshooting.html",
        )
        self.task_id = task_id
        self.status_message = message


# -- the role ----------------------------------------------------------------------------------------------------
def _trusts_vmie(document: Any) -> bool:
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        services = (statement.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and "vmie.amazonaws.com" in services:
            return True
    return False


def role_state(factory: ClientFactory, account: str, region: str) -> str:
    """``present`` (and trusts vmie.amazonaws.com), ``untrusted``, ``missing``, or ``unverified`` (GetRole denied).
    IAM is global: ``region`` (the target's) only picks the partition's endpoint."""
    iam = factory.client(account, region, "iam")
    try:
        role = iam.get_role(RoleName=VMIMPORT_ROLE)["Role"]
    except NotFoundError:
        return "missing"
    except AccessDeniedError:
        return "unverified"
    return "present" if _trusts_vmie(role.get("AssumeRolePolicyDocument") or {}) else "untrusted"


def ensure_role(factory: ClientFactory, account: str, bucket: str, region: str) -> str:
    """Create the vmimport role (trust and policy of ``skyvault policy vmimport``), or keep the existing one.
    Returns ``created`` or ``kept``; AccessDenied says what to ask an administrator for."""
    rendered = vmimport_policies(bucket)
    state = role_state(factory, account, region)
    if state == "present":
        return "kept"
    if state == "untrusted":
        raise PreflightError(
            f"a role named {VMIMPORT_ROLE} exists but does not trust vmie.amazonaws.com; skyvault does not change it",
            hint=f"compare it with 'skyvault policy vmimport --bucket {bucket}'",
        )
    iam = factory.client(account, region, "iam")
    try:
        iam.create_role(RoleName=VMIMPORT_ROLE, AssumeRolePolicyDocument=json.dumps(rendered["trust_policy"]),
                        Description="VM Import/Export service role (created by skyvault convert)")  # fmt: skip
        iam.put_role_policy(RoleName=VMIMPORT_ROLE, PolicyName=VMIMPORT_ROLE,
                            PolicyDocument=json.dumps(rendered["policy"]))  # fmt: skip
    except ConflictError:
        return "kept"  # GetRole was denied (state unverified) and the role exists: kept as it is, unchecked
    except AccessDeniedError as exc:
        raise AccessDeniedError(
            f"cannot create the {VMIMPORT_ROLE} service role in account {account!r}: {exc}",
            actions=exc.actions or ("iam:CreateRole", "iam:PutRolePolicy"),
            step="create vmimport role",
            feature=str(Feature.CONVERT),
            hint=f"ask an administrator to create the role 'skyvault policy vmimport --bucket {bucket}' renders "
            "(role name vmimport, its trust policy and its permissions policy), then convert without "
            "--create-vmimport-role",
        ) from exc
    return "created"


# -- cleaners ----------------------------------------------------------------------------------------------------
def clean_upload(factory: ClientFactory, item: IntermediateResource) -> None:
    """Abort every unfinished upload of the object's key and delete the object (absent: nothing to do)."""
    bucket, key = _parse_upload(item.id)
    s3 = factory.client(item.account, item.region, "s3")
    try:
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    except NotFoundError:
        return  # the bucket is gone, and everything in it
    for upload in uploads:
        if upload["Key"] == key:
            with contextlib.suppress(NotFoundError):
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    with contextlib.suppress(NotFoundError):
        s3.delete_object(Bucket=bucket, Key=key)


def _tasks_by_token(ec2: Any, token: str) -> list[str]:
    from skyvault.services.ec2.tagging import TOKEN_TAG

    flt = [{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
    found = [t["ImportTaskId"] for t in ec2.describe_import_image_tasks(Filters=flt).get("ImportImageTasks", [])]
    snaps = ec2.describe_import_snapshot_tasks(Filters=flt).get("ImportSnapshotTasks", [])
    return found + [t["ImportTaskId"] for t in snaps]


def _gone(exc: SkyvaultError) -> bool:
    """Already removed (by an earlier cleanup of the same task): NotFound, or an AMI that is no longer available."""
    return (
        isinstance(exc, NotFoundError)
        or "NotFound" in getattr(exc, "code", "")
        or ("Unavailable" in getattr(exc, "code", ""))
    )


def _remove_outputs(ec2: Any, state: dict[str, Any]) -> None:
    calls: list[tuple[Callable[..., Any], dict[str, str]]] = []
    if state.get("image_id"):
        calls.append((ec2.deregister_image, {"ImageId": state["image_id"]}))
    calls += [(ec2.delete_snapshot, {"SnapshotId": s}) for s in state.get("snapshot_ids") or []]
    for call, params in calls:  # the AMI first: a registered AMI pins its snapshots
        try:
            call(**params)
        except (NotFoundError, AwsError) as exc:
            if not _gone(exc):
                raise


def clean_import_task(factory: ClientFactory, item: IntermediateResource) -> None:
    """An active task is cancelled (AWS removes what it made); a completed one's AMI and snapshots are removed
    (they were the job's: the instance or volumes exist, or the job failed)."""
    ec2 = factory.client(item.account, item.region, "ec2")
    task_ids = _tasks_by_token(ec2, item.id.removeprefix("token:")) if item.id.startswith("token:") else [item.id]
    for task_id in task_ids:
        state = describe_task(ec2, task_id)
        if state is None:
            continue
        if state["status"] == "active":
            with contextlib.suppress(AwsError):  # it ended meanwhile: judged below
                ec2.cancel_import_task(ImportTaskId=task_id, CancelReason="skyvault: the conversion job ended")
            deadline = time.monotonic() + CANCEL_PATIENCE_S
            while state is not None and state["status"] in ("active", "deleting") and time.monotonic() < deadline:
                time.sleep(0.5)
                state = describe_task(ec2, task_id)
            if state is not None and state["status"] in ("active", "deleting"):
                raise JobError(f"import task {task_id} is still {state['status']} after its cancellation")
        if state is not None and state["status"] == "completed":
            _remove_outputs(ec2, state)


def check_format(disk: dict[str, Any], *, source_format: str) -> str:
    """The DiskContainer Format of one disk's source file, or a PreflightError saying why VM Import refuses it."""
    fmt, variant = str(disk["format"]), str(disk["variant"])
    if source_format == "ova":
        fmt = "ova"
    if fmt == "qcow2":
        raise PreflightError(
            f"{disk['name']}: VM Import/Export does not accept QCOW2 (its formats: OVA, VMDK stream-optimized, "
            "VHD, VHDX, raw)",
            hint="convert it with --method direct (the default), which reads QCOW2",
        )
    if fmt == "vmdk" and variant != "stream-optimized":
        raise PreflightError(
            f"{disk['name']}: VM Import/Export accepts stream-optimized VMDK only, not {variant}",
            hint="convert it with --method direct (the default), which reads every VMDK variant",
        )
    if fmt not in IMPORT_FORMATS:
        raise PreflightError(f"{disk['name']}: VM Import/Export does not accept {fmt}",
                             hint="convert it with --method direct")  # fmt: skip
    return IMPORT_FORMATS[fmt]


__all__ = [
    "IMPORT_TASK", "OPTIONAL", "ROLE_CREATION", "ROW", "UPLOAD", "ImportFailedError", "UploadResult",
    "check_format", "clean_import_task", "clean_upload", "describe_task", "ensure_role", "object_key", "part_size",
    "required_permissions", "role_state", "start_image_import", "start_snapshot_import", "upload_file",
    "upload_intermediate", "wait_tasks",
]  # fmt: skip
