"""DynamoDB through S3 in the lab, through the CLI: ``backup --method export`` (PITR required, never turned on;
the export ingested as the scan's tree format, an unchanged table storing almost nothing again; the exported files
deleted) and ``restore --via import`` (new tables only, LSIs refused, TTL/tags/stream applied afterwards); item by
item equality; the S3 intermediates removed after a failure and after a kill."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.errors import AwsError
from skyvault.lab.control import set_model_settings
from skyvault.services.dynamodb import export as export_module
from skyvault.services.dynamodb.export import EXPORT_OBJECTS, objects_id

from .conftest import Tables, item
from .test_backup_restore import _all_items, _canonical, _rich_table

pytestmark = pytest.mark.lab
Cli = Callable[..., Any]
ITEMS = 1200
BUCKET = "ddb-exports"


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


@pytest.fixture
def library(cli: Cli, lab_env: LabEnv, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "dynamodb export test secret")
    ok(cli("--json", "library", "init", "--path", str(lab_env.config_path.parent / "lib")))
    return "main"


def _s3(tables: Tables) -> Any:
    return tables.setup.client("tenant-a", "us-east-1", "s3").raw


def _objects(tables: Tables, prefix: str = "") -> list[str]:
    listed = _s3(tables).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents") or []]


def _pitr(tables: Tables, name: str) -> None:
    tables.client().update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


def _same_items(tables: Tables, source: dict[Any, Any], name: str) -> None:
    copy = _all_items(tables, name)
    assert copy.keys() == source.keys()
    for key, row in source.items():
        assert _canonical(copy[key]) == _canonical(row), key


def test_export_backup_round_trip_pitr_required_and_unchanged_table_stores_nothing(
    cli: Cli, tables: Tables, library: str
) -> None:
    _rich_table(tables, "orders")
    tables.load("orders", (item(i) for i in range(ITEMS)))
    source = _all_items(tables, "orders")
    _s3(tables).create_bucket(Bucket=BUCKET)
    export = ("--json", "backup", "dynamodb", "--account", "tenant-a", "orders", "--method", "export",
              "--export-bucket", BUCKET)  # fmt: skip

    refused = cli(*export)
    assert refused.exit_code != 0
    assert "point-in-time recovery" in refused.stderr and "aws dynamodb update-continuous-backups" in refused.stderr
    continuous = tables.client().describe_continuous_backups(TableName="orders")["ContinuousBackupsDescription"]
    assert continuous["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"  # never enabled
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []

    _pitr(tables, "orders")
    first = ok(cli(*export))
    stats = first["stats"]
    assert stats["method"] == "export" and stats["items"] == ITEMS and stats["export_items"] == ITEMS
    assert stats["consumed_read_units"] == 0 and stats["data_files"] >= 2
    point = tables.catalog.recovery_point(first["recovery_point"])
    assert point.native["method"] == "export" and point.native["bucket"] == BUCKET and point.library_snapshot
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []  # the export's files are deleted

    second = ok(cli(*export))["stats"]
    assert second["parent_snapshot"] == stats["library_snapshot"]
    assert second["reused_segments"] == second["segments"]
    assert second["new_bytes"] < 0.01 * stats["bytes"], second

    client = tables.client()
    client.put_item(TableName="orders", Item={**source[("user-000007", "1")], "name": {"S": "changed"}})
    third = ok(cli(*export))["stats"]
    assert third["segments"] - third["reused_segments"] == 1  # one changed item: one segment stored again
    ok(cli("--json", "library", "check", "--read-data"))

    restored = ok(cli("--json", "restore", first["recovery_point"], "--table-name", "orders-copy"))
    assert restored["stats"]["verified_items"] == ITEMS
    _same_items(tables, source, "orders-copy")
    lsi = client.describe_table(TableName="orders-copy")["Table"]["LocalSecondaryIndexes"][0]
    assert lsi["IndexName"] == "by-n"

    kept = ok(cli(*export, "--keep-export"))
    prefix = f"skyvault-dynamodb/orders/{kept['recovery_point']}/AWSDynamoDB/"
    kept_keys = _objects(tables, prefix)
    assert any(k.endswith("manifest-summary.json") for k in kept_keys)
    assert any(k.endswith(".json.gz") for k in kept_keys)
    assert tables.catalog.live_intermediates() == []


def test_incremental_export_applies_the_changes_to_the_previous_export(
    cli: Cli, tables: Tables, lab_env: LabEnv, library: str
) -> None:
    _rich_table(tables, "inc")
    tables.load("inc", (item(i) for i in range(ITEMS)))
    _pitr(tables, "inc")
    _s3(tables).create_bucket(Bucket=BUCKET)
    export = ("--json", "backup", "dynamodb", "--account", "tenant-a", "inc", "--method", "export",
              "--export-bucket", BUCKET)  # fmt: skip
    first = ok(cli(*export))["stats"]
    assert first["export_type"] == "full"
    # AWS's 15-minute minimum window: the incremental export is refused, and skyvault exports in full instead
    assert ok(cli(*export))["stats"]["export_type"] == "full"

    set_model_settings(lab_env.lab, "dynamodb_export", min_incremental_window_s=0)
    client = tables.client()
    client.put_item(TableName="inc", Item={**item(5), "name": {"S": "changed"}, "extra": {"SS": ["a", "b"]}})
    client.put_item(TableName="inc", Item=item(5000))
    client.delete_item(TableName="inc", Key={"pk": item(9)["pk"], "sk": item(9)["sk"]})
    source = _all_items(tables, "inc")
    second = ok(cli(*export))
    stats = second["stats"]
    assert stats["export_type"] == "incremental" and stats["changed_items"] == 3 and stats["items"] == ITEMS
    assert 1 <= stats["segments"] - stats["reused_segments"] <= 3  # only the segments with changes are rewritten
    point = tables.catalog.recovery_point(second["recovery_point"])
    assert point.native["export_type"] == "incremental" and point.native["since"]
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []

    unchanged = ok(cli(*export))["stats"]
    assert unchanged["export_type"] == "incremental" and unchanged["changed_items"] == 0
    assert unchanged["reused_segments"] == unchanged["segments"] and unchanged["new_bytes"] < 0.01 * first["bytes"]
    assert ok(cli(*export, "--full-export"))["stats"]["export_type"] == "full"
    ok(cli("--json", "library", "check", "--read-data"))

    restored = ok(cli("--json", "restore", second["recovery_point"], "--table-name", "inc-copy"))
    assert restored["stats"]["verified_items"] == ITEMS
    _same_items(tables, source, "inc-copy")


def _importable_table(tables: Tables, name: str) -> None:
    client = tables.client()
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 300, "WriteCapacityUnits": 300},
        GlobalSecondaryIndexes=[{
            "IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        }],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        Tags=[{"Key": "team", "Value": "payments"}],
    )  # fmt: skip
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})


def test_import_restore_round_trip_new_tables_only(cli: Cli, tables: Tables, library: str) -> None:
    _importable_table(tables, "ledger")
    tables.load("ledger", (item(i) for i in range(ITEMS)))
    source = _all_items(tables, "ledger")
    _s3(tables).create_bucket(Bucket=BUCKET)
    backup = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "ledger"))  # a scan point

    needs_bucket = cli("--json", "restore", backup["recovery_point"], "--table-name", "x", "--via", "import")
    assert needs_bucket.exit_code != 0 and "--export-bucket" in needs_bucket.stderr
    existing = cli("--json", "restore", backup["recovery_point"], "--via", "import", "--export-bucket", BUCKET)
    assert existing.exit_code != 0 and "new table only" in existing.stderr
    assert _objects(tables) == []

    restored = ok(cli("--json", "restore", backup["recovery_point"], "--table-name", "ledger-2", "--via", "import",
                      "--export-bucket", BUCKET))  # fmt: skip
    assert restored["method"] == "import" and restored["created"] is True
    stats = restored["stats"]
    assert stats["imported_items"] == ITEMS and stats["import_errors"] == 0 and stats["verified_items"] == ITEMS
    _same_items(tables, source, "ledger-2")
    client = tables.client()
    described = client.describe_table(TableName="ledger-2")["Table"]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 300
    gsi = described["GlobalSecondaryIndexes"][0]
    assert gsi["IndexName"] == "by-name" and gsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert described["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    ttl = client.describe_time_to_live(TableName="ledger-2")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "exp" and ttl["TimeToLiveStatus"] == "ENABLED"
    tags = client.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "payments"}
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []

    # an export point restores through ImportTable too, staging in the export's bucket by default
    _pitr(tables, "ledger")
    exported = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "ledger", "--method", "export",
                      "--export-bucket", BUCKET))  # fmt: skip
    again = ok(cli("--json", "restore", exported["recovery_point"], "--table-name", "ledger-3", "--via", "import"))
    assert again["stats"]["verified_items"] == ITEMS
    _same_items(tables, source, "ledger-3")


def test_import_refuses_local_secondary_indexes_before_staging(cli: Cli, tables: Tables, library: str) -> None:
    _rich_table(tables, "with-lsi")
    tables.load("with-lsi", (item(i) for i in range(50)))
    _s3(tables).create_bucket(Bucket=BUCKET)
    backup = ok(cli("--json", "backup", "dynamodb", "--account", "tenant-a", "with-lsi"))
    refused = cli("--json", "restore", backup["recovery_point"], "--table-name", "copy", "--via", "import",
                  "--export-bucket", BUCKET)  # fmt: skip
    assert refused.exit_code != 0 and "local secondary indexes (by-n)" in refused.stderr
    assert "without --via import" in refused.stderr
    assert _objects(tables) == [] and "copy" not in tables.client().list_tables()["TableNames"]


def test_s3_intermediates_are_removed_after_a_failure(
    cli: Cli, tables: Tables, library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables.simple("events")
    tables.load("events", (item(i) for i in range(300)))
    _pitr(tables, "events")
    _s3(tables).create_bucket(Bucket=BUCKET)
    original_ingest = export_module.ingest

    def failing_ingest(*args: Any, **kwargs: Any) -> Any:
        assert any(k.endswith("manifest-summary.json") for k in _objects(tables))  # the export wrote its files
        raise AwsError("injected failure while ingesting", code="InternalServerError", operation="GetObject")

    monkeypatch.setattr(export_module, "ingest", failing_ingest)
    failed = cli("--json", "backup", "dynamodb", "--account", "tenant-a", "events", "--method", "export",
                 "--export-bucket", BUCKET)  # fmt: skip
    assert failed.exit_code != 0 and "injected failure" in failed.stderr
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []
    assert len(tables.catalog.recovery_points(kind="dynamodb", status="failed")) == 1

    monkeypatch.setattr(export_module, "ingest", original_ingest)
    (job,) = [j for j in tables.catalog.jobs() if j.kind == "backup-dynamodb"]
    resumed = cli("--json", "jobs", "resume", job.id)  # exported again (the first export's files are gone)
    assert resumed.exit_code == 0, resumed.stderr
    assert tables.catalog.recovery_points(kind="dynamodb", status="failed") == []
    assert _objects(tables) == []

    point = tables.catalog.recovery_points(kind="dynamodb", status="completed")[0]
    original_wait = export_module.wait_import

    def failing_wait(client: Any, arn: str, **kwargs: Any) -> Any:
        assert _objects(tables, "skyvault-dynamodb/import/")  # the items were staged
        raise AwsError("injected import failure", code="InternalServerError", operation="DescribeImport")

    monkeypatch.setattr(export_module, "wait_import", failing_wait)
    failed_import = cli("--json", "restore", point.id, "--table-name", "events-2", "--via", "import")
    assert failed_import.exit_code != 0 and "injected import failure" in failed_import.stderr
    assert _objects(tables) == [] and tables.catalog.live_intermediates() == []
    monkeypatch.setattr(export_module, "wait_import", original_wait)


def test_export_to_a_missing_bucket_fails_clearly(cli: Cli, tables: Tables, library: str) -> None:
    tables.simple("nobucket")
    tables.load("nobucket", (item(i) for i in range(10)))
    _pitr(tables, "nobucket")
    failed = cli("--json", "backup", "dynamodb", "--account", "tenant-a", "nobucket", "--method", "export",
                 "--export-bucket", "no-such-export-bucket")  # fmt: skip
    assert failed.exit_code != 0 and "S3NoSuchBucket" in failed.stderr
    assert tables.catalog.live_intermediates() == []
    assert len(tables.catalog.recovery_points(kind="dynamodb", status="failed")) == 1


def test_export_files_left_by_a_killed_job_are_removed_by_cleanup(cli: Cli, tables: Tables) -> None:
    tables.simple("killed")
    tables.load("killed", (item(i) for i in range(40)))
    _pitr(tables, "killed")
    _s3(tables).create_bucket(Bucket=BUCKET)
    client = tables.client()
    arn = client.describe_table(TableName="killed")["Table"]["TableArn"]
    prefix = "skyvault-dynamodb/killed/rp-killed"
    # What a job killed while the export ran leaves: its row "running" (no lease), the intermediate it recorded
    # before ExportTableToPointInTime, and an export still writing (cleanup waits for it, then deletes).
    crashed = tables.catalog.start_job("backup-dynamodb", {"tables": ["killed"]})
    tables.catalog.record_intermediate(crashed.id, EXPORT_OBJECTS, objects_id(arn, BUCKET, prefix), "tenant-a",
                                       "us-east-1")  # fmt: skip
    client.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix)
    done = ok(cli("--json", "cleanup"))
    assert done["failed"] == [] and [i["id"] for i in done["intermediates"]] == [objects_id(arn, BUCKET, prefix)]
    assert _objects(tables) == []
