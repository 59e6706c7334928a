"""DynamoDB in the lab: the export and import paths against the scan and BatchWriteItem ones, in the same run.

    PYTHONPATH=src python benchmarks/dynamodb_export.py [--items 20000]

Starts its own lab in a temporary folder, loads an on-demand table with a GSI (no LSI: ImportTable cannot create
one) of mixed-type items (~500 B each, every attribute type) with bare boto3 clients, turns on point-in-time
recovery, then times each whole command (a subprocess, as a user runs it):
- `backup dynamodb` (scan), `backup dynamodb --method export` (first, then unchanged: new bytes);
- `restore --table-name` (BatchWriteItem) and `restore --via import` (ImportTable) of the export point, both
  verified by a scan back.
The lab answers export and import with its model (docs/lab.md): its timings are the lab's, not AWS's (an AWS
export or import takes minutes even for a small table). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dynamodb_vs_dynamodump import ACCOUNT, _client, _skyvault

from dynamodb.conftest import item
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.control import start_lab, stop_lab

BUCKET = "bench-exports"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    args = parser.parse_args()
    n = args.items
    timings: dict[str, Any] = {"items": n}
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        lab = start_lab(where / "lab", exit_with_parent=True)
        try:
            config_path = where / "skyvault.toml"
            config = write_lab_config(config_path, lab)
            _skyvault(config_path, "library", "init", "--path", str(where / "lib"))
            raw = _client(config, config_path)
            raw.create_table(
                TableName="bench", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "N"},
                                      {"AttributeName": "name", "AttributeType": "S"}],
                GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name",
                                         "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
            )  # fmt: skip

            def load(start: int) -> None:
                client = _client(config, config_path)
                for b in range(start, min(start + 1000, n), 25):
                    batch = [{"PutRequest": {"Item": item(i)}} for i in range(b, min(b + 25, n))]
                    client.batch_write_item(RequestItems={"bench": batch})

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(load, range(0, n, 1000)))
            raw.update_continuous_backups(
                TableName="bench", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            from skyvault.aws.clients import ClientFactory

            s3 = ClientFactory(config, base_dir=config_path.parent, strict_guard=False).client(
                ACCOUNT, "us-east-1", "s3"
            )
            s3.raw.create_bucket(Bucket=BUCKET)
            backup = ("backup", "dynamodb", "bench", "--account", ACCOUNT)
            export = (*backup, "--method", "export", "--export-bucket", BUCKET)
            results: dict[str, Any] = {}
            for label, command in (("scan_backup", backup), ("export_backup", export), ("export_unchanged", export),
                                   ("restore_batch", None), ("restore_import", None)):  # fmt: skip
                if label == "restore_batch":
                    command = ("restore", results["export_backup"]["recovery_point"], "--table-name", "bench-batch")
                elif label == "restore_import":
                    command = ("restore", results["export_backup"]["recovery_point"], "--table-name", "bench-import",
                               "--via", "import")  # fmt: skip
                assert command is not None
                started = time.perf_counter()
                results[label] = _skyvault(config_path, *command)
                seconds = time.perf_counter() - started
                timings[f"{label}_s"] = round(seconds, 2)
                timings[f"{label}_items_per_s"] = round(n / seconds, 1)
        finally:
            stop_lab(where / "lab")
    first, unchanged = results["export_backup"]["stats"], results["export_unchanged"]["stats"]
    timings.update(
        export_bytes=first["bytes"], export_data_files=first["data_files"],
        export_read_units=first["consumed_read_units"],
        scan_read_units=results["scan_backup"]["stats"]["consumed_read_units"],
        unchanged_new_bytes=unchanged["new_bytes"],
        unchanged_new_fraction=round(unchanged["new_bytes"] / first["bytes"], 5),
        import_verified_items=results["restore_import"]["stats"]["verified_items"],
    )  # fmt: skip
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()
