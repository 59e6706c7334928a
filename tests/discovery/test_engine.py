"""The fan-out itself, with stand-in drivers and identities (no AWS): isolation, ordering, concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from skyvault.config import AccountConfig, SkyvaultConfig
from skyvault.engine.discovery import InternalError, discover
from skyvault.errors import AuthError, ThrottledError
from skyvault.services import registry
from skyvault.services.base import Resource, Target

CONFIG = SkyvaultConfig(
    accounts={
        "prod": AccountConfig(regions=["us-east-1", "eu-west-1"]),
        "dev": AccountConfig(regions=["eu-west-1"]),
        "gone": AccountConfig(regions=["us-east-1"]),
    }
)
IDS = {"prod": "111111111111", "dev": "222222222222"}


class FakeFactory:
    """What the engine needs from a ClientFactory: the config and each account's identity."""

    config = CONFIG

    def account_id(self, account: str) -> str:
        if account not in IDS:
            raise AuthError(f"account {account!r}: cannot assume its role")
        return IDS[account]


def _volume(_: Any, target: Target) -> list[Resource]:
    return [
        Resource(target.account, target.region, "ebs", f"vol-{target.region}-{n}", target.arn("ec2", "volume/x"),
                 None, 1024, {"n": str(n)})
        for n in (2, 1)
    ]  # fmt: skip


def _table(_: Any, target: Target) -> list[Resource]:
    if target.region == "eu-west-1" and target.account == "prod":
        raise ThrottledError("throttled")
    if target.account == "dev":
        raise KeyError("TableArn")  # a driver bug
    return [Resource(target.account, target.region, "dynamodb", "t", target.arn("dynamodb", "table/t"), "t", 0)]


@pytest.fixture
def drivers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-in discoverers counting how many run at once. ``running["meet"]``: a barrier the first lookups wait
    at (so they provably overlap, without sleeping), or None."""
    running: dict[str, Any] = {"now": 0, "max": 0, "meet": None, "calls": 0}
    lock = threading.Lock()

    def counting(driver: Any) -> Any:
        def run(factory: Any, target: Target) -> list[Resource]:
            with lock:
                running["now"] += 1
                running["max"] = max(running["max"], running["now"])
                running["calls"] += 1
                meet: threading.Barrier | None = running["meet"]
                waits = meet is not None and running["calls"] <= meet.parties
            try:
                if waits and meet is not None:
                    meet.wait()  # the first lookups meet here: they run at the same time, or time out
                return list(driver(factory, target))
            finally:
                with lock:
                    running["now"] -= 1

        return run

    found = {"ebs": counting(_volume), "dynamodb": counting(_table)}
    monkeypatch.setattr(registry, "discoverers", lambda: found)
    return running


def test_failures_stay_where_they_happened(drivers: dict[str, Any]) -> None:
    result = discover(FakeFactory(), services=["ebs", "dynamodb"], max_workers=4)  # type: ignore[arg-type]

    where = [(f.account, f.region, f.service, type(f.error)) for f in result.failures]
    assert where == [
        ("prod", "eu-west-1", "dynamodb", ThrottledError),
        ("dev", "eu-west-1", "dynamodb", InternalError),
        ("gone", None, None, AuthError),  # once for the account, none of its lookups ran
    ]
    assert "KeyError" in result.failures[1].error.message
    # Everything else is there, in report order: account (config order), region, service, ID.
    assert [(r.account, r.region, r.service, r.id) for r in result.resources] == [
        ("prod", "eu-west-1", "ebs", "vol-eu-west-1-1"),
        ("prod", "eu-west-1", "ebs", "vol-eu-west-1-2"),
        ("prod", "us-east-1", "ebs", "vol-us-east-1-1"),
        ("prod", "us-east-1", "ebs", "vol-us-east-1-2"),
        ("prod", "us-east-1", "dynamodb", "t"),
        ("dev", "eu-west-1", "ebs", "vol-eu-west-1-1"),
        ("dev", "eu-west-1", "ebs", "vol-eu-west-1-2"),
    ]
    assert result.resources[0].arn == "arn:aws:ec2:eu-west-1:111111111111:volume/x"
    assert result.exit_code == AuthError.exit_code
    assert result.tasks == 3 + 2 * 3  # identities + (prod: 2 regions, dev: 1) x 2 services


def test_lookups_run_concurrently_within_the_bound(drivers: dict[str, Any]) -> None:
    drivers["meet"] = threading.Barrier(2, timeout=30)  # two of the 3 volume lookups must run together
    result = discover(FakeFactory(), accounts=["prod", "dev"], services=["ebs"], max_workers=2)  # type: ignore[arg-type]
    assert result.failures == [] and drivers["max"] == 2  # at most 2 at a time
    drivers.update(max=0, meet=None, calls=0)
    discover(FakeFactory(), accounts=["prod", "dev"], services=["ebs"], max_workers=1)  # type: ignore[arg-type]
    assert drivers["max"] == 1


def test_a_slow_account_does_not_hold_back_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    dev_looked_up = threading.Event()

    class SlowFirstAccount(FakeFactory):
        def account_id(self, account: str) -> str:
            if account == "prod":
                # e.g. an AssumeRole that is retried: it resolves only once dev's lookup ran (or after 30 s, when
                # the engine waited for prod first and the assertion below fails)
                dev_looked_up.wait(timeout=30)
            events.append(f"identity {account}")
            return super().account_id(account)

    def record(_: Any, target: Target) -> list[Resource]:
        events.append(f"lookup {target.account}")
        if target.account == "dev":
            dev_looked_up.set()
        return []

    monkeypatch.setattr(registry, "discoverers", lambda: {"ebs": record})
    discover(SlowFirstAccount(), accounts=["prod", "dev"], services=["ebs"], max_workers=4)  # type: ignore[arg-type]
    assert events.index("lookup dev") < events.index("identity prod")
