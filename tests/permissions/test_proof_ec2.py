"""Proof: EC2 backup with changed-block copies, restore from the library, and replacing the original run on exactly
their generated policy (and on the restricted one), with moto's IAM enforcement.

Each scenario renders the ``ec2`` row for its features, narrowed to the declarations of skyvault's EC2 modules that
its path uses (a library restore creates no bare volume and passes no role). Two denials do not fail a backup by
design and are turned into failures here so that "each action is needed" holds for them too: a denied
``ebs:ListChangedBlocks`` falls back to a full read with a warning naming it, and a denied ``ec2:DeleteSnapshot``
leaves the previous base snapshot with a warning. Job-end cleanup failures are recorded as leftovers; the scenarios
re-run the cleaners so a missing cleanup action surfaces as its access denial.

moto checks the action of each request (the lab adds the ``ec2:CreateTags`` AWS evaluates for tags in a create
request); the KMS actions EBS performs with the caller's permissions for encrypted snapshots and volumes are
companions it cannot see (``moto_blind``); the restricted policy's conditions are proven with
skyvault's evaluator in ``test_restricted.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from permissions.proof import Proof, Scenario, denied_actions, prepare, proof_tests, without
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.errors import AccessDeniedError
from skyvault.jobs.spec import JobSpec
from skyvault.lab import control
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import REGISTRY, Feature, Permission, Registry
from skyvault.permissions.render import render_policies
from skyvault.services import registry
from skyvault.services.contract import JobEnvironment
from skyvault.services.ec2 import agents, backup, capture, cleanup, copy, ebs_direct, launch, restore, snapshots

TENANT = "tenant-a"
TENANT_ID = TENANT_ACCOUNT_IDS[TENANT]
STOCK_AMI = "ami-12c6146b"
PASSPHRASE = "proof"
EC2_MODULES = (agents, backup, capture, cleanup, copy, ebs_direct, launch, restore, snapshots)
KMS = "EBS uses the KMS key of encrypted snapshots/volumes on the caller's behalf; the lab's EBS model calls no KMS"
BLIND = {a: KMS for a in (*ebs_direct.KMS_WRITE, *launch.KMS_VOLUMES)}


def _ec2_declarations() -> set[int]:
    return {id(v) for m in EC2_MODULES for v in vars(m).values() if isinstance(v, Permission)}


def narrowed(
    features: tuple[Feature, ...], operations: set[str], *, restricted: bool = False, rows: tuple[str, ...] = ("ec2",)
) -> Callable[[], list[dict[str, Any]]]:
    def documents() -> list[dict[str, Any]]:
        load_declarations()
        ours = _ec2_declarations()
        registry = Registry()
        for permission in REGISTRY.select(policies=rows, features=features):
            if id(permission) in ours and permission.operation in operations:
                registry.add(permission)
        rendered = render_policies(rows, features=features, registry=registry, restricted=restricted)
        return [d.document() for d in rendered]

    return documents


# -- setup: a tenant instance with data, a local library -----------------------------------------------------
def _library(proof: Proof) -> Repository:
    path = Path(proof.env.state_dir) / "proof-library"
    if not path.exists():
        Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**10, r=8, p=1)).close()
    return Repository.open(LocalBackend(path), passphrase=PASSPHRASE)


def setup_instance(proof: Proof) -> None:
    ec2 = proof.raw("ec2")
    launched = ec2.run_instances(
        ImageId=STOCK_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 1, "DeleteOnTermination": True}}],
    )["Instances"][0]  # fmt: skip
    proof.state["instance"] = launched["InstanceId"]
    root = launched["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    proof.state["root"] = root
    control.write_blocks(proof.env.lab, root, 8, seed=3, account_id=TENANT_ID, region=proof.region)
    # EC2 is eventually consistent (the lab's ec2_consistency model): a script waits until its new instance is seen.
    ec2.get_waiter("instance_exists").wait(
        InstanceIds=[launched["InstanceId"]], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def _runner(proof: Proof) -> JobRunner:
    env = JobEnvironment(Catalog.open(proof.env.state_dir), proof.factory(), open_library=lambda _name: _library(proof))
    return JobRunner(env)


def _backup(proof: Proof) -> dict[str, Any]:
    params = backup.backup_params(
        instance_id=proof.state["instance"], account=TENANT, region=proof.region, library="proof"
    )
    outcome: dict[str, Any] = _runner(proof).run(JobSpec(backup.JOB_KIND, params))
    _surface_denied_warnings(outcome["warnings"])
    return outcome


def _surface_denied_warnings(warnings: list[str]) -> None:
    """Fallbacks that keep a backup going (full read, base left behind) still mean an action is missing."""
    named = tuple(dict.fromkeys(a for w in warnings for a in re.findall(r"\b(?:ec2|ebs):[A-Za-z]+", w)))
    if named:
        raise AccessDeniedError(f"backup succeeded with fallbacks: {'; '.join(warnings)}", actions=named)


def _run_leftover_cleaners(proof: Proof) -> None:
    catalog = Catalog.open(proof.env.state_dir)
    factory = proof.factory()
    # Newest first, as the job runner does: an AMI pins the snapshots it was registered from.
    for item in sorted(catalog.live_intermediates(), key=lambda i: i.created_at, reverse=True):
        cleaner = registry.cleaner_for(item.resource_type)
        assert cleaner is not None
        cleaner(factory, item)


# -- scenarios ----------------------------------------------------------------------------------------------
def run_backup_incremental(proof: Proof) -> None:
    first = _backup(proof)
    assert first["stats"]["blocks_read"] == 8
    control.write_blocks(proof.env.lab, proof.state["root"], 2, seed=4, account_id=TENANT_ID,
                         region=proof.region, indices=[100, 101])  # fmt: skip
    second = _backup(proof)
    assert second["stats"]["api_calls"].get("ListChangedBlocks") == 1
    assert second["stats"]["blocks_read"] == 2


def setup_backed_up(proof: Proof) -> None:
    setup_instance(proof)
    proof.state["checksum"] = control.checksum(proof.env.lab, proof.state["root"], account_id=TENANT_ID,
                                               region=proof.region).sha256  # fmt: skip
    proof.state["point"] = _backup(proof)["recovery_point"]


def _restore(proof: Proof, *, source: str, target: str = "new") -> dict[str, Any]:
    params = {
        "recovery_point": proof.state["point"], "account": TENANT, "region": proof.region, "source": source,
        "target": target, "confirmed": True,
    }  # fmt: skip
    outcome: dict[str, Any] = _runner(proof).run(JobSpec(restore.JOB_KIND, params))
    _run_leftover_cleaners(proof)
    assert outcome["instance_id"]
    (volume_id,) = outcome["volume_ids"].values()  # {device: volume}: the instance has its root volume only
    got = control.checksum(proof.env.lab, volume_id, account_id=TENANT_ID, region=proof.region)
    assert got.sha256 == proof.state["checksum"]
    return outcome


def run_restore_library(proof: Proof) -> None:
    _restore(proof, source="library")


def run_restore_original(proof: Proof) -> None:
    outcome = _restore(proof, source="snapshot", target="original")
    assert outcome["replaced_instance_id"] == proof.state["instance"]


def run_app_consistent(proof: Proof) -> None:
    params = backup.backup_params(
        instance_id=proof.state["instance"], account=TENANT, region=proof.region, library=None, copy=False,
        app_consistent=True,
    )  # fmt: skip
    outcome = _runner(proof).run(JobSpec(backup.JOB_KIND, params))
    assert outcome["stats"]["api_calls"]["SendCommand"] == 2


BACKUP_FEATURES = (Feature.BACKUP, Feature.COPY)
BACKUP_OPS = {
    "DescribeInstances", "DescribeVolumes", "DescribeInstanceAttribute", "GetInstanceUefiData", "DescribeImages",
    "CreateSnapshots",
    "CreateTags", "DescribeSnapshots", "DeleteSnapshot", "ListSnapshotBlocks", "ListChangedBlocks", "GetSnapshotBlock",
}  # fmt: skip
RESTORE_FEATURES = (Feature.RESTORE, Feature.CLEANUP)
RESTORE_OPS = {
    "DescribeSnapshots", "DescribeSubnets", "StartSnapshot", "PutSnapshotBlock", "CompleteSnapshot", "RegisterImage",
    "DescribeImages", "RunInstances", "CreateTags", "DescribeInstances", "DescribeVolumes", "DeregisterImage",
    "DeleteSnapshot",
}  # fmt: skip
AGENT_ROWS = ("ec2", "ec2-agents")
AGENT_OPS = (BACKUP_OPS - {"DeleteSnapshot", "ListSnapshotBlocks", "ListChangedBlocks", "GetSnapshotBlock"}) | {
    "SendCommand", "GetCommandInvocation",
}  # fmt: skip
ORIGINAL_FEATURES = (Feature.RESTORE, Feature.RESTORE_OVERWRITE, Feature.CLEANUP)
ORIGINAL_OPS = (RESTORE_OPS - {"StartSnapshot", "PutSnapshotBlock", "CompleteSnapshot", "DeleteSnapshot"}) | {
    "StopInstances", "TerminateInstances",
}  # fmt: skip

BACKUP_INCREMENTAL = Scenario(
    "ec2-backup-incremental", rows=("ec2",), features=BACKUP_FEATURES, setup=setup_instance,
    run=run_backup_incremental, policy=narrowed(BACKUP_FEATURES, BACKUP_OPS), moto_blind=BLIND,
)  # fmt: skip
RESTORE_LIBRARY = Scenario(
    "ec2-restore-library", rows=("ec2",), features=RESTORE_FEATURES, setup=setup_backed_up,
    run=run_restore_library, policy=narrowed(RESTORE_FEATURES, RESTORE_OPS), moto_blind=BLIND,
)  # fmt: skip
APP_CONSISTENT = Scenario(
    "ec2-app-consistent", rows=AGENT_ROWS, features=(Feature.BACKUP,), setup=setup_instance,
    run=run_app_consistent, policy=narrowed((Feature.BACKUP,), AGENT_OPS, rows=AGENT_ROWS), moto_blind=BLIND,
)  # fmt: skip
RESTORE_ORIGINAL = Scenario(
    "ec2-restore-original", rows=("ec2",), features=ORIGINAL_FEATURES, setup=setup_backed_up,
    run=run_restore_original, policy=narrowed(ORIGINAL_FEATURES, ORIGINAL_OPS), moto_blind=BLIND,
)  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests([BACKUP_INCREMENTAL, RESTORE_LIBRARY])

# The app-consistent backup and the replacement of the original share most actions with the two above: both are
# proven sufficient, and action by action only for what the others do not already prove (keeps the suite fast).
test_overlapping_policy_suffices, _unused = proof_tests([APP_CONSISTENT, RESTORE_ORIGINAL])
del _unused
_PROVEN = set(BACKUP_INCREMENTAL.actions()) | set(RESTORE_LIBRARY.actions())
_OWN_ACTIONS = [
    pytest.param(scenario, action, id=f"{scenario.name}-{action}")
    for scenario in (APP_CONSISTENT, RESTORE_ORIGINAL)
    for action in scenario.actions()
    if action not in _PROVEN and action not in scenario.moto_blind
]


@pytest.mark.lab
@pytest.mark.parametrize(("scenario", "action"), _OWN_ACTIONS)
def test_own_action_is_needed(iam_lab_env: LabEnv, scenario: Scenario, action: str) -> None:
    proof = prepare(iam_lab_env, scenario, without(scenario.documents(), action))
    with pytest.raises(Exception) as caught:
        scenario.run(proof)
    assert action in denied_actions(caught.value), f"{scenario.name} without {action}: {caught.value!r}"


# The restricted policy grants the same actions under conditions moto ignores: proven sufficient here (its
# conditions are checked with skyvault's evaluator elsewhere), not re-proven action by action.
RESTRICTED = [
    Scenario("ec2-backup-incremental-restricted", rows=("ec2",), features=BACKUP_FEATURES, setup=setup_instance,
             run=run_backup_incremental, policy=narrowed(BACKUP_FEATURES, BACKUP_OPS, restricted=True)),
    Scenario("ec2-restore-library-restricted", rows=("ec2",), features=RESTORE_FEATURES, setup=setup_backed_up,
             run=run_restore_library, policy=narrowed(RESTORE_FEATURES, RESTORE_OPS, restricted=True)),
]  # fmt: skip
test_restricted_policy_suffices, _unused = proof_tests(RESTRICTED)
del _unused
