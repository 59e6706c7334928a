"""Model: multi-account lab. Admin keys act in the admin account; tenants are reached by AssumeRole + external ID."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv, credentials_of
from skyvault.aws.clients import ClientFactory
from skyvault.errors import AuthError
from skyvault.lab.control import reset_lab, set_model_settings
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID, TENANT_ACCOUNT_IDS

pytestmark = pytest.mark.lab


def test_admin_keys_and_assume_role_chain_reach_each_account(lab_env: LabEnv) -> None:
    factory = lab_env.factory()
    assert factory.account_id("admin") == ADMIN_ACCOUNT_ID
    for name, account_id in TENANT_ACCOUNT_IDS.items():
        assert factory.account_id(name) == account_id
        identity = factory.client(name, "us-east-1", "sts").get_caller_identity()
        assert identity["Arn"].startswith(f"arn:aws:sts::{account_id}:assumed-role/skyvault-tenant/")
    admin = factory.client("admin", "us-east-1", "sts").get_caller_identity()
    assert admin["Arn"] == f"arn:aws:iam::{ADMIN_ACCOUNT_ID}:user/skyvault-admin"


def test_resources_land_in_the_tenant_account(lab_env: LabEnv) -> None:
    # A volume created with tenant credentials is invisible to the admin account: accounts are isolated.
    set_model_settings(lab_env.lab, "ec2_consistency", delay_s=0)  # visible at once to its own account
    factory = lab_env.factory()
    tenant = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=lab_env.lab.endpoint,
        **_credentials(factory, "tenant-a"),
    )
    volume = tenant.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    assert [v["VolumeId"] for v in tenant.describe_volumes()["Volumes"]] == [volume]
    admin = boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint, **_credentials(factory, "admin")
    )
    assert volume not in [v["VolumeId"] for v in admin.describe_volumes()["Volumes"]]


def _credentials(factory: ClientFactory, account: str) -> dict[str, Any]:
    creds = credentials_of(factory.session(account)).get_frozen_credentials()
    return {
        "aws_access_key_id": creds.access_key,
        "aws_secret_access_key": creds.secret_key,
        "aws_session_token": creds.token,
    }


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"external_id": "not-the-external-id"}, "wrong external ID"),
        ({"external_id": None}, "missing external ID"),
        ({"role_arn": "arn:aws:iam::111111111111:role/no-such-role"}, "role does not exist"),
    ],
)
def test_assume_role_is_refused_like_aws(lab_env: LabEnv, change: dict[str, Any], why: str) -> None:
    tenant = lab_env.config.accounts["tenant-a"].model_copy(update=change)
    config = lab_env.config.model_copy(update={"accounts": {**lab_env.config.accounts, "tenant-a": tenant}})
    factory = ClientFactory(config, base_dir=lab_env.config_path.parent, strict_guard=True)
    with pytest.raises(AuthError, match="not authorized to perform: sts:AssumeRole") as caught:
        factory.account_id("tenant-a")
    assert caught.value.exit_code == 8, why


def test_wrong_external_id_exits_8_through_the_cli(lab_env: LabEnv, cli: Any) -> None:
    args = [
        "accounts", "add", "tenant-b-guess", "--auth", "assume_role", "--source-account", "admin",
        "--role-arn", "arn:aws:iam::222222222222:role/skyvault-tenant", "--external-id", "guessed",
        "--endpoint-url", lab_env.lab.endpoint, "--verify",
    ]  # fmt: skip
    result = cli(*args)
    assert result.exit_code == AuthError.exit_code == 8, result.stdout + result.stderr
    assert "sts:AssumeRole" in result.stderr
    assert "tenant-b-guess" not in lab_env.config_path.read_text()  # a failed verification saves nothing


def test_raw_assume_role_gets_403_access_denied(lab_env: LabEnv) -> None:
    sts = boto3.client(
        "sts", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint, **_credentials(lab_env.factory(), "admin")
    )
    with pytest.raises(ClientError) as caught:
        sts.assume_role(
            RoleArn="arn:aws:iam::111111111111:role/skyvault-tenant", RoleSessionName="lab-test", ExternalId="no"
        )
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_reset_gives_fresh_state_and_new_admin_keys(lab_env: LabEnv) -> None:
    factory = lab_env.factory()
    ec2 = factory.session("admin").client("ec2", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint)
    ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
    before = credentials_of(factory.session("admin")).get_frozen_credentials().access_key
    reset_lab(lab_env.lab)
    after_factory = lab_env.factory()
    after = credentials_of(after_factory.session("admin")).get_frozen_credentials().access_key
    assert after != before
    assert after_factory.account_id("tenant-a") == TENANT_ACCOUNT_IDS["tenant-a"]
    fresh = after_factory.session("admin").client("ec2", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint)
    assert fresh.describe_volumes()["Volumes"] == []
