"""Scope planning, failure ranking and small helpers: no lab needed."""

from __future__ import annotations

import pytest

from skyvault.cli.discover import _split, human_size
from skyvault.config import AccountConfig, SkyvaultConfig
from skyvault.engine.discovery import DiscoveryResult, Failure, InternalError, plan_scope
from skyvault.errors import (
    AccessDeniedError,
    AuthError,
    AwsError,
    ConfigError,
    NotFoundError,
    SkyvaultError,
    ThrottledError,
)
from skyvault.services.base import SERVICES, partition_for
from skyvault.services.s3.discover import bucket_region

CONFIG = SkyvaultConfig(
    accounts={
        "prod": AccountConfig(regions=["us-east-1", "eu-west-1"]),
        "dev": AccountConfig(regions=["eu-west-1"]),
    }
)


def test_scope_defaults_to_everything_configured() -> None:
    scope = plan_scope(CONFIG)
    assert scope.regions == {"prod": ("us-east-1", "eu-west-1"), "dev": ("eu-west-1",)}
    assert scope.services == SERVICES


def test_region_filter_narrows_each_account_and_drops_accounts_left_empty() -> None:
    scope = plan_scope(CONFIG, regions=["us-east-1"], services=["s3", "ec2", "s3"])
    assert scope.regions == {"prod": ("us-east-1",)}
    assert scope.services == ("ec2", "s3")  # report order, duplicates dropped


@pytest.mark.parametrize(
    ("filters", "error", "text"),
    [
        ({"accounts": ["prod", "qa"]}, NotFoundError, "unknown account: qa"),
        ({"services": ["ec2", "lambda"]}, NotFoundError, "unknown service: lambda"),
        ({"accounts": ["dev"], "regions": ["us-east-1"]}, NotFoundError, "region us-east-1 is not configured"),
    ],
)
def test_bad_filters_are_refused(filters: dict[str, list[str]], error: type[SkyvaultError], text: str) -> None:
    with pytest.raises(error, match=text):
        plan_scope(CONFIG, **filters)


def test_no_accounts_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no accounts"):
        plan_scope(SkyvaultConfig())


def _result(*errors: SkyvaultError) -> DiscoveryResult:
    return DiscoveryResult(failures=[Failure("prod", "us-east-1", "ec2", e) for e in errors])


def test_exit_code_is_the_worst_failure_class() -> None:
    assert _result().exit_code == 0
    assert _result(InternalError("bug")).exit_code == 1
    assert _result(NotFoundError("x"), AwsError("x")).exit_code == AwsError.exit_code
    assert _result(AwsError("x"), ThrottledError("x")).exit_code == ThrottledError.exit_code
    assert _result(ThrottledError("x"), AccessDeniedError("x")).exit_code == AccessDeniedError.exit_code
    assert _result(AccessDeniedError("x"), AuthError("x"), AwsError("x")).exit_code == AuthError.exit_code


def test_failure_json_is_self_describing() -> None:
    failure = Failure("prod", "eu-west-1", "dynamodb", AccessDeniedError("no", actions=("dynamodb:ListTables",)))
    assert failure.to_json() == {
        "account": "prod",
        "region": "eu-west-1",
        "service": "dynamodb",
        "error": "AccessDeniedError",
        "exit_code": 5,
        "message": "no",
        "hint": None,
        "actions": ["dynamodb:ListTables"],
    }


def test_helpers() -> None:
    assert [partition_for(r) for r in ("eu-west-1", "cn-north-1", "us-gov-west-1")] == ["aws", "aws-cn", "aws-us-gov"]
    assert [bucket_region(c) for c in (None, "", "EU", "ap-south-1")] == [
        "us-east-1", "us-east-1", "eu-west-1", "ap-south-1",
    ]  # fmt: skip
    assert _split(["ec2,rds", " s3 ", "ebs,"]) == ["ec2", "rds", "s3", "ebs"]
    assert _split(None) is None
    assert [human_size(s) for s in (None, 512, 3 * 1024**3)] == ["-", "512 B", "3.0 GiB"]
