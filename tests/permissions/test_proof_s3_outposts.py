"""Proof: S3 on Outposts backups and restores, through access point ARNs, run on exactly the ``s3-outposts`` row.

The lab serves access points over HTTPS through its proxy (``skyvault.lab.tlsproxy``) and authorises each request
as its ``s3-outposts:`` action on the ARNs the Service Authorization Reference requires for it (``ListBucket``: the
access point's and the bucket's; object actions: the object's, under its bucket), after checking the signature the
client made for ``s3-outposts`` (the ``s3_outposts`` model). The backup reads the current objects and then every
version (one object read in ranges after a HeadObject); the restore writes into another access point, one object
going up in parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import LabEnv
from permissions.proof import Proof, Scenario, proof_tests
from permissions.test_proof_s3 import BIG, TUNING, _runner
from skyvault.jobs.spec import JobSpec
from skyvault.lab import control
from skyvault.lab.labconfig import LabInfo
from skyvault.permissions.registry import Feature
from skyvault.services.s3 import jobs

TENANT = "tenant-a"
OUTPOST = "op-0fedcba9876543210"
BLIND = {
    "s3-outposts:GetObjectVersionTagging": "moto authorises GET ?tagging&versionId as GetObjectVersion",
}
BLIND_RESTORE = {
    "s3-outposts:PutObjectTagging": "moto does not check the tagging companion of a PutObject with x-amz-tagging",
    "s3-outposts:AbortMultipartUpload": "called only when an upload fails",
}


@pytest.fixture(autouse=True)
def _https_through_the_lab_proxy(iam_lab: LabInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HTTPS_PROXY", iam_lab.https_proxy)
    monkeypatch.setenv("AWS_CA_BUNDLE", iam_lab.ca_bundle)
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


def _access_point(proof: Proof, bucket: str, name: str) -> str:
    env: LabEnv = proof.env
    return control.create_outposts_bucket(
        env.lab, OUTPOST, bucket, name, account_id=env.lab.tenants[TENANT], region=proof.region
    )


def setup_source(proof: Proof) -> None:
    arn = proof.state["source"] = _access_point(proof, "proof-data", "proof-source")
    s3 = proof.raw("s3")
    s3.put_object(Bucket=arn, Key="a/tagged", Body=b"kept", Tagging="k=v", StorageClass="OUTPOSTS")
    s3.put_object(Bucket=arn, Key="b/big", Body=BIG, ContentType="application/octet-stream", StorageClass="OUTPOSTS")
    s3.put_object(Bucket=arn, Key="c/old", Body=b"v1", StorageClass="OUTPOSTS")


def _backup(proof: Proof, *, versions: bool) -> dict[str, Any]:
    params = jobs.backup_params(locations=[proof.state["source"]], account=TENANT, region=proof.region,
                                library="proof", versions=versions, tuning=TUNING)  # fmt: skip
    [result] = _runner(proof).run(JobSpec(jobs.BACKUP_JOB, params))
    assert isinstance(result, dict)
    return result


def run_backup(proof: Proof) -> None:
    current = _backup(proof, versions=False)
    assert current["stats"]["objects"] == 3 and current["stats"]["api_calls"]["HeadObject"] == 1
    every = _backup(proof, versions=True)
    assert every["stats"]["objects"] == 3


def setup_restore(proof: Proof) -> None:
    setup_source(proof)
    proof.state["target"] = _access_point(proof, "proof-copy", "proof-target")
    proof.state["point"] = _backup(proof, versions=False)["recovery_point"]


def run_restore(proof: Proof) -> None:
    params = {"recovery_point": proof.state["point"], "target": "new", "confirmed": False,
              "options": {"bucket": proof.state["target"]},
              "tuning": {"multipart_threshold": 512 * 1024}}  # fmt: skip
    result = _runner(proof).run(JobSpec(jobs.RESTORE_JOB, params))
    assert result["stats"]["objects"] == 3


SCENARIOS = [
    Scenario("s3-outposts-backup", rows=("s3-outposts",), features=(Feature.BACKUP,), setup=setup_source,
             run=run_backup, principal=TENANT, moto_blind=BLIND),
    Scenario("s3-outposts-restore", rows=("s3-outposts",), features=(Feature.RESTORE,), setup=setup_restore,
             run=run_restore, principal=TENANT, moto_blind=BLIND_RESTORE),
]  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
