"""Proof: ``skyvault convert --method direct`` (image -> instance, and image -> volumes) runs on exactly its
generated ``convert`` policy, under the lab's IAM enforcement; without any one action of the launch path it fails.

The launch path's policy is the ``convert`` row narrowed to what that path calls (it creates no bare volume and,
when it succeeds, terminates and deletes nothing of the user's); the volumes-only path is proven sufficient with
its own narrowing. Job-end cleanup failures are recorded as leftovers, so the scenarios re-run the cleaners: a
missing cleanup action surfaces as its access denial.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CliResult, LabEnv
from image.diskgen import sample, write
from permissions.proof import Proof, Scenario, denied_actions, prepare, proof_tests, without
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
from skyvault.services import registry
from skyvault.services.contract import JobEnvironment
from skyvault.services.image.driver import CONVERT_JOB

TENANT = "tenant-a"
TENANT_ID = TENANT_ACCOUNT_IDS[TENANT]
GIB = 1024**3
FEATURES = (Feature.CONVERT, Feature.CLEANUP)
LAUNCH_OPS = {
    "DescribeSubnets", "StartSnapshot", "CreateTags", "PutSnapshotBlock", "CompleteSnapshot", "DescribeSnapshots",
    "RegisterImage", "DescribeImages", "RunInstances", "DescribeInstances", "DescribeVolumes", "DeregisterImage",
    "DeleteSnapshot",
}  # fmt: skip
VOLUMES_OPS = {
    "DescribeSubnets", "StartSnapshot", "CreateTags", "PutSnapshotBlock", "CompleteSnapshot", "DescribeSnapshots",
    "CreateVolume", "DescribeVolumes", "DeleteSnapshot",
}  # fmt: skip


def narrowed(operations: set[str]) -> Callable[[], list[dict[str, Any]]]:
    def documents() -> list[dict[str, Any]]:
        load_declarations()
        narrow = Registry()
        for permission in REGISTRY.select(policies=("convert",), features=FEATURES):
            if permission.operation in operations:
                narrow.add(permission)
        return [d.document() for d in render_policies(("convert",), features=FEATURES, registry=narrow)]

    return documents


def _no_library(_name: str | None) -> Repository:
    raise LibraryError("the proof converts image files, not library recovery points")


def setup_image(proof: Proof) -> None:
    content = sample(seed=8)
    proof.state["image"] = str(write("vmdk-stream", Path(proof.env.state_dir), content))
    proof.state["sha256"] = content.sha256(padded_to=GIB)


def _convert(proof: Proof, **options: Any) -> dict[str, Any]:
    env = JobEnvironment(Catalog.open(proof.env.state_dir), proof.factory(), open_library=_no_library)
    params = {"sources": [{"path": proof.state["image"]}], "account": TENANT, "region": proof.region, **options}
    outcome: dict[str, Any] = JobRunner(env).run(JobSpec(CONVERT_JOB, params))
    catalog = Catalog.open(proof.env.state_dir)
    # Newest first, as the job runner does: an AMI pins the snapshots it was registered from.
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


LAUNCH = Scenario(
    "convert-launch", rows=("convert",), features=FEATURES, setup=setup_image, run=run_launch,
    policy=narrowed(LAUNCH_OPS),
)  # fmt: skip
VOLUMES = Scenario(
    "convert-volumes-only", rows=("convert",), features=FEATURES, setup=setup_image, run=run_volumes_only,
    policy=narrowed(VOLUMES_OPS),
)  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests([LAUNCH])
test_volumes_policy_suffices, _unused = proof_tests([VOLUMES])
del _unused


@pytest.mark.lab
def test_volumes_only_needs_create_volume(iam_lab_env: LabEnv) -> None:
    proof = prepare(iam_lab_env, VOLUMES, without(VOLUMES.documents(), "ec2:CreateVolume"))
    with pytest.raises(Exception) as caught:
        VOLUMES.run(proof)
    assert "ec2:CreateVolume" in denied_actions(caught.value)


def test_the_convert_row_declares_what_the_paths_call() -> None:
    load_declarations()
    declared = {p.operation for p in REGISTRY.select(policies=("convert",))}
    # Beyond the two proven paths: what a failed conversion needs to remove what it launched or created.
    assert declared == LAUNCH_OPS | VOLUMES_OPS | {"DeleteVolume", "TerminateInstances"}


@pytest.mark.lab
def test_preflight_names_a_missing_action_before_creating_anything(
    iam_lab_env: LabEnv, cli: Callable[..., CliResult]
) -> None:
    proof = prepare(iam_lab_env, LAUNCH, without(LAUNCH.documents(), "ec2:RunInstances"))
    image = proof.state["image"]
    planned = cli("--json", "convert", image, "--account", TENANT, "--region", proof.region, "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    assert "ec2:RunInstances" in planned.json()["permissions"]["missing"]
    refused = cli("convert", image, "--account", TENANT, "--region", proof.region, "--yes")
    assert refused.exit_code == PreflightError.exit_code and "ec2:RunInstances" in refused.stderr
    ec2 = proof.raw("ec2")
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []  # nothing was written
