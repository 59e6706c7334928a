"""``skyvault convert --method vmimport`` in the lab: image files are uploaded to S3 (multipart, resumable), imported
by the lab's VM Import model, and become an instance (or volumes) whose volumes hold the image's logical bytes;
uploads, import tasks and the import's AMI and snapshots are intermediates, gone at the end, on failure and after
a kill; ``--create-vmimport-role`` creates the service role once and keeps it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, LabEnv
from image.diskgen import MIB, Content, pattern, sample, write, write_ova
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.errors import AccessDeniedError, PreflightError
from skyvault.lab import control
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID
from skyvault.permissions.trust import vmimport_policies
from skyvault.services.image import vmimport

Cli = Callable[..., CliResult]
GIB = 1024 * MIB
BUCKET = "skyvault-imports"
REGION = "us-east-1"


def _raw(env: LabEnv, service: str) -> Any:
    factory = ClientFactory(env.config, base_dir=env.config_path.parent, strict_guard=False)
    return factory.client("admin", REGION, service)


@pytest.fixture
def bucket(lab_env: LabEnv) -> str:
    _raw(lab_env, "s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def _role(env: LabEnv) -> None:
    rendered = vmimport_policies(BUCKET)
    iam = _raw(env, "iam")
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(rendered["trust_policy"]))
    iam.put_role_policy(RoleName="vmimport", PolicyName="vmimport", PolicyDocument=json.dumps(rendered["policy"]))


def _leftovers(env: LabEnv) -> dict[str, list[str]]:
    """What a conversion may leave: objects and multipart uploads in the bucket, AMIs and snapshots."""
    s3, ec2 = _raw(env, "s3"), _raw(env, "ec2")
    return {
        "objects": [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])],
        "uploads": [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])],
        "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]],
        "snapshots": [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]],
    }


NOTHING: dict[str, list[str]] = {"objects": [], "uploads": [], "images": [], "snapshots": []}


def _checksum(env: LabEnv, volume_id: str) -> str:
    return control.checksum(env.lab, volume_id, account_id=ADMIN_ACCOUNT_ID, region=REGION).sha256


def _run(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("--json", "convert", *args, "--method", "vmimport", "--bucket", BUCKET, "--yes")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = result.json()
    return data


def test_vhd_boot_and_raw_data_disk_become_a_running_instance(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path
) -> None:
    _role(lab_env)
    boot = Content(GIB, {0: pattern(11, MIB + 4096), 300 * MIB + 12345: pattern(12, 700_000)})
    data = sample(seed=2)
    boot_path = write("vhd-dynamic", tmp_path, boot, name="boot")
    data_path = write("raw", tmp_path, data, name="data")
    out = _run(cli, str(boot_path), str(data_path), "--boot-mode", "uefi", "--name", "vm-1")
    assert out["method"] == "vmimport" and out["instance_id"]
    assert out["import_task_ids"][0].startswith("import-ami-")
    assert set(out["volume_ids"]) == {"/dev/sda1", "/dev/sdb"}
    assert _checksum(lab_env, out["volume_ids"]["/dev/sda1"]) == boot.sha256()
    assert _checksum(lab_env, out["volume_ids"]["/dev/sdb"]) == data.sha256(padded_to=GIB)
    assert out["stats"]["bytes_uploaded"] == boot_path.stat().st_size + data_path.stat().st_size
    instance = _raw(lab_env, "ec2").describe_instances(InstanceIds=[out["instance_id"]])["Reservations"][0]
    assert {"Key": "Name", "Value": "vm-1"} in instance["Instances"][0]["Tags"]
    # The uploads, the imported AMI and its snapshots were the job's: gone. The instance's volumes stay.
    assert _leftovers(lab_env) == NOTHING


@pytest.mark.parametrize("kind", ["raw", "vhd-fixed", "vhdx", "vmdk-stream"])
def test_each_accepted_format_imports_to_a_volume_with_its_bytes(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path, kind: str
) -> None:
    _role(lab_env)
    content = sample(seed=7)
    out = _run(cli, str(write(kind, tmp_path, content)), "--volumes-only")
    # VHDX has no ImportSnapshot: it goes through ImportImage and its AMI is temporary.
    assert out["import_task_ids"][0].startswith("import-ami-" if kind == "vhdx" else "import-snap-")
    assert out["instance_id"] is None
    assert _checksum(lab_env, out["volume_ids"]["/dev/sda1"]) == content.sha256(padded_to=GIB)
    assert _leftovers(lab_env) == NOTHING


def test_an_ova_becomes_an_instance_of_its_disks(lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path) -> None:
    _role(lab_env)
    first, second = sample(seed=3), sample(size=2 * MIB, seed=4)
    ova = write_ova(tmp_path / "appliance.ova", [first, second], cpus=2, memory_mib=4096)
    out = _run(cli, str(ova))
    assert out["instance_id"]
    assert _checksum(lab_env, out["volume_ids"]["/dev/sda1"]) == first.sha256(padded_to=GIB)
    assert _checksum(lab_env, out["volume_ids"]["/dev/sdb"]) == second.sha256(padded_to=GIB)
    assert _leftovers(lab_env) == NOTHING


def test_refusals_before_anything_is_uploaded(lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path) -> None:
    image = write("raw", tmp_path, sample())
    no_bucket = cli("convert", str(image), "--method", "vmimport", "--yes")
    assert no_bucket.exit_code == PreflightError.exit_code and "--bucket" in no_bucket.stderr
    no_role = cli("convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    assert no_role.exit_code == PreflightError.exit_code
    assert "vmimport service role is missing" in no_role.stderr and "--create-vmimport-role" in no_role.stderr
    _role(lab_env)
    qcow2 = cli("convert", str(write("qcow2", tmp_path, sample())), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    assert qcow2.exit_code == PreflightError.exit_code and "does not accept QCOW2" in qcow2.stderr
    assert "--method direct" in qcow2.stderr
    sparse = write("vmdk-sparse", tmp_path, sample())
    refused = cli("convert", str(sparse), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    assert refused.exit_code == PreflightError.exit_code and "stream-optimized VMDK only" in refused.stderr
    elsewhere = cli("convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--region", "eu-west-1")
    assert elsewhere.exit_code == PreflightError.exit_code and "target region" in elsewhere.stderr
    assert _leftovers(lab_env) == NOTHING


def test_a_failed_import_reports_aws_message_and_leaves_nothing(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path
) -> None:
    """The role exists but its policy reads another bucket: the task ends ``deleted`` with AWS's message."""
    rendered = vmimport_policies("another-bucket")
    iam = _raw(lab_env, "iam")
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(rendered["trust_policy"]))
    iam.put_role_policy(RoleName="vmimport", PolicyName="vmimport", PolicyDocument=json.dumps(rendered["policy"]))
    image = write("raw", tmp_path, sample())
    result = cli("convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    assert result.exit_code == vmimport.ImportFailedError.exit_code, result.stderr
    assert "ClientError: Disk validation failed [We do not have access to the given resource" in result.stderr
    assert _leftovers(lab_env) == NOTHING


def test_create_vmimport_role_creates_then_keeps_it(lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path) -> None:
    image = write("raw", tmp_path, sample(seed=9))
    args = ("convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--create-vmimport-role",
            "--volumes-only", "--yes")  # fmt: skip
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    assert "vmimport role created" in first.stderr + first.stdout
    role = _raw(lab_env, "iam").get_role(RoleName="vmimport")["Role"]
    assert "vmie.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    second = cli(*args)
    assert second.exit_code == 0, second.stderr
    assert "vmimport role kept" in second.stderr + second.stdout
    assert _leftovers(lab_env) == NOTHING


def test_create_vmimport_role_denied_says_what_to_ask_for(
    lab_env: LabEnv, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    iam = factory.client("admin", REGION, "iam")

    def denied(**_: Any) -> Any:
        raise AccessDeniedError("iam:CreateRole denied", actions=("iam:CreateRole",))

    monkeypatch.setattr(type(factory), "client", lambda self, account, region, service: iam)
    monkeypatch.setitem(iam.__dict__, "create_role", denied)
    with pytest.raises(AccessDeniedError) as caught:
        vmimport.ensure_role(factory, "admin", BUCKET, REGION)
    assert f"skyvault policy vmimport --bucket {BUCKET}" in str(caught.value.hint)
    assert caught.value.exit_code == AccessDeniedError.exit_code


def test_killed_mid_upload_resumes_from_the_listed_parts(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 MiB parts; the process dies in the third UploadPart (the runner's end-of-job cleanup off: a dead process
    cleans nothing); ``jobs resume`` keeps the parts S3 lists and uploads the rest; nothing is left at the end."""
    _role(lab_env)
    content = Content(16 * MIB, {0: pattern(1, 16 * MIB)})
    image = write("raw", tmp_path, content)
    monkeypatch.setattr(vmimport, "PART_SIZE", 5 * MIB)
    real = vmimport.upload_file
    sent = {"n": 0}

    def dies_in_third_part(job: Any, s3: Any, *args: Any, **kwargs: Any) -> Any:
        class Dying:
            def __getattr__(self, name: str) -> Any:
                return getattr(s3, name)

            def upload_part(self, **params: Any) -> Any:
                sent["n"] += 1
                if sent["n"] == 3:
                    raise KeyboardInterrupt
                return s3.upload_part(**params)

        return real(job, Dying(), *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])
        patch.setattr(vmimport, "upload_file", dies_in_third_part)
        cli("--json", "convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--volumes-only", "--yes")
    catalog = Catalog.open(lab_env.state_dir)
    [job] = [j for j in catalog.jobs() if j.kind == "convert-image"]
    catalog.update_job(job.id, status="running")  # what a killed process leaves; its lease is not renewed
    assert _leftovers(lab_env)["uploads"] == [vmimport.object_key(job.id, 0, str(image))]
    resumed = cli("--json", "jobs", "resume", job.id)
    assert resumed.exit_code == 0, resumed.stderr
    out = resumed.json()
    # Parts in flight in parallel with the dying one may have finished: at least the first two were kept.
    assert out["stats"]["parts_uploaded"] == 4 and 2 <= out["stats"]["parts_resumed"] <= 3
    [volume_id] = out["volume_ids"].values()
    assert _checksum(lab_env, volume_id) == content.sha256(padded_to=GIB)
    assert _leftovers(lab_env) == NOTHING and catalog.live_intermediates(job.id) == []


@pytest.mark.parametrize("then", ["cancel", "resume"])
def test_killed_during_the_import_is_cleaned_up_or_resumed(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    """Killed while the import task runs: ``jobs cancel`` cancels the task and deletes the upload; ``jobs resume``
    keeps the finished upload (not sent again), cancels the killed attempt's task and imports again."""
    _role(lab_env)
    image = write("raw", tmp_path, sample(seed=12))

    def dies_waiting(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])
        patch.setattr(vmimport, "wait_tasks", dies_waiting)
        cli("--json", "convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    catalog = Catalog.open(lab_env.state_dir)
    [job] = [j for j in catalog.jobs() if j.kind == "convert-image"]
    catalog.update_job(job.id, status="running")
    types = sorted(i.resource_type for i in catalog.live_intermediates(job.id))
    assert types == [vmimport.IMPORT_TASK, vmimport.UPLOAD]
    assert _leftovers(lab_env)["objects"]
    [first_task] = [i.id for i in catalog.live_intermediates(job.id) if i.resource_type == vmimport.IMPORT_TASK]
    if then == "cancel":
        cancelled = cli("jobs", "cancel", job.id, "--force")
        assert cancelled.exit_code == 0, cancelled.stderr
    else:
        resumed = cli("--json", "jobs", "resume", job.id)
        assert resumed.exit_code == 0, resumed.stderr
        out = resumed.json()
        assert out["import_task_ids"] != [first_task] and out["instance_id"]
        assert out["stats"]["parts_uploaded"] == 1  # the upload step's recorded result: not uploaded again
        assert _checksum(lab_env, out["volume_ids"]["/dev/sda1"]) == sample(seed=12).sha256(padded_to=GIB)
    ec2 = _raw(lab_env, "ec2")
    first = ec2.describe_import_image_tasks(ImportTaskIds=[first_task])["ImportImageTasks"][0]
    assert first["Status"] == "deleted" or (first["Status"] == "completed" and not _leftovers(lab_env)["images"])
    assert _leftovers(lab_env) == NOTHING and catalog.live_intermediates(job.id) == []


def test_killed_mid_upload_then_cancelled_aborts_the_upload(
    lab_env: LabEnv, cli: Cli, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same kill, then ``jobs cancel``: the unfinished multipart upload is aborted; nothing is left."""
    _role(lab_env)
    image = write("raw", tmp_path, Content(12 * MIB, {0: pattern(2, 12 * MIB)}))
    monkeypatch.setattr(vmimport, "PART_SIZE", 5 * MIB)
    real = vmimport.upload_file

    def dies_after_creating(job: Any, s3: Any, *args: Any, **kwargs: Any) -> Any:
        class Dying:
            def __getattr__(self, name: str) -> Any:
                return getattr(s3, name)

            def upload_part(self, **params: Any) -> Any:
                s3.upload_part(**params)
                raise KeyboardInterrupt

        return real(job, Dying(), *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JobRunner, "cleanup", lambda self, job_id: [])
        patch.setattr(vmimport, "upload_file", dies_after_creating)
        cli("--json", "convert", str(image), "--method", "vmimport", "--bucket", BUCKET, "--yes")
    catalog = Catalog.open(lab_env.state_dir)
    [job] = [j for j in catalog.jobs() if j.kind == "convert-image"]
    catalog.update_job(job.id, status="running")
    assert _leftovers(lab_env)["uploads"]
    cancelled = cli("jobs", "cancel", job.id, "--force")
    assert cancelled.exit_code == 0, cancelled.stderr
    assert _leftovers(lab_env) == NOTHING and catalog.live_intermediates(job.id) == []
