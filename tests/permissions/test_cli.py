"""``skyvault policy|permissions|check`` through the CLI: shapes, exit codes, and errors that say what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult, LabEnv
from permissions.proof import Scenario, prepare
from skyvault.errors import NotFoundError
from skyvault.permissions.registry import Feature, Registry
from skyvault.permissions.render import check_rows

Cli = Callable[..., CliResult]


def test_policy_json_for_rows_with_code(cli: Cli) -> None:
    result = cli("policy", "ec2", "--account-id", "111122223333", "--region", "eu-west-1")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["Version"] == "2012-10-17"
    assert "ec2:DescribeInstances" in json.dumps(document)


def test_policy_restricted_conditions_destructive_actions(cli: Cli) -> None:
    plain = cli("policy", "rds").json()
    restricted = cli("policy", "rds", "--restricted").json()
    assert "aws:ResourceTag/skyvault:managed" in json.dumps(restricted)
    assert "aws:ResourceTag/skyvault:managed" not in json.dumps(plain)


def test_policy_for_a_row_without_code_fails_clearly(cli: Cli) -> None:
    # Every row has code now: an empty registry stands for a row whose driver has not landed.
    with pytest.raises(NotFoundError, match="no permissions are declared for 'convert'"):
        check_rows(["convert"], Registry())
    unknown = cli("policy", "ec3")
    assert unknown.exit_code == 2 and "known rows" in unknown.stderr  # a bad argument: a usage error


def test_policy_special_forms(cli: Cli) -> None:
    trust = cli("policy", "trust", "--admin-account", "111122223333", "--external-id", "ext-1").json()
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-1"}}
    admin = cli("policy", "admin", "--tenant-role", "arn:aws:iam::222222222222:role/skyvault-tenant").json()
    assert admin["Statement"][0]["Resource"] == "arn:aws:iam::222222222222:role/skyvault-tenant"
    vmimport = cli("policy", "vmimport", "--bucket", "images").json()
    assert vmimport["role_name"] == "vmimport"
    missing = cli("policy", "trust", "--admin-account", "111122223333")
    assert missing.exit_code == 2 and "--external-id" in missing.stderr
    mixed = cli("policy", "trust", "ec2")
    assert mixed.exit_code == 2


@pytest.mark.parametrize("fmt", ["cloudformation", "terraform"])
def test_policy_formats(cli: Cli, fmt: str) -> None:
    result = cli("policy", "ec2", "rds", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "cloudformation":
        assert result.json()["Resources"]["SkyvaultRole"]["Type"] == "AWS::IAM::Role"
    else:
        assert 'resource "aws_iam_role" "skyvault"' in result.stdout


def test_permissions_table_json_markdown(cli: Cli) -> None:
    rows = cli("permissions", "ec2", "--format", "json").json()
    assert rows and all(r["policies"] == ["ec2"] for r in rows)
    assert {"action", "features", "steps", "purposes", "restricted"} <= set(rows[0])
    assert cli("--json", "permissions", "ec2").json() == rows
    table = cli("permissions", "ec2")
    assert table.exit_code == 0 and "ec2:DescribeInstances" in table.stdout
    markdown = cli("permissions", "ec2", "--format", "markdown")
    assert markdown.stdout.startswith("| Action |")


@pytest.mark.lab
def test_check_exit_codes(iam_lab_env: LabEnv, cli: Cli) -> None:
    ok = cli("--json", "check", "--account", "tenant-a", "--service", "ec2")
    assert ok.exit_code == 0, ok.stderr
    (report,) = ok.json()
    assert report["ok"] and report["method"] == "simulate"
    # The role loses everything but discovery and the check itself: the other features cannot run.
    scenario = Scenario("cli-check", rows=("ec2", "check"), features=(Feature.DISCOVER, Feature.CHECK),
                        run=lambda proof: None)  # fmt: skip
    prepare(iam_lab_env, scenario, scenario.documents())
    failed = cli("--json", "check", "--account", "tenant-a", "--service", "ec2")
    assert failed.exit_code == 16
    (report,) = failed.json()
    statuses: dict[str, Any] = {r["feature"]: r["status"] for r in report["results"]}
    assert statuses["discover"] == "ok" and "missing" in statuses.values()
    assert "skyvault policy ec2" in failed.stderr
    human = cli("check", "--account", "tenant-a", "--service", "ec2")
    assert human.exit_code == 16 and "MISSING" in human.stdout and "OK" in human.stdout


@pytest.mark.lab
def test_access_denied_at_run_time_names_action_step_feature_and_fix(iam_lab_env: LabEnv, cli: Cli) -> None:
    scenario = Scenario("cli-denied", rows=("ec2",), features=(Feature.DISCOVER,), run=lambda proof: None)
    documents = scenario.documents()
    for document in documents:
        for statement in document["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != "ec2:DescribeVolumes"]
    prepare(iam_lab_env, scenario, documents)
    result = cli("discover", "--account", "tenant-a", "--region", "us-east-1", "--service", "ebs")
    assert result.exit_code == 5, result.stderr
    flat = " ".join(result.stderr.split())  # the console wraps long lines
    for expected in ("ec2:DescribeVolumes", "(discover)", "skyvault policy ec2"):
        assert expected in flat, result.stderr
