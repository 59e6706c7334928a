"""Assumed-role credentials refresh before they expire, so a job may outlive one role session."""

from __future__ import annotations

import pytest

from conftest import LabEnv, credentials_of
from skyvault.aws.clients import ClientFactory
from skyvault.config import parse_config

pytestmark = pytest.mark.lab


def test_assume_role_credentials_are_refreshed_near_expiry(lab_env: LabEnv) -> None:
    data = lab_env.config.model_dump(mode="json", exclude_none=True)
    # 900 s is the shortest session AWS allows; botocore refreshes credentials that expire within 15 minutes,
    # so every use of this session's credentials renews them: the long-job case, compressed in time.
    data["accounts"]["tenant-a"]["session_duration_s"] = 900
    config = parse_config(data, "test")
    factory = ClientFactory(config, base_dir=lab_env.config_path.parent, strict_guard=True)
    session = factory.session("tenant-a")
    first = credentials_of(session).get_frozen_credentials()
    assumed = factory.guard.counts()["AssumeRole"]
    second = credentials_of(session).get_frozen_credentials()
    assert factory.guard.counts()["AssumeRole"] == assumed + 1
    assert second.access_key != first.access_key
    # The renewed credentials still act in the tenant account.
    identity = factory.client("tenant-a", "us-east-1", "sts").get_caller_identity()
    assert identity["Account"] == "111111111111"


def test_long_sessions_are_not_renewed_early(lab_env: LabEnv) -> None:
    factory = lab_env.factory()  # session_duration_s defaults to 3600
    session = factory.session("tenant-a")
    keys = {credentials_of(session).get_frozen_credentials().access_key for _ in range(3)}
    assert len(keys) == 1
    assert factory.guard.counts()["AssumeRole"] == 1
