"""A seeded demo estate (small DynamoDB tables keep it fast) over the freshly reset lab of ``lab_env``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.lab.estate import seed_estate

ACCOUNTS = ["admin", "tenant-a", "tenant-b"]
ORDERS = 40


@dataclass(frozen=True)
class Estate:
    env: LabEnv
    summary: dict[str, Any]

    def ids(self, account: str, service: str) -> set[str]:
        return set(self.summary["accounts"][account]["resources"].get(service, []))


@pytest.fixture
def estate(lab_env: LabEnv) -> Estate:
    summary = seed_estate(lab_env.factory(), accounts=ACCOUNTS, seed=7, orders=ORDERS)
    return Estate(env=lab_env, summary=summary)
