"""AssumeRole session length: the lab refuses what AWS refuses (the role's MaxSessionDuration, 1 h under role
chaining), and skyvault falls back to 3,600 s with a warning naming the setting instead of failing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv, credentials_of
from skyvault.aws.clients import ClientFactory
from skyvault.config import parse_config
from skyvault.lab.labconfig import TENANT_ROLE_NAME

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]
TRUST_ADMIN_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _code(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def test_lab_refuses_more_than_max_session_duration_and_more_than_an_hour_chained(lab_env: LabEnv, raw: Raw) -> None:
    iam = raw("iam")
    long_role = iam.create_role(RoleName="long", AssumeRolePolicyDocument=TRUST_ADMIN_ACCOUNT, MaxSessionDuration=43200)
    short_role = iam.create_role(RoleName="short", AssumeRolePolicyDocument=TRUST_ADMIN_ACCOUNT)
    sts = raw("sts")
    code, message = _code(
        lambda: sts.assume_role(RoleArn=short_role["Role"]["Arn"], RoleSessionName="ss", DurationSeconds=7200)
    )
    assert code == "ValidationError" and "MaxSessionDuration" in message
    creds = sts.assume_role(RoleArn=long_role["Role"]["Arn"], RoleSessionName="ss", DurationSeconds=43200)[
        "Credentials"
    ]
    chained = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=lab_env.lab.endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    code, message = _code(
        lambda: chained.assume_role(RoleArn=long_role["Role"]["Arn"], RoleSessionName="cc", DurationSeconds=7200)
    )
    assert code == "ValidationError" and "role chaining" in message
    chained.assume_role(RoleArn=long_role["Role"]["Arn"], RoleSessionName="cc", DurationSeconds=3600)


def test_too_long_a_session_falls_back_to_an_hour_with_a_warning(
    lab_env: LabEnv, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    raw("iam", account="tenant-a").update_role(RoleName=TENANT_ROLE_NAME, MaxSessionDuration=3600)  # AWS's default
    data = lab_env.config.model_dump(mode="json", exclude_none=True)
    data["accounts"]["tenant-a"]["session_duration_s"] = 7200
    factory = ClientFactory(parse_config(data, "test"), base_dir=lab_env.config_path.parent, strict_guard=True)
    with caplog.at_level(logging.WARNING, logger="skyvault.aws.session_duration"):
        identity = factory.client("tenant-a", "us-east-1", "sts").get_caller_identity()
    assert identity["Account"] == "111111111111"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "skyvault.aws.session_duration"]
    assert "session_duration_s = 7200" in warning and "using 3600 s" in warning and "MaxSessionDuration" in warning
    assert factory.guard.counts()["AssumeRole"] == 2
    credentials_of(factory.session("tenant-a")).get_frozen_credentials()  # the clamp sticks: no new refusal
    assert factory.guard.counts()["AssumeRole"] == 2
