"""The lab's IAM fidelity models that the proofs rely on (they fail when a moto upgrade breaks a model).

- ``iam_unknown_resource``: resource-scoped statements work for services whose resource moto does not know.
- ``iam_signature_query``: S3 requests whose query holds '/' verify under enforcement.
- ``s3_iam_actions``: Object Lock requests need the IAM actions AWS requires.
(``iam_simulate`` is tested in ``test_check.py``.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from permissions.proof import Proof, Scenario
from skyvault.permissions.registry import Feature

pytestmark = pytest.mark.lab
BUCKET = "skyvault-model-bucket"


def _proof(env: LabEnv) -> Proof:
    return Proof(env, Scenario("models", rows=("s3",), features=(Feature.DISCOVER,), run=lambda proof: None))


def _allow(*statements: tuple[list[str], str]) -> list[dict[str, Any]]:
    return [
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in statements],
        }
    ]


def _denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_resource_scoped_statements_for_services_moto_cannot_resolve(iam_lab_env: LabEnv) -> None:
    proof = _proof(iam_lab_env)
    proof.grant_only(_allow((["rds:DescribeDBInstances"], "arn:aws:rds:*:*:db:*")))
    rds = proof.raw("rds")  # the role now holds only the scoped statement (moto evaluates per request)
    assert rds.describe_db_instances()["DBInstances"] == []
    assert _denied(rds.describe_db_clusters) in ("AccessDenied", "AccessDeniedException")


def test_s3_query_with_slashes_verifies_and_object_lock_actions(iam_lab_env: LabEnv) -> None:
    proof = _proof(iam_lab_env)
    proof.raw("s3").create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    proof.grant_only(
        _allow(
            (["s3:ListBucket", "s3:PutObject"], f"arn:aws:s3:::{BUCKET}*"),
        )
    )
    s3 = proof.raw("s3")
    s3.put_object(Bucket=BUCKET, Key="lib/a/b", Body=b"x")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="lib/a/")
    assert [o["Key"] for o in listed["Contents"]] == ["lib/a/b"]
    # Object Lock: AWS asks for s3:GetBucketObjectLockConfiguration, not s3:ListBucket...
    assert _denied(lambda: s3.get_object_lock_configuration(Bucket=BUCKET)) == "AccessDenied"
    # ...and for s3:PutObjectRetention on top of s3:PutObject when a write carries a retention date.
    until = datetime.now(UTC) + timedelta(days=1)
    locked = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}
    assert _denied(lambda: s3.put_object(Bucket=BUCKET, Key="lib/c", Body=b"y", **locked)) == "AccessDenied"


def test_object_lock_actions_allow_when_granted(iam_lab_env: LabEnv) -> None:
    proof = _proof(iam_lab_env)
    proof.raw("s3").create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    actions = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetBucketObjectLockConfiguration"]
    proof.grant_only(_allow((actions, f"arn:aws:s3:::{BUCKET}"), (actions, f"arn:aws:s3:::{BUCKET}/*")))
    s3 = proof.raw("s3")
    conf = s3.get_object_lock_configuration(Bucket=BUCKET)["ObjectLockConfiguration"]
    assert conf["ObjectLockEnabled"] == "Enabled"
    until = datetime.now(UTC) + timedelta(days=1)
    s3.put_object(Bucket=BUCKET, Key="lib/c", Body=b"y", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)


def test_tagging_on_create_needs_the_tagging_action(iam_lab_env: LabEnv) -> None:
    proof = _proof(iam_lab_env)
    tags = [{"ResourceType": "volume", "Tags": [{"Key": "skyvault:managed", "Value": "true"}]}]
    proof.grant_only(_allow((["ec2:CreateVolume"], "*")))
    ec2 = proof.raw("ec2")
    ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")  # untagged: CreateVolume alone suffices
    denied = _denied(lambda: ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tags))
    assert denied == "UnauthorizedOperation"
    # Another principal (the admin user) holding both actions creates it tagged.
    admin = Proof(iam_lab_env, Scenario("models-admin", rows=("ec2",), features=(Feature.DISCOVER,),
                                        run=lambda proof: None, principal="admin"))  # fmt: skip
    admin.grant_only(_allow((["ec2:CreateVolume", "ec2:CreateTags"], "*")))
    made = admin.raw("ec2").create_volume(Size=1, AvailabilityZone="us-east-1a", TagSpecifications=tags)
    assert made["Tags"] == tags[0]["Tags"]


def test_start_snapshot_with_tags_needs_ec2_create_tags(iam_lab_env: LabEnv) -> None:
    # The Service Authorization Reference maps StartSnapshot to ebs:StartSnapshot and, with Tags, ec2:CreateTags.
    proof = _proof(iam_lab_env)
    tags = [{"Key": "skyvault:managed", "Value": "true"}]
    proof.grant_only(_allow((["ebs:StartSnapshot"], "*")))
    ebs = proof.raw("ebs")
    assert ebs.start_snapshot(VolumeSize=1)["Status"] == "pending"  # untagged: ebs:StartSnapshot alone suffices
    denied = _denied(lambda: ebs.start_snapshot(VolumeSize=1, Tags=tags))
    assert denied in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
    admin = Proof(iam_lab_env, Scenario("models-admin", rows=("ec2",), features=(Feature.DISCOVER,),
                                        run=lambda proof: None, principal="admin"))  # fmt: skip
    admin.grant_only(_allow((["ebs:StartSnapshot", "ec2:CreateTags"], "*")))
    made = admin.raw("ebs").start_snapshot(VolumeSize=1, Tags=tags)
    assert made["Tags"] == tags
