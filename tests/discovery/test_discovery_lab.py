"""Discovery over the lab's demo estate: 3 accounts (tenants through AssumeRole) x 2 regions x 8 services."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from discovery.conftest import ACCOUNTS, ORDERS, Estate
from skyvault.engine.discovery import discover
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID, TENANT_ACCOUNT_IDS
from skyvault.services.base import GIB, SERVICES

pytestmark = pytest.mark.lab

ACCOUNT_IDS = {"admin": ADMIN_ACCOUNT_ID, **TENANT_ACCOUNT_IDS}
JSON_KEYS = {"account", "region", "service", "id", "arn", "name", "size_bytes", "tags", "details"}


def _by(resources: list[Any], **match: str) -> list[Any]:
    return [r for r in resources if all(getattr(r, k) == v for k, v in match.items())]


def test_discovers_every_seeded_resource_in_every_account_and_region(estate: Estate) -> None:
    result = discover(estate.env.factory())

    assert result.failures == []
    assert result.exit_code == 0
    for account in ACCOUNTS:
        for service in SERVICES:
            found = {r.id for r in _by(result.resources, account=account, service=service)}
            assert found == estate.ids(account, service), (account, service)
        # The estate puts something in both regions of every account.
        regions = Counter(r.region for r in _by(result.resources, account=account))
        assert set(regions) == {"us-east-1", "eu-west-1"}
        assert regions["eu-west-1"] == 3  # archive volume, sessions table, logs bucket
    # 8 services x 3 accounts, and the resources ARE in the tenant accounts (reached through AssumeRole).
    assert Counter(r.service for r in result.resources) == {
        "ec2": 3, "ebs": 9, "rds": 3, "aurora": 3, "redshift": 3, "docdb": 3, "dynamodb": 6, "s3": 9,
    }  # fmt: skip
    for r in result.resources:
        if r.service != "s3":
            assert f":{ACCOUNT_IDS[r.account]}:" in r.arn, r.arn
            assert r.arn.startswith("arn:aws:")
        else:
            assert r.arn == f"arn:aws:s3:::{r.id}"
            assert ACCOUNT_IDS[r.account] in r.id  # the seeder names buckets after their account
        assert r.tags.get("skyvault-lab:estate") == "demo", r


def test_sizes_tags_and_details_come_from_the_services(estate: Estate) -> None:
    resources = discover(estate.env.factory(), accounts=["tenant-b"]).resources

    (instance,) = _by(resources, service="ec2")
    assert instance.name == "tenant-b-app-1"
    assert instance.tags["backup"] == "daily"
    assert instance.details["state"] == "running"
    devices = {v["device"]: v["size_bytes"] for v in instance.details["volumes"]}
    assert devices == {"/dev/xvda": 2 * GIB, "/dev/sdf": 1 * GIB}
    assert instance.size_bytes == 3 * GIB

    volumes = {r.name: r for r in _by(resources, service="ebs")}
    assert set(volumes) == {"tenant-b-app-1-root", "tenant-b-data", "tenant-b-archive"}
    assert volumes["tenant-b-archive"].region == "eu-west-1"
    assert volumes["tenant-b-archive"].details["attachments"] == []
    assert volumes["tenant-b-data"].details["attachments"][0]["instance_id"] == instance.id

    (db,) = _by(resources, service="rds")
    assert (db.id, db.size_bytes, db.details["engine"], db.tags["app"]) == (
        "tenant-b-orders-db",
        20 * GIB,
        "postgres",
        "orders",
    )
    (aurora,) = _by(resources, service="aurora")
    assert aurora.details["engine"] == "aurora-postgresql"
    assert aurora.details["members"] == [{"instance_id": "tenant-b-aurora-pg-writer", "writer": True}]
    assert aurora.size_bytes is None  # Aurora's volume size is not in the API
    (docdb,) = _by(resources, service="docdb")
    assert (docdb.details["engine"], docdb.details["members"][0]["instance_id"]) == ("docdb", "tenant-b-docs-1")
    (redshift,) = _by(resources, service="redshift")
    assert redshift.arn == f"arn:aws:redshift:us-east-1:{TENANT_ACCOUNT_IDS['tenant-b']}:cluster:tenant-b-analytics"

    tables = {r.id: r for r in _by(resources, service="dynamodb")}
    assert tables["orders"].details["item_count"] == ORDERS
    assert tables["orders"].details["global_secondary_indexes"] == ["by-status"]
    assert tables["orders"].details["key_schema"] == {"pk": "HASH", "sk": "RANGE"}
    assert tables["sessions"].region == "eu-west-1"
    assert tables["orders"].tags["owner"] == "tenant-b"

    buckets = {r.id.rsplit("-", 1)[1]: r for r in _by(resources, service="s3")}
    assert {k: b.region for k, b in buckets.items()} == {
        "documents": "us-east-1", "media": "us-east-1", "logs": "eu-west-1",
    }  # fmt: skip
    assert buckets["logs"].tags["purpose"] == "logs"
    assert all(b.size_bytes is None for b in buckets.values())


def test_cli_json_shape(estate: Estate, cli: Any) -> None:
    result = cli("discover", "--json")
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    assert isinstance(rows, list) and len(rows) == estate.summary["created"]
    for row in rows:
        assert set(row) == JSON_KEYS
        assert row["service"] in SERVICES and row["account"] in ACCOUNTS
        assert isinstance(row["tags"], dict) and all(isinstance(v, str) for v in row["tags"].values())
        # DynamoDB reports 0 bytes for a table until its size is refreshed (about every six hours).
        assert row["size_bytes"] is None or (isinstance(row["size_bytes"], int) and row["size_bytes"] >= 0)
        assert row["arn"].startswith("arn:aws:")
    # The global flag works too and gives the same rows.
    assert json.loads(cli("--json", "discover", "-s", "s3").stdout) == [r for r in rows if r["service"] == "s3"]


def test_cli_table_lists_resources_and_a_summary(estate: Estate, cli: Any) -> None:
    result = cli("discover", "--account", "admin")
    assert result.exit_code == 0, result.stderr
    for resource_id in estate.ids("admin", "ec2") | estate.ids("admin", "dynamodb") | estate.ids("admin", "s3"):
        assert resource_id in result.stdout
    assert "tenant-a" not in result.stdout
    assert "20.0 GiB" in result.stdout  # the RDS instance, human-readable
    assert "13 resources in 1 account(s)" in result.stdout
    assert result.stderr == ""


def test_filters_repeat_or_take_comma_lists(estate: Estate, cli: Any) -> None:
    result = cli("discover", "--json", "-a", "tenant-a", "-r", "eu-west-1", "-s", "ebs,dynamodb", "-s", "s3")
    assert result.exit_code == 0, result.stderr
    rows = result.json()
    assert {(r["account"], r["region"]) for r in rows} == {("tenant-a", "eu-west-1")}
    assert sorted(r["service"] for r in rows) == ["dynamodb", "ebs", "s3"]
    assert {r["id"] for r in rows if r["service"] == "s3"} == {"skyvault-demo-111111111111-logs"}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--service", "lambda"), "unknown service: lambda"),
        (("--account", "nobody"), "unknown account: nobody"),
        (("--region", "ap-south-1"), "region ap-south-1 is not configured"),
    ],
)
def test_unknown_filters_are_refused_with_exit_4(lab_env: Any, cli: Any, args: tuple[str, ...], named: str) -> None:
    result = cli("discover", *args)
    assert result.exit_code == 4
    assert named in result.stderr
