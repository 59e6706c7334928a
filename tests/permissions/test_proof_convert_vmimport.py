"""Proof: ``skyvault convert --method vmimport`` (image -> instance through ImportImage, and image -> volumes through
ImportSnapshot) runs on exactly its generated ``convert-vmimport`` policy under the lab's IAM enforcement; without
any one action of a path it fails. Mirrors test_proof_convert.py (the direct method).

The paths' policies are the row narrowed to what each path calls: the role's creation (``--create-vmimport-role``)
is proven on its own; ``iam:GetRole`` is a preflight check that degrades to "unverified" when denied (proven
below); ListParts, AbortMultipartUpload and CancelImportTask serve a resumed or failed job only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from image.diskgen import sample, write
from permissions.proof import REGION, Proof, Scenario, denied_actions, prepare, proof_tests, without
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.errors import LibraryError, PreflightError
from skyvault.jobs.spec import JobSpec
from skyvault.lab import control
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS
from skyvault.library.repository import Repository
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import REGISTRY, Feature, Registry
from skyvault.permissions.render import render_policies
from skyvault.permissions.trust import vmimport_policies
from skyvault.services import registry
from skyvault.services.contract import JobEnvironment
from skyvault.services.image import vmimport
from skyvault.services.image.driver import CONVERT_JOB

TENANT = "tenant-a"
TENANT_ID = TENANT_ACCOUNT_IDS[TENANT]
GIB = 1024**3
BUCKET = "tenant-imports"

ROW = vmimport.ROW
FEATURES = (Feature.CONVERT, Feature.CLEANUP)
UPLOAD_OPS = {
    "GetBucketLocation", "DescribeSubnets", "ListMultipartUploads", "CreateMultipartUpload", "UploadPart",
    "CompleteMultipartUpload", "CreateTags", "DeleteSnapshot", "DeleteObject",
}  # fmt: skip
LAUNCH_OPS = UPLOAD_OPS | {
    "ImportImage", "DescribeImportImageTasks", "DescribeImages", "RunInstances", "DescribeInstances",
    "DescribeVolumes", "DeregisterImage",
}  # fmt: skip
VOLUMES_OPS = UPLOAD_OPS | {"ImportSnapshot", "DescribeImportSnapshotTasks", "CreateVolume", "DescribeVolumes"}
ROLE_OPS = {"CreateRole", "PutRolePolicy"}
OPTIONAL_OPS = {"GetRole"}  # checks the role (preflight, --create-vmimport-role); denied: "unverified"
RESUME_OR_FAILURE_OPS = {"ListParts", "AbortMultipartUpload", "CancelImportTask", "DeleteVolume",
                         "TerminateInstances"}  # fmt: skip


def narrowed(operations: set[str]) -> Callable[[], list[dict[str, Any]]]:
    def documents() -> list[dict[str, Any]]:
        load_declarations()
        narrow = Registry()
        for permission in REGISTRY.select(policies=(ROW,), features=FEATURES):
            if permission.operation in operations:
                narrow.add(permission)
        return [
            d.document() for d in render_policies((ROW,), features=FEATURES, registry=narrow, values={"Bucket": BUCKET})
        ]

    return documents


def _no_library(_name: str | None) -> Repository:
    raise LibraryError("the proof converts image files, not library recovery points")


def setup_bucket(proof: Proof) -> None:
    proof.raw("s3").create_bucket(Bucket=BUCKET)
    content = sample(seed=8)
    proof.state["image"] = str(write("raw", Path(proof.env.state_dir), content))
    proof.state["sha256"] = content.sha256(padded_to=GIB)


def setup_image(proof: Proof) -> None:
    setup_bucket(proof)
    rendered = vmimport_policies(BUCKET)
    iam = proof.raw("iam")
    iam.create_role(RoleName="vmimport", AssumeRolePolicyDocument=json.dumps(rendered["trust_policy"]))
    iam.put_role_policy(RoleName="vmimport", PolicyName="vmimport", PolicyDocument=json.dumps(rendered["policy"]))


def _convert(proof: Proof, **options: Any) -> dict[str, Any]:
    env = JobEnvironment(Catalog.open(proof.env.state_dir), proof.factory(), open_library=_no_library)
    params = {"sources": [{"path": proof.state["image"]}], "account": TENANT, "region": proof.region,
              "method": "vmimport", "bucket": BUCKET, **options}  # fmt: skip
    outcome: dict[str, Any] = JobRunner(env).run(JobSpec(CONVERT_JOB, params))
    catalog = Catalog.open(proof.env.state_dir)
    for item in sorted(catalog.live_intermediates(), key=lambda i: i.created_at, reverse=True):
        cleaner = registry.cleaner_for(item.resource_type)
        assert cleaner is not None
        cleaner(proof.factory(), item)
    (volume_id,) = outcome["volume_ids"].values()
    got = control.checksum(proof.env.lab, volume_id, account_id=TENANT_ID, region=proof.region)
    assert got.sha256 == proof.state["sha256"]
    return outcome


def run_launch(proof: Proof) -> None:
    assert _convert(proof)["instance_id"]


def run_volumes_only(proof: Proof) -> None:
    assert _convert(proof, volumes_only=True)["instance_id"] is None


def run_create_role(proof: Proof) -> None:
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "created"
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "kept"


LAUNCH = Scenario("convert-vmimport-launch", rows=(ROW,), features=FEATURES, setup=setup_image, run=run_launch,
                  policy=narrowed(LAUNCH_OPS))  # fmt: skip
VOLUMES = Scenario("convert-vmimport-volumes-only", rows=(ROW,), features=FEATURES, setup=setup_image,
                   run=run_volumes_only, policy=narrowed(VOLUMES_OPS))  # fmt: skip
ROLE = Scenario("convert-vmimport-create-role", rows=(ROW,), features=FEATURES, setup=setup_bucket,
                run=run_create_role, policy=narrowed(ROLE_OPS))  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests([LAUNCH, VOLUMES, ROLE])


@pytest.mark.lab
def test_get_role_checks_the_role(iam_lab_env: LabEnv) -> None:
    proof = prepare(iam_lab_env, ROLE, narrowed(ROLE_OPS | OPTIONAL_OPS)())
    assert vmimport.role_state(proof.factory(), TENANT, REGION) == "missing"
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "created"
    assert vmimport.role_state(proof.factory(), TENANT, REGION) == "present"
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "kept"


@pytest.mark.lab
def test_without_get_role_the_role_is_unverified_and_kept_when_it_exists(iam_lab_env: LabEnv) -> None:
    proof = prepare(iam_lab_env, ROLE, ROLE.documents())
    assert vmimport.role_state(proof.factory(), TENANT, REGION) == "unverified"
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "created"
    assert vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION) == "kept"


@pytest.mark.lab
def test_denied_role_creation_names_what_to_ask_for(iam_lab_env: LabEnv) -> None:
    proof = prepare(iam_lab_env, ROLE, without(ROLE.documents(), "iam:CreateRole"))
    with pytest.raises(Exception) as caught:
        vmimport.ensure_role(proof.factory(), TENANT, BUCKET, REGION)
    assert "iam:CreateRole" in denied_actions(caught.value)
    assert f"skyvault policy vmimport --bucket {BUCKET}" in str(getattr(caught.value, "hint", ""))


def test_the_row_declares_what_the_paths_call() -> None:
    load_declarations()
    declared = {p.operation for p in REGISTRY.select(policies=(ROW,))}
    assert declared == LAUNCH_OPS | VOLUMES_OPS | ROLE_OPS | OPTIONAL_OPS | RESUME_OR_FAILURE_OPS


def test_the_preflight_checks_role_creation_only_when_asked() -> None:
    load_declarations()
    plain = {p.operation for p in vmimport.required_permissions(create_role=False)}
    creating = {p.operation for p in vmimport.required_permissions(create_role=True)}
    assert not plain & (ROLE_OPS | OPTIONAL_OPS) and creating - plain == ROLE_OPS
    assert plain >= LAUNCH_OPS | VOLUMES_OPS


@pytest.mark.lab
def test_preflight_names_a_missing_action_before_uploading(iam_lab_env: LabEnv, cli: Callable[..., Any]) -> None:
    proof = prepare(iam_lab_env, LAUNCH, without(LAUNCH.documents(), "ec2:ImportImage"))
    image = proof.state["image"]
    args = ("convert", image, "--account", TENANT, "--region", proof.region, "--method", "vmimport", "--bucket",
            BUCKET)  # fmt: skip
    planned = cli("--json", *args, "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    shown = planned.json()
    assert "ec2:ImportImage" in shown["permissions"]["missing"]
    assert not {"iam:CreateRole", "iam:PutRolePolicy", "iam:GetRole"} & set(shown["permissions"]["missing"])
    refused = cli(*args, "--yes")
    assert refused.exit_code == PreflightError.exit_code and "ec2:ImportImage" in refused.stderr
    assert proof.raw("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # nothing uploaded
