"""Model: IAM enforcement (lab up --enforce-iam) allows exactly what a caller's policies allow, with AWS's codes."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from skyvault.lab.control import set_model_settings
from skyvault.lab.labconfig import TENANT_INLINE_POLICY, TENANT_ROLE_NAME

pytestmark = pytest.mark.lab
Client = Callable[..., Any]


def _policy(*actions: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    )


def _admin(env: LabEnv, service: str, *, account: str = "admin", region: str = "us-east-1") -> Any:
    return env.factory().session(account).client(service, region_name=region, endpoint_url=env.lab.endpoint)


def _user(env: LabEnv, name: str, *actions: str) -> Client:
    """An IAM user in the admin account holding exactly ``actions``; returns a client maker with its keys."""
    iam = _admin(env, "iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=_policy(*actions))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    def client(service: str, region: str = "us-east-1") -> Any:
        return session.client(service, region_name=region, endpoint_url=env.lab.endpoint)

    return client


def _code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 401, 403)
    return str(caught.value.response["Error"]["Code"])


def test_allows_what_the_policy_grants_and_denies_the_rest_with_aws_codes(iam_lab_env: LabEnv) -> None:
    user = _user(iam_lab_env, "reader", "ec2:DescribeVolumes", "dynamodb:ListTables", "s3:ListAllMyBuckets")
    assert user("ec2").describe_volumes()["Volumes"] == []
    assert user("dynamodb").list_tables()["TableNames"] == []
    user("s3").list_buckets()

    assert _code(lambda: user("ec2").create_volume(Size=1, AvailabilityZone="us-east-1a")) == "UnauthorizedOperation"
    assert _code(lambda: user("dynamodb").describe_table(TableName="t")) == "AccessDeniedException"
    assert _code(lambda: user("ebs").list_snapshot_blocks(SnapshotId="snap-0123456789abcdef0")) == (
        "AccessDeniedException"
    )
    assert _code(lambda: user("s3").create_bucket(Bucket="not-allowed-bucket")) == "AccessDenied"
    assert _code(lambda: user("iam").list_users()) == "AccessDenied"
    assert _code(lambda: user("resourcegroupstaggingapi").get_resources()) == "AccessDeniedException"


def test_ebs_direct_round_trip_is_not_refused_by_signature_checks(iam_lab_env: LabEnv) -> None:
    set_model_settings(iam_lab_env.lab, "ebs_write_readiness", not_writable_s=0)  # signatures only here
    user = _user(iam_lab_env, "ebs-user", "ebs:*", "ec2:DescribeSnapshots")
    ebs = user("ebs")
    snapshot = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    data = bytes(range(256)) * 2048
    ebs.put_snapshot_block(
        SnapshotId=snapshot,
        BlockIndex=3,
        BlockData=data,
        DataLength=len(data),
        Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
        ChecksumAlgorithm="SHA256",
    )
    assert ebs.complete_snapshot(SnapshotId=snapshot, ChangedBlocksCount=1)["Status"] == "completed"
    block = ebs.list_snapshot_blocks(SnapshotId=snapshot, MaxResults=100)["Blocks"][0]
    got = ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=3, BlockToken=block["BlockToken"])
    assert got["BlockData"].read() == data
    assert ebs.list_changed_blocks(SecondSnapshotId=snapshot)["ChangedBlocks"][0]["BlockIndex"] == 3
    assert user("ec2").describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["State"] == "completed"


def test_s3_listing_under_a_prefix_and_tagging_api_are_authorised_by_their_real_actions(iam_lab_env: LabEnv) -> None:
    _admin(iam_lab_env, "s3").create_bucket(Bucket="lab-prefix-bucket")
    user = _user(iam_lab_env, "lister", "s3:ListBucket", "s3:PutObject", "tag:GetResources")
    s3 = user("s3")
    s3.put_object(Bucket="lab-prefix-bucket", Key="lib/locks/a", Body=b"x")
    listed = s3.list_objects_v2(Bucket="lab-prefix-bucket", Prefix="lib/locks/", Delimiter="/")
    assert [o["Key"] for o in listed["Contents"]] == ["lib/locks/a"]
    assert "ResourceTagMappingList" in user("resourcegroupstaggingapi").get_resources()


def test_assumed_role_credentials_are_judged_by_the_role_policies(iam_lab_env: LabEnv) -> None:
    tenant_iam = _admin(iam_lab_env, "iam", account="tenant-a")
    tenant_iam.put_role_policy(
        RoleName=TENANT_ROLE_NAME, PolicyName=TENANT_INLINE_POLICY, PolicyDocument=_policy("ec2:DescribeVolumes")
    )
    tenant_ec2 = _admin(iam_lab_env, "ec2", account="tenant-a")  # assumed-role credentials of tenant-a
    assert tenant_ec2.describe_volumes()["Volumes"] == []
    assert _code(lambda: tenant_ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")) == "UnauthorizedOperation"
    # The admin user's own allow-all policy does not leak into the role session.
    assert _admin(iam_lab_env, "ec2").create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]


def test_unknown_keys_and_wrong_secrets_are_refused(iam_lab_env: LabEnv) -> None:
    stranger = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=iam_lab_env.lab.endpoint,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="not-a-secret",
    )
    assert _code(stranger.list_tables) == "UnrecognizedClientException"
    user = _user(iam_lab_env, "keyholder", "sts:GetCallerIdentity")
    key = user("sts")._request_signer._credentials.access_key
    forged = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=iam_lab_env.lab.endpoint,
        aws_access_key_id=key,
        aws_secret_access_key="wrong-secret",
    )
    assert _code(forged.get_caller_identity) == "SignatureDoesNotMatch"
