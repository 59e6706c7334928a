"""Model ``db_restore_placement``: automated snapshots of a re-created DB identifier do not collide (as on AWS).

The rest of the database models is tested in ``tests/databases/test_lab_models.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import LabEnv

pytestmark = pytest.mark.lab


def _instance(rds: Any, identifier: str) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=identifier, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="u",
        MasterUserPassword="password-1", AllocatedStorage=20,
    )  # fmt: skip


def test_recreating_an_identifier_within_a_minute_keeps_both_automated_snapshots(
    lab_env: LabEnv, raw: Callable[..., Any]
) -> None:
    rds = raw("rds")
    _instance(rds, "swap-db")
    rds.delete_db_instance(DBInstanceIdentifier="swap-db", SkipFinalSnapshot=True, DeleteAutomatedBackups=False)
    _instance(rds, "swap-db")  # moto alone: DBSnapshotAlreadyExists (its automated names are per minute)

    automated = rds.describe_db_snapshots(SnapshotType="automated")["DBSnapshots"]
    names = [s["DBSnapshotIdentifier"] for s in automated if s["DBInstanceIdentifier"] == "swap-db"]
    assert len(names) == len(set(names)) == 2
    assert all(name.startswith("rds:swap-db-") for name in names)
