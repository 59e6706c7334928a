"""Proof: DynamoDB scan, export and native backups, their restores (BatchWriteItem, ImportTable, from a backup),
the read-capacity raise and expiry run on exactly their generated policy (the ``dynamodb`` row), each narrowed to
the declarations the scenario's path uses.

moto checks the action of each request only: companion actions AWS evaluates on the same request (TagResource when
CreateTable carries tags; the item actions RestoreTableFromBackup needs on the new table; the S3 writes of an export
and the S3 reads and CloudWatch Logs writes of an import) are listed as ``moto_blind``. The library is a local
folder: it makes no AWS calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from permissions.proof import Proof, Scenario, proof_tests
from skyvault.catalog import Catalog
from skyvault.engine.retention import expire_due
from skyvault.engine.runner import JobRunner
from skyvault.jobs.spec import JobSpec
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import REGISTRY, Feature, Registry
from skyvault.permissions.render import render_policies
from skyvault.services.contract import JobEnvironment
from skyvault.services.dynamodb.jobs import backup_params

TENANT = "tenant-a"
PASSPHRASE = "dynamodb proof"
CAPTURE = ("DescribeTable", "ListTagsOfResource", "DescribeTimeToLive", "DescribeContinuousBackups")
ROW = ("dynamodb",)
BUCKET = "proof-exports"


def narrowed(features: tuple[Feature, ...], operations: tuple[str, ...]) -> Callable[[], list[dict[str, Any]]]:
    def documents() -> list[dict[str, Any]]:
        load_declarations()
        chosen = Registry()
        for permission in REGISTRY.select(policies=ROW, features=features):
            if permission.operation in operations:
                chosen.add(permission)
        return [d.document() for d in render_policies(ROW, features=features, registry=chosen)]

    return documents


def _library(proof: Proof) -> Repository:
    path = Path(proof.env.state_dir) / "proof-library"
    if not path.exists():
        Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**10, r=8, p=1)).close()
    return Repository.open(LocalBackend(path), passphrase=PASSPHRASE)


def _runner(proof: Proof) -> JobRunner:
    env = JobEnvironment(Catalog.open(proof.env.state_dir), proof.factory(), open_library=lambda _n: _library(proof))
    return JobRunner(env)


def setup_table(proof: Proof, *, rcu: int = 50) -> None:
    client = proof.raw("dynamodb")
    client.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": rcu, "WriteCapacityUnits": 50},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        Tags=[{"Key": "team", "Value": "payments"}],
    )  # fmt: skip
    client.update_time_to_live(TableName="orders", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    for i in range(30):
        client.put_item(TableName="orders", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}, "b": {"B": b"\x00"}})


def _backup(proof: Proof, method: str, **extra: Any) -> str:
    params = backup_params(tables=["orders"], account=TENANT, region=proof.region, method=method,
                           library="proof" if method in ("scan", "export") else None, **extra)  # fmt: skip
    (result,) = _runner(proof).run(JobSpec("backup-dynamodb", params))
    catalog = Catalog.open(proof.env.state_dir)
    assert catalog.recovery_point(result["recovery_point"]).status == "completed"
    assert catalog.live_intermediates() == []
    return str(result["recovery_point"])


def run_scan_backup(proof: Proof) -> None:
    _backup(proof, "scan")


def run_scan_backup_raise(proof: Proof) -> None:
    _backup(proof, "scan", raise_read_capacity=500)
    table = proof.raw("dynamodb").describe_table(TableName="orders")["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 50


def run_native_backup(proof: Proof) -> None:
    _backup(proof, "native")


def setup_export_table(proof: Proof) -> None:
    setup_table(proof)
    proof.raw("dynamodb").update_continuous_backups(
        TableName="orders", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    proof.raw("s3").create_bucket(Bucket=BUCKET)


def run_export_backup(proof: Proof) -> None:
    _backup(proof, "export", export_bucket=BUCKET)
    assert not proof.raw("s3").list_objects_v2(Bucket=BUCKET).get("Contents")  # the export's files deleted


def setup_import_point(proof: Proof) -> None:
    setup_table(proof)
    proof.raw("s3").create_bucket(Bucket=BUCKET)
    proof.state["point"] = _backup(proof, "scan")


def run_import_restore(proof: Proof) -> None:
    options = {"table_name": "copy", "via": "import", "export_bucket": BUCKET}
    spec = JobSpec("restore-dynamodb", {"recovery_point": proof.state["point"], "options": options})
    result = _runner(proof).run(spec)
    assert result["method"] == "import" and result["stats"]["verified_items"] == 30
    assert not proof.raw("s3").list_objects_v2(Bucket=BUCKET).get("Contents")  # the staged files deleted


def setup_scan_point(proof: Proof) -> None:
    setup_table(proof)
    proof.state["point"] = _backup(proof, "scan")


def setup_native_point(proof: Proof) -> None:
    setup_table(proof)
    proof.state["point"] = _backup(proof, "native")


def _restore(proof: Proof) -> dict[str, Any]:
    spec = JobSpec("restore-dynamodb", {"recovery_point": proof.state["point"], "options": {"table_name": "copy"}})
    result: dict[str, Any] = _runner(proof).run(spec)
    return result


def run_scan_restore(proof: Proof) -> None:
    assert _restore(proof)["stats"]["verified_items"] == 30


def run_native_restore(proof: Proof) -> None:
    assert _restore(proof)["method"] == "native"


def run_expiry(proof: Proof) -> None:
    catalog = Catalog.open(proof.env.state_dir)
    catalog.update_recovery_point(proof.state["point"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    report = expire_due(catalog, proof.factory())
    if report.failed:
        raise next(iter(report.failed_errors.values()))
    assert report.snapshots_deleted == 1, report


BACKUP, RESTORE, CLEANUP = (Feature.BACKUP,), (Feature.RESTORE,), (Feature.CLEANUP,)
CREATE_TAGS = {"dynamodb:TagResource": "AWS evaluates it on CreateTable with Tags; moto checks the request's action"}
RESTORE_DEPENDENTS = dict.fromkeys(
    ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
     "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"),
    "AWS requires it on the new table for RestoreTableFromBackup; moto checks the request's action",
)  # fmt: skip

EXPORT_WRITES = dict.fromkeys(
    ("s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl"),
    "AWS evaluates it for the files ExportTableToPointInTime writes; moto checks the request's action",
)
IMPORT_READS = dict.fromkeys(
    ("s3:GetObject", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
     "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:PutRetentionPolicy"),
    "AWS evaluates it for ImportTable's reads and its log group; moto checks the request's action",
)  # fmt: skip


SCENARIOS = [
    Scenario("dynamodb-scan-backup", rows=ROW, features=BACKUP, setup=setup_table, run=run_scan_backup,
             policy=narrowed(BACKUP, (*CAPTURE, "Scan"))),
    Scenario("dynamodb-scan-backup-raise-capacity", rows=ROW, features=BACKUP, setup=setup_table,
             run=run_scan_backup_raise, policy=narrowed(BACKUP, (*CAPTURE, "Scan", "UpdateTable"))),
    Scenario("dynamodb-native-backup", rows=ROW, features=BACKUP, setup=setup_table, run=run_native_backup,
             policy=narrowed(BACKUP, (*CAPTURE, "CreateBackup", "DescribeBackup"))),
    Scenario("dynamodb-scan-restore", rows=ROW, features=RESTORE, setup=setup_scan_point, run=run_scan_restore,
             policy=narrowed(RESTORE, ("DescribeTable", "CreateTable", "UpdateTimeToLive", "BatchWriteItem", "Scan")),
             moto_blind=CREATE_TAGS),
    Scenario("dynamodb-native-restore", rows=ROW, features=RESTORE, setup=setup_native_point,
             run=run_native_restore,
             policy=narrowed(RESTORE, ("DescribeTable", "RestoreTableFromBackup", "TagResource", "UpdateTimeToLive",
                                       "UpdateTable")),
             moto_blind=RESTORE_DEPENDENTS),
    Scenario("dynamodb-export-backup", rows=ROW, features=BACKUP, setup=setup_export_table, run=run_export_backup,
             policy=narrowed(BACKUP, (*CAPTURE, "ExportTableToPointInTime", "DescribeExport", "GetObject",
                                      "ListObjectsV2", "DeleteObject")),
             moto_blind=EXPORT_WRITES),
    Scenario("dynamodb-import-restore", rows=ROW, features=RESTORE, setup=setup_import_point, run=run_import_restore,
             policy=narrowed(RESTORE, ("DescribeTable", "PutObject", "ImportTable", "DescribeImport", "TagResource",
                                       "UpdateTable", "UpdateTimeToLive", "Scan", "ListObjectsV2", "DeleteObject")),
             moto_blind=IMPORT_READS),
    Scenario("dynamodb-expiry", rows=ROW, features=CLEANUP, setup=setup_native_point, run=run_expiry,
             policy=narrowed(CLEANUP, ("DescribeBackup", "DeleteBackup"))),
]  # fmt: skip

test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
