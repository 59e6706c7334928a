"""Plan selection (pure), the plan config's precise errors, and the mode table against the drivers'."""

from __future__ import annotations

from typing import Any

import pytest

from skyvault.config import PLAN_COPIES, PLAN_MODES, parse_config
from skyvault.engine.plans import select, tags_match
from skyvault.errors import ConfigError
from skyvault.services import registry
from skyvault.services.base import Resource

ACCOUNTS = {"admin": {"regions": ["us-east-1", "eu-west-1"]}, "vault": {"regions": ["us-east-1"]}}


def _config(plan: dict[str, Any], **extra: Any) -> Any:
    return parse_config({"accounts": ACCOUNTS, "plans": {"p": plan}, **extra}, "skyvault.toml")


def _res(
    rid: str, tags: dict[str, str], *, service: str = "ec2", account: str = "admin", region: str = "us-east-1"
) -> Resource:
    return Resource(account, region, service, rid, f"arn:{rid}", None, None, tags)


def test_tag_selectors_match_values_or_presence() -> None:
    assert tags_match({"backup": "daily", "team": "web"}, ["backup=daily", "team", "env"]) == ["backup=daily", "team"]
    assert tags_match({"backup": "Daily"}, ["backup=daily"]) == []


def test_selection_ands_tags_ors_ids_and_excludes_with_reasons() -> None:
    config = _config({"services": ["ec2", "rds"], "regions": ["us-east-1"], "tags": ["backup=daily", "team"],
                      "ids": ["i-pinned"], "exclude_ids": ["i-out"], "exclude_tags": ["legal=skip"]})  # fmt: skip
    resources = [
        _res("i-both", {"backup": "daily", "team": "a"}),
        _res("i-one", {"backup": "daily"}),  # only one of the two selectors
        _res("i-pinned", {}),
        _res("i-out", {"backup": "daily", "team": "a"}),
        _res("i-legal", {"backup": "daily", "team": "a", "legal": "skip"}),
        _res("i-eu", {"backup": "daily", "team": "a"}, region="eu-west-1"),  # out of the plan's regions
        _res("vol-1", {"backup": "daily", "team": "a"}, service="ebs"),  # not a plan service
        _res("db-1", {"backup": "daily", "team": "a"}, service="rds", account="vault"),
    ]
    selection = select("p", config, config.plans["p"], resources)
    assert [r.id for r in selection.selected] == ["i-both", "i-pinned", "db-1"]
    assert [(e.resource.id, e.reason) for e in selection.excluded] == [
        ("i-out", "exclude_ids"),
        ("i-legal", "exclude_tags: legal=skip"),
    ]
    assert selection.missing_ids == []
    everything = _config({"services": ["ec2"], "ids": ["i-gone"]})
    assert select("p", everything, everything.plans["p"], resources).missing_ids == ["i-gone"]


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ({"services": ["ec2"], "schedule": "0 3 * *"}, "plans.p.schedule: '0 3 * *' is not a 5-field cron"),
        ({"services": ["ec2"], "schedule": "0 25 * * *"}, "plans.p.schedule: '0 25 * * *' is not a valid cron"),
        ({"services": ["ec2"], "timezone": "Mars/Base"}, "plans.p.timezone: unknown time zone 'Mars/Base'"),
        ({"services": ["ebs"]}, "plans.p.services: service 'ebs' has no backup driver yet"),
        ({"services": ["lambda"]}, "plans.p.services: unknown service 'lambda'"),
        ({"services": ["rds"], "modes": {"rds": "library"}}, "modes.rds: 'library' is not supported by the rds driver"),
        ({"services": ["rds"], "modes": {"ec2": "native"}}, "modes.ec2: the plan does not select service 'ec2'"),
        ({"services": ["ec2"], "modes": {"ec2": "library"}}, "plans.p: modes library/both need a library"),
        ({"services": ["ec2"], "accounts": ["nobody"]}, "plans.p.accounts: no account named 'nobody'"),
        ({"services": ["ec2"], "accounts": ["vault"], "regions": ["eu-west-1"]}, "plans.p.regions: eu-west-1"),
        ({"services": ["ec2", "rds"], "copies": {"region": "eu-west-1"}}, "copies: the ec2 driver takes no extra"),
        ({"services": ["rds"], "copies": {"account": "nobody"}}, "plans.p.copies.account: no account named"),
        ({"services": ["ec2"], "tags": ["=x"]}, "plans.p.tags: not a tag selector"),
        ({"services": ["ec2"], "retention": {"daily": -1}}, "plans.p.retention.daily"),
        ({"services": ["ec2"], "retention": {"hourly": 3}}, "plans.p.retention.hourly"),
        ({"services": ["ec2"], "ids": ["i-1"], "exclude_ids": ["i-1"]}, "ids and exclude_ids both name i-1"),
    ],
)
def test_plan_config_errors_name_the_field(plan: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(plan)
    assert expected in str(caught.value)


def test_the_mode_table_is_what_the_drivers_declare() -> None:
    declared = {s: pb for d in registry.all_drivers() for s, pb in d.plan_backups.items()}
    assert {s: pb.modes for s, pb in declared.items()} == PLAN_MODES
    assert {s for s, pb in declared.items() if pb.copies} == PLAN_COPIES
