"""The lab's DynamoDB export and import model (what AWS writes under AWSDynamoDB/<ExportId>/, asynchronous
states, PITR required; ImportTable into new tables only), checked directly with boto3."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from skyvault.lab.control import set_model_settings

from .conftest import Tables, item

pytestmark = pytest.mark.lab


def _s3(tables: Tables) -> Any:
    return tables.setup.client("tenant-a", "us-east-1", "s3").raw


def _wait(describe: Any, key: str, status_key: str) -> dict[str, Any]:
    for _ in range(200):
        described: dict[str, Any] = describe()[key]
        if described[status_key] != "IN_PROGRESS":
            return described
        time.sleep(0.05)
    raise AssertionError("still IN_PROGRESS")


def test_export_writes_what_aws_writes_asynchronously(tables: Tables) -> None:
    tables.simple("exp")
    tables.load("exp", (item(i) for i in range(1200)))
    client = tables.client()
    arn = client.describe_table(TableName="exp")["Table"]["TableArn"]
    s3 = _s3(tables)
    s3.create_bucket(Bucket="exports")
    with pytest.raises(ClientError) as refused:
        client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="p")
    assert refused.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    client.update_continuous_backups(
        TableName="exp", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    started = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="p/q")
    export = started["ExportDescription"]
    assert export["ExportStatus"] == "IN_PROGRESS" and export["ExportArn"].startswith(f"{arn}/export/")
    done = _wait(lambda: client.describe_export(ExportArn=export["ExportArn"]), "ExportDescription", "ExportStatus")
    assert done["ExportStatus"] == "COMPLETED" and done["ItemCount"] == 1200 and done["BilledSizeBytes"] > 0
    export_id = export["ExportArn"].rsplit("/", 1)[1]
    assert done["ExportManifest"] == f"p/q/AWSDynamoDB/{export_id}/manifest-summary.json"
    summary = json.loads(s3.get_object(Bucket="exports", Key=done["ExportManifest"])["Body"].read())
    assert summary["itemCount"] == 1200 and summary["outputFormat"] == "DYNAMODB_JSON"
    files = s3.get_object(Bucket="exports", Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()
    entries = [json.loads(line) for line in files]
    assert len(entries) == 3 and sum(e["itemCount"] for e in entries) == 1200
    keys = set()
    for entry in entries:
        assert entry["dataFileS3Key"].startswith(f"p/q/AWSDynamoDB/{export_id}/data/")
        lines = gzip.decompress(s3.get_object(Bucket="exports", Key=entry["dataFileS3Key"])["Body"].read())
        for line in lines.decode().splitlines():
            row = json.loads(line)["Item"]
            assert set(row["bins"]) == {"BS"} and set(row["meta"]) == {"M"}
            keys.add((row["pk"]["S"], row["sk"]["N"]))
    assert len(keys) == 1200
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="exports", Prefix="p/q/")["Contents"]}
    assert f"p/q/AWSDynamoDB/{export_id}/_started" in listed

    missing = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket")["ExportDescription"]
    failed = _wait(lambda: client.describe_export(ExportArn=missing["ExportArn"]), "ExportDescription", "ExportStatus")
    assert failed["ExportStatus"] == "FAILED" and failed["FailureCode"] == "S3NoSuchBucket"


def test_import_creates_a_new_table_asynchronously_and_counts_errors(tables: Tables) -> None:
    s3 = _s3(tables)
    s3.create_bucket(Bucket="staging")
    good = "".join(json.dumps({"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}) + "\n" for i in range(40))
    s3.put_object(
        Bucket="staging", Key="in/a.json.gz", Body=gzip.compress((good + '{"Item": {"v": {"N": "1"}}}\n').encode())
    )
    client = tables.client()
    params = {
        "S3BucketSource": {"S3Bucket": "staging", "S3KeyPrefix": "in/"}, "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": {
            "TableName": "imported", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
        },
    }  # fmt: skip
    started = client.import_table(**params)["ImportTableDescription"]
    assert started["ImportStatus"] == "IN_PROGRESS"
    assert client.describe_table(TableName="imported")["Table"]["TableStatus"] == "CREATING"
    done = _wait(lambda: client.describe_import(ImportArn=started["ImportArn"]), "ImportTableDescription",
                 "ImportStatus")  # fmt: skip
    assert done["ImportStatus"] == "COMPLETED" and done["ImportedItemCount"] == 40 and done["ErrorCount"] == 1
    assert client.describe_table(TableName="imported")["Table"]["TableStatus"] == "ACTIVE"
    assert client.scan(TableName="imported", Select="COUNT")["Count"] == 40
    with pytest.raises(ClientError) as taken:
        client.import_table(**params)
    assert taken.value.response["Error"]["Code"] == "ResourceInUseException"


def _lines(s3: Any, done: dict[str, Any]) -> list[dict[str, Any]]:
    summary = json.loads(s3.get_object(Bucket="exports", Key=done["ExportManifest"])["Body"].read())
    files = s3.get_object(Bucket="exports", Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()
    rows: list[dict[str, Any]] = []
    for entry in (json.loads(line) for line in files):
        data = gzip.decompress(s3.get_object(Bucket="exports", Key=entry["dataFileS3Key"])["Body"].read())
        rows.extend(json.loads(line) for line in data.decode().splitlines())
    return rows


def test_incremental_export_writes_each_changed_item_once_with_its_images(tables: Tables) -> None:
    tables.simple("inc")
    tables.load("inc", (item(i) for i in range(100)))
    client = tables.client()
    arn = client.describe_table(TableName="inc")["Table"]["TableArn"]
    s3 = _s3(tables)
    s3.create_bucket(Bucket="exports")
    client.update_continuous_backups(
        TableName="inc", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    full = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", S3Prefix="f")["ExportDescription"]
    base = _wait(lambda: client.describe_export(ExportArn=full["ExportArn"]), "ExportDescription", "ExportStatus")
    client.put_item(TableName="inc", Item={**item(3), "name": {"S": "changed"}})
    client.put_item(TableName="inc", Item=item(1000))
    client.delete_item(TableName="inc", Key={"pk": item(7)["pk"], "sk": item(7)["sk"]})
    spec = {"ExportFromTime": base["ExportTime"], "ExportViewType": "NEW_AND_OLD_IMAGES"}
    with pytest.raises(ClientError) as too_short:  # AWS's 15-minute minimum
        client.export_table_to_point_in_time(TableArn=arn, S3Bucket="exports", ExportType="INCREMENTAL_EXPORT",
                                             IncrementalExportSpecification=spec)  # fmt: skip
    assert too_short.value.response["Error"]["Code"] == "InvalidExportTimeException"
    set_model_settings(tables.env.lab, "dynamodb_export", min_incremental_window_s=0)
    started = client.export_table_to_point_in_time(
        TableArn=arn, S3Bucket="exports", S3Prefix="i", ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification=spec,
    )["ExportDescription"]  # fmt: skip
    done = _wait(lambda: client.describe_export(ExportArn=started["ExportArn"]), "ExportDescription", "ExportStatus")
    assert done["ExportType"] == "INCREMENTAL_EXPORT" and done["ItemCount"] == 3
    assert done["IncrementalExportSpecification"]["ExportFromTime"] == base["ExportTime"]
    by_key = {(r["Keys"]["pk"]["S"], r["Keys"]["sk"]["N"]): r for r in _lines(s3, done)}
    changed, created, deleted = by_key[("user-000000", "3")], by_key[("user-000250", "0")], by_key[("user-000001", "3")]
    assert changed["NewImage"]["name"] == {"S": "changed"} and changed["OldImage"]["name"] != {"S": "changed"}
    assert "OldImage" not in created and created["NewImage"]["n"] == {"N": "1000.5"}
    assert "NewImage" not in deleted and deleted["OldImage"]["pk"] == {"S": "user-000001"}
    assert all("WriteTimestampMicros" in r["Metadata"] for r in by_key.values())
