"""A failure in one account, region or service is reported where it happened and never hides the others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import LabEnv
from discovery.conftest import Estate
from skyvault.config import AccountConfig, SkyvaultConfig, save_config
from skyvault.engine.discovery import discover
from skyvault.errors import AccessDeniedError, AuthError
from skyvault.lab.labconfig import TENANT_INLINE_POLICY, TENANT_ROLE_NAME

pytestmark = pytest.mark.lab


def _with_account(config: SkyvaultConfig, name: str, **changes: Any) -> SkyvaultConfig:
    account = config.accounts[name].model_copy(update=changes)
    return config.model_copy(
        update={"accounts": {**config.accounts, name: AccountConfig.model_validate(account.model_dump())}}
    )


def test_an_unreachable_tenant_is_reported_once_and_the_others_are_listed(estate: Estate, cli: Any) -> None:
    env = estate.env
    save_config(_with_account(env.config, "tenant-b", external_id="not-the-right-one"), env.config_path)

    result = cli("discover", "--json")

    assert result.exit_code == AuthError.exit_code  # 8: the worst failure's class
    rows = result.json()
    assert {r["account"] for r in rows} == {"admin", "tenant-a"}
    assert len(rows) == 26  # everything of the two reachable accounts
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(errors) == 1  # once for the account, not once per region x service
    (error,) = errors
    assert (error["account"], error["region"], error["service"], error["error"]) == (
        "tenant-b",
        None,
        None,
        "AuthError",
    )
    assert error["exit_code"] == 8 and "cannot assume" in error["message"]
    assert "discovery incomplete: 1 of" in result.stderr


def test_a_denied_service_fails_alone_and_names_the_missing_action(iam_lab_env: LabEnv) -> None:
    factory = iam_lab_env.factory()
    # As tenant-a's role itself (the lab's permissive role may edit its own policy): deny listing DynamoDB tables.
    iam = factory.session("tenant-a").client("iam", endpoint_url=iam_lab_env.lab.endpoint, region_name="us-east-1")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "dynamodb:ListTables", "Resource": "*"},
        ],
    }
    iam.put_role_policy(RoleName=TENANT_ROLE_NAME, PolicyName=TENANT_INLINE_POLICY, PolicyDocument=json.dumps(policy))

    result = discover(factory)

    assert {(f.account, f.region, f.service) for f in result.failures} == {
        ("tenant-a", "us-east-1", "dynamodb"),
        ("tenant-a", "eu-west-1", "dynamodb"),
    }
    for failure in result.failures:
        assert isinstance(failure.error, AccessDeniedError)
        assert failure.error.actions == ("dynamodb:ListTables",)
        assert failure.error.step == "discover tables"
        assert failure.to_json()["actions"] == ["dynamodb:ListTables"]
    assert result.exit_code == AccessDeniedError.exit_code
    # 3 identities + 3 accounts x (2 regions x 7 regional services + 1 S3 listing) lookups, only 2 failed.
    assert result.tasks == 3 + 3 * (2 * 7 + 1)
