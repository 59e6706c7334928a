"""Plans back DynamoDB tables up natively (CreateBackup) by default, or into the library by parallel Scan."""

from __future__ import annotations

import pytest

from skyvault.errors import ConfigError
from skyvault.services.contract import PlanTarget
from skyvault.services.registry import driver


def _target(mode: str, library: str | None) -> PlanTarget:
    return PlanTarget("dynamodb", "orders", "admin", "us-east-1", mode, library=library)


def test_a_plan_backs_a_table_up_natively_or_by_scan_into_its_library() -> None:
    plan = driver("dynamodb").plan_backups["dynamodb"]
    native = plan.spec(_target("native", "main"))
    scan = plan.spec(_target("library", "main"))
    assert native.kind == scan.kind == "backup-dynamodb"
    assert (native.params["method"], native.params["library"], native.params["tables"]) == ("native", None, ["orders"])
    assert (scan.params["method"], scan.params["library"], scan.params["region"]) == ("scan", "main", "us-east-1")


def test_a_library_plan_without_a_library_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="needs a library"):
        driver("dynamodb").plan_backups["dynamodb"].spec(_target("library", None))
