"""DynamoDB backup and restore in the lab, through the CLI: scan into the library and back, item by item; the schema
(GSIs, LSIs, TTL, tags, billing) restored; an unchanged second backup stores almost nothing; overwrite refused
without --yes; a raised read capacity reverted after a failure mid-scan; native backups restored and expired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.engine.retention import expire_due
from skyvault.errors import AwsError
from skyvault.services.dynamodb import scan as scan_module
from skyvault.services.dynamodb.jobs import READ_CAPACITY, capacity_id

from .conftest import Tables, item

pytestmark = pytest.mark.lab
Cli = Callable[..., Any]
ITEMS = 1000


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


@pytest.fixture
def library(cli: Cli, lab_env: LabEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "dynamodb test secret")
    ok(cli("--json", "library", "init", "--path", str(lab_env.config_path.parent / "lib")))
    return "main"


def _rich_table(tables: Tables, name: str) -> None:
    client = tables.client()
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "n", "AttributeType": "N"},
            {"AttributeName": "name", "AttributeType": "S"},
        ],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 400, "WriteCapacityUnits": 300},
        GlobalSecondaryIndexes=[{
            "IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "by-n", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                               {"AttributeName": "n", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["tags"]},
        }],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"}],
    )  # fmt: skip
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})


def _all_items(tables: Tables, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    client = tables.client()
    found = {}
    for page in client.get_paginator("scan").paginate(TableName=name):
        for row in page["Items"]:
            found[(row["pk"]["S"], row["sk"]["N"])] = row
    return found


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    """Sets have no order: compare them as sets."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        ((kind, raw),) = value.items()
        if kind in ("SS", "NS", "BS"):
            out[name] = (kind, frozenset(raw))
        elif kind == "M":
            out[name] = ("M", _canonical(raw))
        elif kind == "L":
            out[name] = ("L", [_canonical({"x": v})["x"] for v in raw])
        else:
            out[name] = (kind, raw)
    return out


def test_scan_round_trip_schema_incremental_and_overwrite_refusal(cli: Cli, tables: Tables, library: str) -> None:
    _rich_table(tables, "orders")
    tables.load("orders", (item(i) for i in range(ITEMS)))
    source = _all_items(tables, "orders")
    assert len(source) == ITEMS

    first = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "orders"))
    stats = first["stats"]
    assert stats["items"] == ITEMS and stats["segments"] >= 4 and stats["reused_segments"] == 0
    point = tables.catalog.recovery_point(first["recovery_point"])
    assert point.kind == "dynamodb" and point.status == "completed" and point.library_snapshot
    schema = point.captured_config
    assert schema["ttl_attribute"] == "exp" and schema["tags"] == {"team": "payments", "env": "prod"}
    assert schema["global_secondary_indexes"][0]["throughput"] == {"read": 7, "write": 3}
    assert schema["stream"] == {"enabled": True, "view_type": "NEW_AND_OLD_IMAGES"}

    second = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "orders"))["stats"]
    assert second["items"] == ITEMS and second["parent_snapshot"] == stats["library_snapshot"]
    assert second["reused_segments"] == second["segments"]
    assert second["new_bytes"] < 0.01 * stats["bytes"], second
    ok(cli("--json", "library", "check", "--read-data"))  # the trees' items and schema read back and verify

    restored = ok(cli("--json", "restore", first["recovery_point"], "--table-name", "orders-copy"))
    assert restored["table"] == "orders-copy" and restored["created"] is True
    assert restored["stats"]["verified_items"] == ITEMS
    copy = _all_items(tables, "orders-copy")
    assert copy.keys() == source.keys()
    for key, row in source.items():
        assert _canonical(copy[key]) == _canonical(row), key

    client = tables.client()
    described = client.describe_table(TableName="orders-copy")["Table"]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 400
    assert described["GlobalSecondaryIndexes"][0]["IndexName"] == "by-name"
    assert described["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    lsi = described["LocalSecondaryIndexes"][0]
    assert lsi["IndexName"] == "by-n" and lsi["Projection"]["NonKeyAttributes"] == ["tags"]
    assert described["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    ttl = client.describe_time_to_live(TableName="orders-copy")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "exp" and ttl["TimeToLiveStatus"] == "ENABLED"
    tags = client.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "payments", "env": "prod"}

    # the original still holds its items: restoring over it is refused without --yes, and nothing is written
    client.put_item(TableName="orders", Item={"pk": {"S": "extra"}, "sk": {"N": "1"}, "n": {"N": "1"}})
    client.delete_item(TableName="orders", Key={"pk": {"S": "user-000000"}, "sk": {"N": "0"}})
    refused = cli("--json", "restore", first["recovery_point"])
    assert refused.exit_code != 0 and "--yes" in refused.stderr
    assert ("user-000000", "0") not in _all_items(tables, "orders")
    again = ok(cli("--json", "restore", first["recovery_point"], "--yes"))
    assert again["created"] is False and again["stats"]["other_items"] == 1
    assert _canonical(_all_items(tables, "orders")[("user-000000", "0")]) == _canonical(source[("user-000000", "0")])


def test_on_demand_table_restores_on_demand(cli: Cli, tables: Tables, library: str) -> None:
    tables.simple("events")
    tables.load("events", (item(i) for i in range(300)))
    backup = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "events", "--consistent-read"))
    ok(cli("--json", "restore", backup["recovery_point"], "--table-name", "events-2"))
    described = tables.client().describe_table(TableName="events-2")["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert len(_all_items(tables, "events-2")) == 300


def test_items_left_unprocessed_are_sent_again_as_they_came(cli: Cli, tables: Tables, library: str) -> None:
    # the restore sends bodies made from the library's lines, and what the table's capacity leaves unprocessed comes
    # back in wire form (binary as base64) and is sent again as it is
    tables.simple("small")
    tables.load("small", (item(i) for i in range(60)))
    backup = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "small"))
    tables.simple("narrow", rcu=100, wcu=10)
    # 3,000 units of burst drained (30 units per 30 KB item): the restore then writes at 10 units a second
    tables.load(
        "narrow", ({"pk": {"S": f"junk-{i}"}, "sk": {"N": "0"}, "pad": {"S": "x" * 30_000}} for i in range(100))
    )
    restored = ok(cli("--json", "restore", backup["recovery_point"], "--table-name", "narrow", "--yes"))
    assert restored["stats"]["write_retries"] > 0
    assert restored["stats"]["verified_items"] == 60 and restored["stats"]["other_items"] == 100
    copy = _all_items(tables, "narrow")
    for i in (0, 31, 59):
        assert _canonical(copy[(item(i)["pk"]["S"], item(i)["sk"]["N"])]) == _canonical(item(i))


def test_raised_read_capacity_is_reverted_after_a_failure_mid_scan(
    cli: Cli, tables: Tables, library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables.simple("ledger", rcu=5, wcu=300)
    tables.load("ledger", (item(i) for i in range(400)))
    spent = [0]
    original_spend = scan_module.ReadPacer.spend

    def failing_spend(self: scan_module.ReadPacer, units: float) -> None:
        original_spend(self, units)
        spent[0] += 1
        if spent[0] == 2:
            raise AwsError("injected failure mid-scan", code="InternalServerError", operation="Scan")

    monkeypatch.setattr(scan_module.ReadPacer, "spend", failing_spend)
    result = cli("--json", "backup", "dynamodb", "--account", "tenant-a", "ledger", "--raise-read-capacity", "2000")
    assert result.exit_code != 0 and "injected failure" in result.stderr
    throughput = tables.client().describe_table(TableName="ledger")["Table"]["ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 5
    assert spent[0] >= 2
    failed = tables.catalog.recovery_points(kind="dynamodb", status="failed")
    assert len(failed) == 1 and tables.catalog.live_intermediates() == []

    monkeypatch.setattr(scan_module.ReadPacer, "spend", original_spend)
    # the failed job resumed: its raise runs again (the failure reverted it), then the scan, then the revert
    (job,) = [j for j in tables.catalog.jobs() if j.kind == "backup-dynamodb"]
    raised: list[int] = []
    original_scan = scan_module.scan_segment

    def watching_scan(client: Any, *args: Any, **kwargs: Any) -> Any:
        raised.append(int(tables.client().describe_table(TableName="ledger")["Table"]["ProvisionedThroughput"][
            "ReadCapacityUnits"]))  # fmt: skip
        return original_scan(client, *args, **kwargs)

    monkeypatch.setattr(scan_module, "scan_segment", watching_scan)
    resumed = cli("--json", "jobs", "resume", job.id)
    assert resumed.exit_code == 0, resumed.stderr
    assert raised and set(raised) == {2000}
    assert tables.catalog.recovery_point(failed[0].id).status == "completed"  # the same point, finished
    assert tables.client().describe_table(TableName="ledger")["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"] == 5  # fmt: skip
    monkeypatch.setattr(scan_module, "scan_segment", original_scan)
    done = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "ledger", "--raise-read-capacity", "2000"))
    assert done["stats"]["items"] == 400
    assert tables.client().describe_table(TableName="ledger")["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"] == 5  # fmt: skip


def test_native_backup_restore_and_expiry(cli: Cli, tables: Tables, lab_env: LabEnv) -> None:
    _rich_table(tables, "native-src")
    tables.load("native-src", (item(i) for i in range(50)))
    backup = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "native-src", "--method", "native"))
    point = tables.catalog.recovery_point(backup["recovery_point"])
    assert point.native["backup_name"].startswith("skyvault-native-src-")
    assert tables.catalog.live_intermediates() == []
    refused = cli("--json", "restore", point.id)
    assert refused.exit_code != 0 and "--table-name" in refused.stderr
    restored = ok(cli("--json", "restore", point.id, "--table-name", "native-copy"))
    assert restored["method"] == "native"
    client = tables.client()
    arn = client.describe_table(TableName="native-copy")["Table"]["TableArn"]
    assert {t["Key"] for t in client.list_tags_of_resource(ResourceArn=arn)["Tags"]} == {"team", "env"}
    ttl = client.describe_time_to_live(TableName="native-copy")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "exp"
    assert len(_all_items(tables, "native-copy")) == 50

    catalog = tables.catalog
    catalog.update_recovery_point(point.id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    report = expire_due(catalog, lab_env.factory())
    assert report.snapshots_deleted == 1, report
    assert client.list_backups(TableName="native-src")["BackupSummaries"] == []


def test_raised_capacity_left_by_a_killed_job_is_reverted_by_cleanup(cli: Cli, tables: Tables) -> None:
    tables.simple("killed", rcu=5, wcu=5)
    client = tables.client()
    arn = client.describe_table(TableName="killed")["Table"]["TableArn"]
    catalog = tables.catalog
    # What a job killed mid-scan leaves: its row still "running" (no lease), the intermediate it recorded before
    # UpdateTable, and the raised capacity.
    crashed = catalog.start_job("backup-dynamodb", {"tables": ["killed"]})
    catalog.record_intermediate(crashed.id, READ_CAPACITY, capacity_id(arn, 5, 900), "tenant-a", "us-east-1")
    client.update_table(TableName="killed", ProvisionedThroughput={"ReadCapacityUnits": 900, "WriteCapacityUnits": 5})
    done = ok(cli("--json", "cleanup"))
    assert done["failed"] == [] and [i["id"] for i in done["intermediates"]] == [capacity_id(arn, 5, 900)]
    throughput = client.describe_table(TableName="killed")["Table"]["ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 5 and throughput["WriteCapacityUnits"] == 5
