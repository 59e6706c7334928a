"""Raw boto3 clients on the lab, for tests of the lab itself (the call guard only applies to ClientFactory clients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.lab.control import set_model_settings


@pytest.fixture
def raw(lab_env: LabEnv) -> Callable[..., Any]:
    """``raw("ec2", account="admin", region="us-east-1")``: an unguarded boto3 client with that account's creds.

    Tests of the lab's other models create and use at once: EC2's visibility delay (the ec2_consistency model,
    tested in test_ec2_consistency.py) and the moment a started snapshot refuses blocks (ebs_write_readiness, tested
    in test_ebs_write_readiness.py) are turned off for them; the next reset turns them on again."""
    set_model_settings(lab_env.lab, "ec2_consistency", delay_s=0)
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=0)
    factory = lab_env.factory()

    def make(service: str, *, account: str = "admin", region: str = "us-east-1") -> Any:
        return factory.session(account).client(service, region_name=region, endpoint_url=lab_env.lab.endpoint)

    return make
