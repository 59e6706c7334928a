"""A seeded demo estate on this worker's lab, seeded once and reused while it is intact.

Seeding three accounts takes seconds; the discovery tests only read the estate, so it is kept between them. Any
``lab_env`` test that runs in between resets the lab: the estate's marker table is then gone and the next test
here resets and seeds again. Small DynamoDB tables keep seeding fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.config import state_dir
from skyvault.errors import NotFoundError
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.control import reset_lab
from skyvault.lab.labconfig import LabInfo, write_record

ACCOUNTS = ["admin", "tenant-a", "tenant-b"]
ORDERS = 40
SEED = 7

_seeded: dict[str, dict[str, Any]] = {}  # lab endpoint -> the summary of the estate seeded there


@dataclass(frozen=True)
class Estate:
    env: LabEnv
    summary: dict[str, Any]

    def ids(self, account: str, service: str) -> set[str]:
        return set(self.summary["accounts"][account]["resources"].get(service, []))


def _env(info: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabEnv:
    """Like ``lab_env`` without the reset: a config for the lab in ``tmp_path`` (the current directory)."""
    config_path = tmp_path / "skyvault.toml"
    config = write_lab_config(config_path, info)
    where = state_dir(config, config_path)
    where.mkdir(parents=True, exist_ok=True)
    write_record(where, info)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config_path))
    return LabEnv(lab=info, config_path=config_path, config=config, state_dir=where)


def _intact(env: LabEnv) -> bool:
    # A reset drops every table; a table seeded by someone else would not hold exactly ORDERS items.
    factory = env.factory()
    try:
        for account in ACCOUNTS:
            table = factory.client(account, "us-east-1", "dynamodb").describe_table(TableName="orders")["Table"]
            if table["ItemCount"] != ORDERS:
                return False
    except NotFoundError:
        return False
    return True


@pytest.fixture
def estate(lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Estate:
    env = _env(lab, tmp_path, monkeypatch)
    summary = _seeded.get(lab.endpoint)
    if summary is None or not _intact(env):
        reset_lab(lab)
        env = _env(lab, tmp_path, monkeypatch)  # the reset made a new admin key: write the config again
        # Imported here, not at collection: the seeder's policy="lab" declarations then only enter the registry
        # of a worker that seeds (the permissions docs/policies must not see them).
        from skyvault.lab.estate import seed_estate

        summary = seed_estate(env.factory(), lab, accounts=ACCOUNTS, seed=SEED, orders=ORDERS)
        _seeded[lab.endpoint] = summary
    return Estate(env=env, summary=summary)
