"""Raw boto3 clients on the lab, for tests of the lab itself (the call guard only applies to ClientFactory clients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import LabEnv


@pytest.fixture
def raw(lab_env: LabEnv) -> Callable[..., Any]:
    """``raw("ec2", account="admin", region="us-east-1")``: an unguarded boto3 client with that account's creds."""
    factory = lab_env.factory()

    def make(service: str, *, account: str = "admin", region: str = "us-east-1") -> Any:
        return factory.session(account).client(service, region_name=region, endpoint_url=lab_env.lab.endpoint)

    return make
