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

    Tests of the lab's other models create and describe at once: EC2's visibility delay (the ec2_consistency
    model, tested in test_ec2_consistency.py) is turned off for them; the next reset turns it on again."""
    set_model_settings(lab_env.lab.endpoint, "ec2_consistency", delay_s=0)
    factory = lab_env.factory()

    def make(service: str, *, account: str = "admin", region: str = "us-east-1") -> Any:
        return factory.session(account).client(service, region_name=region, endpoint_url=lab_env.lab.endpoint)

    return make
