"""Proof: the S3 library backend and the admin account's AssumeRole run on exactly their generated policies.

The library policy is scoped to one bucket and prefix; moto checks S3 resource ARNs, so the scoping is proven
too: the same principal cannot write outside its prefix.
"""

from __future__ import annotations

import pytest

from conftest import LabEnv
from permissions.proof import Proof, Scenario, prepare, proof_tests
from skyvault.errors import AccessDeniedError
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS, tenant_role_arn
from skyvault.library.backends.s3 import S3Backend
from skyvault.library.kms import KmsKeyWrapper
from skyvault.permissions.registry import Feature
from skyvault.permissions.trust import admin_policy

BUCKET = "skyvault-proof-library"
PREFIX = "lib/main"
CONFIG = "config"
LOCK = "locks/exclusive"


def setup_library(proof: Proof) -> None:
    proof.raw("s3").create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    proof.state["kms_key"] = proof.raw("kms").create_key(Description="library key")["KeyMetadata"]["KeyId"]


def _backend(proof: Proof) -> S3Backend:
    return S3Backend.open(
        proof.factory(), url=f"s3://{BUCKET}/{PREFIX}", account=proof.scenario.principal, object_lock_days=1
    )


def run_library(proof: Proof) -> None:
    # The library's master key is sealed with a KMS data key at init and unsealed at every open.
    wrapper = KmsKeyWrapper(proof.factory(), proof.scenario.principal, proof.region, proof.state["kms_key"])
    plaintext, sealed = wrapper.generate_data_key()
    assert len(plaintext) == 32 and wrapper.decrypt(sealed) == plaintext
    backend = _backend(proof)
    backend.verify_bucket()
    backend.put(CONFIG, b"library config v1")
    assert backend.exists(CONFIG)
    assert backend.get(CONFIG) == b"library config v1"
    assert backend.get_range(CONFIG, 8, 6) == b"config"
    backend.put(LOCK, b"holder", if_absent=True)
    assert [name for name, _ in backend.list("locks")] == [LOCK]
    backend.delete(LOCK)
    assert not backend.exists(LOCK)


def run_admin(proof: Proof) -> None:
    factory = proof.factory()
    assert factory.account_id("tenant-a") == TENANT_ACCOUNT_IDS["tenant-a"]


def admin_documents() -> list[dict[str, object]]:
    return [d.document() for d in admin_policy([tenant_role_arn(TENANT_ACCOUNT_IDS["tenant-a"])])]


SCENARIOS = [
    Scenario(
        "library-s3",
        rows=("library",),
        features=(Feature.LIBRARY,),
        setup=setup_library,
        run=run_library,
        values={"Bucket": BUCKET, "Prefix": PREFIX},
    ),
    Scenario(
        "admin-assume-role",
        rows=("admin",),
        features=(Feature.AUTH,),
        principal="admin",
        run=run_admin,
        policy=admin_documents,
    ),
]

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)


@pytest.mark.lab
def test_library_policy_is_scoped_to_its_bucket_and_prefix(iam_lab_env: LabEnv) -> None:
    scenario = SCENARIOS[0]
    proof = prepare(iam_lab_env, scenario, scenario.documents())
    backend = _backend(proof)
    backend.put(CONFIG, b"inside")
    outside = S3Backend(backend.client, BUCKET, "lib/other")
    with pytest.raises(AccessDeniedError) as caught:
        outside.put(CONFIG, b"outside the prefix")
    assert "s3:PutObject" in caught.value.actions
