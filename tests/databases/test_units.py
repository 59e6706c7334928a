"""Pure helpers of the database drivers: names, tags, key policies, waiting."""

from __future__ import annotations

import re

import pytest

from skyvault.errors import AwsError
from skyvault.services.rds import identifiers, storage
from skyvault.services.rds.backup import snapshot_name, snapshot_tags
from skyvault.services.rds.kms_keys import SHARE_SID, _trusted_in, key_policy
from skyvault.services.rds.restore import restored_tags
from skyvault.services.rds.waiting import Status, WaitPolicy, wait_for

VALID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@pytest.mark.parametrize("source", ["orders-db", "Orders_DB.v2", "a--b", "x" * 300, "db-"])
def test_snapshot_names_are_valid_identifiers(source: str) -> None:
    name = snapshot_name(source, "rp-01a2299211b07dfcae51")
    assert VALID.match(name) and len(name) <= 255, name
    assert name.endswith("01a2299211b07dfcae51")


def test_snapshot_tags_keep_source_tags_within_the_limit_and_ours_win() -> None:
    source = {f"k{i}": str(i) for i in range(60)} | {"aws:cloudformation:stack-name": "s", "skyvault:managed": "no"}
    tags = snapshot_tags(source, "job-1", "arn:aws:rds:us-east-1:1:db:x", "rp-1")
    assert len(tags) == 48  # room for the two tags a copy adds (copy-of, source-account)
    assert tags["skyvault:managed"] == "true" and tags["skyvault:recovery-point"] == "rp-1"
    assert not any(k.startswith("aws:") for k in tags) and tags["k0"] == "0"


def test_key_policy_trusts_vault_accounts_only_for_use() -> None:
    policy = key_policy("aws", "111111111111", ["123456789012"])
    owner, share = policy["Statement"]
    assert owner["Principal"]["AWS"] == "arn:aws:iam::111111111111:root" and owner["Action"] == "kms:*"
    assert share["Sid"] == SHARE_SID and "kms:Decrypt" in share["Action"] and "kms:*" not in share["Action"]
    assert _trusted_in(policy) == {"123456789012"}
    assert _trusted_in(key_policy("aws", "111111111111", [])) == set()


def test_wait_reports_progress_and_stops_at_ready() -> None:
    states = iter([Status("creating", 10), Status("creating", 60), Status("available", 100)])
    seen: list[str] = []
    slept: list[float] = []
    wait_for(lambda: next(states), what="snap", policy=WaitPolicy(poll_s=3), progress=seen.append, sleep=slept.append)
    assert seen == ["snap: creating (10%)", "snap: creating (60%)", "snap: available (100%)"] and slept == [3, 3]


def test_wait_fails_on_failure_state_and_at_the_deadline() -> None:
    with pytest.raises(AwsError, match="entered state 'failed'"):
        wait_for(lambda: Status("failed"), what="snap", sleep=lambda _: None)
    clock = iter(range(0, 1000, 10))
    with pytest.raises(AwsError, match="gave up waiting"):
        wait_for(
            lambda: Status("creating"),
            what="snap",
            policy=WaitPolicy(timeout_s=30, poll_s=10),
            sleep=lambda _: None,
            clock=lambda: float(next(clock)),
        )


def test_restored_resources_never_inherit_skyvaults_control_tags() -> None:
    # The restricted policy refuses skyvault:managed / skyvault:allow-overwrite on user-named resources (RDS and
    # Redshift cannot bind a tag write to the creating call), so a restore must not ask for them.
    captured = {"Name": "orders", "aws:cloudformation:stack-name": "s", "skyvault:managed": "true"}
    tags = restored_tags({**captured, "skyvault:allow-overwrite": "true"}, "rp-1")
    assert tags == {"Name": "orders", "skyvault:restored-from": "rp-1"}


def test_wait_backs_off_from_the_first_poll_to_the_interval() -> None:
    states = iter([Status("renaming")] * 5 + [Status("available")])
    slept: list[float] = []
    wait_for(lambda: next(states), what="x", policy=WaitPolicy(poll_s=10, first_poll_s=2), sleep=slept.append)
    assert slept == [2, 4, 8, 10, 10]


LONG = "analytics-warehouse-production-eu-central-primary-cluster-01"  # 60 characters


@pytest.mark.parametrize("limit", [63, 255])
def test_identifiers_fit_aws_rules_and_stay_unique(limit: int) -> None:
    other = LONG.replace("-01", "-02")
    for source in (LONG, other, "x" * 300, "db-", "Orders_DB.v2", "9lives"):
        name = snapshot_name(source, "rp-01a2299211b07dfcae51", limit)
        assert VALID.match(name) and name.startswith("skyvault-") and name.endswith("01a2299211b07dfcae51"), name
        assert len(identifiers.share_name(name) if limit == 63 else name) <= limit
    assert snapshot_name(LONG, "rp-1", 63) != snapshot_name(other, "rp-1", 63)  # the hash tells them apart
    aside = identifiers.derived(LONG, "pre-restore-dfcae51a")
    assert VALID.match(aside) and len(aside) <= 63 and aside.endswith("-pre-restore-dfcae51a")
    assert identifiers.derived("a" * 62 + "-b", "1") != identifiers.derived("a" * 62 + "-c", "1")


@pytest.mark.parametrize(("captured", "expected"), [
    ({"engine": "postgres", "storage_type": "gp3", "allocated_storage_gib": 100, "iops": 3000,
      "storage_throughput": 125}, {"StorageType": "gp3"}),
    ({"engine": "oracle-ee", "storage_type": "gp3", "allocated_storage_gib": 250, "iops": 12000,
      "storage_throughput": 500}, {"StorageType": "gp3", "Iops": 12000, "StorageThroughput": 500}),
    ({"engine": "mysql", "storage_type": "gp3", "allocated_storage_gib": 399, "iops": 3000}, {"StorageType": "gp3"}),
    ({"engine": "sqlserver-se", "storage_type": "gp3", "allocated_storage_gib": 20, "iops": 4000,
      "storage_throughput": 200}, {"StorageType": "gp3", "Iops": 4000, "StorageThroughput": 200}),
    ({"engine": "postgres", "storage_type": "io1", "allocated_storage_gib": 100, "iops": 5000},
     {"StorageType": "io1", "Iops": 5000}),
    ({"engine": "postgres", "storage_type": "gp2", "allocated_storage_gib": 100, "iops": 300}, {"StorageType": "gp2"}),
])  # fmt: skip
def test_restorable_storage_follows_awss_gp3_rules(captured: dict[str, object], expected: dict[str, object]) -> None:
    assert storage.restorable(captured) == expected


def test_wait_with_progress_outlives_the_timeout_and_fails_only_when_progress_stalls() -> None:
    # A 3-day copy that keeps moving: the 4 h timeout does not apply while PercentProgress grows.
    percents = iter([*range(0, 100, 1), 100])
    now = [0.0]
    status = wait_for(
        lambda: Status("copying", next(percents)) if now[0] < 99 * 2700 else Status("available", 100),
        what="copy",
        policy=WaitPolicy(timeout_s=4 * 3600, poll_s=2700, stall_s=2 * 3600),
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
    )
    assert status.state == "available" and now[0] > 24 * 3600
    # Stuck at 40 %: it fails once 2 h pass without a change, not before.
    now[0] = 0.0
    with pytest.raises(AwsError, match="no progress for 7200s") as stalled:
        wait_for(
            lambda: Status("copying", 40),
            what="copy",
            policy=WaitPolicy(timeout_s=60, poll_s=600, stall_s=7200),
            sleep=lambda s: now.__setitem__(0, now[0] + s),
            clock=lambda: now[0],
        )
    assert stalled.value.code == "Stalled" and now[0] == 7200
