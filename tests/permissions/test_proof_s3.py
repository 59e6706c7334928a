"""Proof: S3 backups into the library and restores from it run on exactly the generated ``s3`` policy.

The backup scenario reads a versioned Object Lock bucket twice (current objects, then every version), with a
large-object threshold low enough that one object is read in ranges after a HeadObject; the restore scenario writes
a point taken in setup (with the permissive policy) into another Object Lock bucket, one object going up in parts.

moto authorises each S3 request as one IAM action (the lab adds the Object Lock ones, and a PutObject carrying a
retention date needs ``s3:PutObjectRetention`` too, as on AWS); the companions it cannot see are ``moto_blind``:
tagging, Object Lock and legal-hold companions of GetObject/PutObject, and ``s3:AbortMultipartUpload`` (called
only after a failed upload). The ``s3-outposts`` row (the same calls through an access point ARN) is proven in
``test_proof_s3_outposts.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from permissions.proof import Proof, Scenario, proof_tests
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.jobs.spec import JobSpec
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository
from skyvault.permissions.registry import Feature
from skyvault.services.contract import JobEnvironment
from skyvault.services.s3 import jobs

TENANT = "tenant-a"
PASSPHRASE = "proof"
SOURCE = "proof-source"
TARGET = "proof-target"
BIG = bytes(range(256)) * 4 * 1024  # 1 MiB
TUNING = {"large_object": 256 * 1024, "part_size": 256 * 1024}
BLIND_BACKUP = {
    "s3:GetObjectVersionTagging": "moto authorises GET ?tagging&versionId as s3:GetObjectVersion",
    "s3:GetObjectRetention": "moto returns Object Lock headers without checking it (AWS leaves them out)",
    "s3:GetObjectLegalHold": "moto returns the legal-hold header without checking it (AWS leaves it out)",
}
BLIND_RESTORE = {
    **BLIND_BACKUP,
    "s3:PutObjectTagging": "moto does not check the tagging companion of a PutObject with x-amz-tagging",
    "s3:PutObjectLegalHold": "moto does not check the legal-hold companion of a PutObject",
    "s3:AbortMultipartUpload": "called only when an upload fails",
}


def _library(proof: Proof) -> Repository:
    path = Path(proof.env.state_dir) / "proof-library"
    if not path.exists():
        Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**10, r=8, p=1)).close()
    return Repository.open(LocalBackend(path), passphrase=PASSPHRASE)


def _runner(proof: Proof) -> JobRunner:
    env = JobEnvironment(Catalog.open(proof.env.state_dir), proof.factory(), open_library=lambda _name: _library(proof))
    return JobRunner(env)


def setup_bucket(proof: Proof) -> None:
    s3 = proof.raw("s3")
    s3.create_bucket(Bucket=SOURCE, ObjectLockEnabledForBucket=True)  # Object Lock turns versioning on
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    s3.put_object(Bucket=SOURCE, Key="a/locked", Body=b"kept", Tagging="k=v", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="ON")  # fmt: skip
    s3.put_object(Bucket=SOURCE, Key="b/big", Body=BIG, ContentType="application/octet-stream")
    s3.put_object(Bucket=SOURCE, Key="c/old", Body=b"v1")
    s3.put_object(Bucket=SOURCE, Key="c/old", Body=b"v2")


def _backup(proof: Proof, *, versions: bool) -> dict[str, Any]:
    params = jobs.backup_params(locations=[SOURCE], account=TENANT, region=proof.region, library="proof",
                                versions=versions, tuning=TUNING)  # fmt: skip
    [result] = _runner(proof).run(JobSpec(jobs.BACKUP_JOB, params))
    assert isinstance(result, dict)
    return result


def run_backup(proof: Proof) -> None:
    current = _backup(proof, versions=False)
    assert current["stats"]["objects"] == 3 and current["stats"]["api_calls"]["HeadObject"] == 1
    every = _backup(proof, versions=True)
    assert every["stats"]["objects"] == 4


def setup_restore(proof: Proof) -> None:
    setup_bucket(proof)
    proof.raw("s3").create_bucket(Bucket=TARGET, ObjectLockEnabledForBucket=True)
    proof.state["point"] = _backup(proof, versions=False)["recovery_point"]


def run_restore(proof: Proof) -> None:
    params = {"recovery_point": proof.state["point"], "target": "new", "confirmed": False,
              "options": {"bucket": TARGET}, "tuning": {"multipart_threshold": 512 * 1024}}  # fmt: skip
    result = _runner(proof).run(JobSpec(jobs.RESTORE_JOB, params))
    # The principal holds only the restore policy (it cannot read the objects back): tests/s3 checks the bytes.
    assert result["stats"]["objects"] == 3 and result["stats"]["object_lock_applied"] is True


SCENARIOS = [
    Scenario("s3-backup", rows=("s3",), features=(Feature.BACKUP,), setup=setup_bucket, run=run_backup,
             principal=TENANT, moto_blind=BLIND_BACKUP),
    Scenario("s3-restore", rows=("s3",), features=(Feature.RESTORE,), setup=setup_restore, run=run_restore,
             principal=TENANT, moto_blind=BLIND_RESTORE),
]  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
