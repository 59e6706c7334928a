"""DynamoDB in the lab: skyvault scan backup and restore against dynamodump and a bare-client ceiling.

    PYTHONPATH=src python benchmarks/dynamodb_vs_dynamodump.py [--items 100000] [--no-dynamodump] [--latency-ms 10]

Starts its own lab in a temporary folder, loads a table of mixed-type items (S, N, B, SS, NS, BS, M, L, BOOL, NULL,
~500 B each) with bare boto3 clients (4 threads), then measures in the same run:
- the lab's own write ceiling: the same items into a second table of the same schema, 25 per BatchWriteItem, as
  requests built and signed before the clock starts and sent by 8 threads with ``http.client`` (no client library
  in the timed loop: what the lab itself can take);
- read ceiling: a bare boto3 parallel Scan (4 segments, one client per thread) that only reads;
- skyvault: `backup dynamodb` (first, and an unchanged second: new bytes), `restore --table-name` (created, written
  with BatchWriteItem, verified by a scan back);
- dynamodump (PyPI, pinned; it pins an old boto3, so it lives in its own venv made here under
  ``~/.cache/skyvault-bench/dynamodump``, never in skyvault's): `-m backup` and `-m restore` of the same table.
Prints one JSON object with items/s and ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dynamodb.conftest import item
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.control import set_model_settings, start_lab, stop_lab

ACCOUNT = "admin"  # the lab's default account: what any other key (dynamodump's) lands in too
DYNAMODUMP = "dynamodump==1.11.1"
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "skyvault-bench" / "dynamodump"


def _dynamodump() -> Path:
    tool = VENV / "bin" / "dynamodump"
    if not tool.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", DYNAMODUMP], check=True)
    return tool


def _run_dynamodump(tool: Path, endpoint: str, dump: Path, *args: str) -> float:
    host, port = endpoint.split("://", 1)[-1].rsplit(":", 1)  # dynamodump adds http:// itself
    started = time.perf_counter()
    done = subprocess.run(
        [str(tool), "-r", "us-east-1", "--host", host, "--port", port, "--accessKey", "testing",
         "--secretKey", "testing", "--dumpPath", str(dump), "--noConfirm", "--log", "warning", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"dynamodump {' '.join(args)} failed: {done.stderr[-3000:]}")
    return time.perf_counter() - started


def _skyvault(config: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "SKYVAULT_CONFIG": str(config), "SKYVAULT_PASSPHRASE": "bench"}
    command = [sys.executable, "-c", "from skyvault.cli.main import main; main()", "--json", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"skyvault {' '.join(args)} failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _write_ceiling(raw: Any, endpoint: str, table: str, n: int, threads: int = 8) -> float:
    """Seconds the lab takes to write ``n`` items sent as pre-built, pre-signed BatchWriteItem requests."""
    import http.client

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from skyvault.services.dynamodb import items as codec
    from skyvault.services.dynamodb.restore import batch_body

    credentials = raw._request_signer._credentials.get_frozen_credentials()
    requests = []
    for start in range(0, n, 25):
        body = batch_body(table, [codec.to_line(item(i)) for i in range(start, min(start + 25, n))])
        request = AWSRequest(
            method="POST",
            url=endpoint + "/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"},
        )
        SigV4Auth(credentials, "dynamodb", "us-east-1").add_auth(request)
        requests.append((body, dict(request.headers.items())))
    host, port = endpoint.split("://", 1)[-1].rsplit(":", 1)

    def send(part: int) -> None:
        for body, headers in requests[part::threads]:
            connection = http.client.HTTPConnection(host, int(port))
            connection.request("POST", "/", body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            if answer.status != 200 or json.loads(data).get("UnprocessedItems"):
                raise SystemExit(f"ceiling load failed: {answer.status} {data[:300]!r}")

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(threads)))
    return time.perf_counter() - started


def _client(factory_config: Any, config_path: Path) -> Any:
    from skyvault.aws.clients import ClientFactory

    # The benchmark's own loader makes calls no skyvault module declares (BatchWriteItem to fill the table): the
    # call guard would warn once per batch. skyvault's own commands run in their own processes, guard untouched.
    logging.getLogger("skyvault.aws.guard").setLevel(logging.ERROR)
    return (
        ClientFactory(factory_config, base_dir=config_path.parent, strict_guard=False)
        .client(ACCOUNT, "us-east-1", "dynamodb")
        .raw
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--no-dynamodump", action="store_true")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="per-request DynamoDB latency in the lab (the request_latency quirk; AWS: single-digit ms), for every "
        "client here: the load, the ceilings, skyvault and dynamodump",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        lab = start_lab(where / "lab", exit_with_parent=True)
        try:
            config_path = where / "skyvault.toml"
            config = write_lab_config(config_path, lab)
            _skyvault(config_path, "library", "init", "--path", str(where / "lib"))
            raw = _client(config, config_path)
            for name in ("bench", "ceiling"):
                raw.create_table(
                    TableName=name, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "N"},
                                          {"AttributeName": "name", "AttributeType": "S"},
                                          {"AttributeName": "n", "AttributeType": "N"}],
                    # a GSI and an LSI: dynamodump's on-demand restore sends empty index lists for a table without
                    # them (refused by DynamoDB)
                    LocalSecondaryIndexes=[{"IndexName": "by-n",
                                            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                          {"AttributeName": "n", "KeyType": "RANGE"}],
                                            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
                    GlobalSecondaryIndexes=[{"IndexName": "by-name",
                                             "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                             "Projection": {"ProjectionType": "KEYS_ONLY"}}],
                )  # fmt: skip
            if args.latency_ms:
                set_model_settings(lab, "request_latency", dynamodb=args.latency_ms)
            started = time.perf_counter()

            def load(start: int) -> None:
                client = _client(config, config_path)
                for b in range(start, min(start + 1000, args.items), 25):
                    batch = [{"PutRequest": {"Item": item(i)}} for i in range(b, min(b + 25, args.items))]
                    client.batch_write_item(RequestItems={"bench": batch})

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(load, range(0, args.items, 1000)))
            load_s = time.perf_counter() - started
            ceiling_write_s = _write_ceiling(raw, lab.endpoint, "ceiling", args.items)

            def segment(index: int) -> int:
                client = _client(config, config_path)
                params: dict[str, Any] = {"TableName": "bench", "Segment": index, "TotalSegments": 4}
                count = 0
                while True:
                    page = client.scan(**params)
                    count += len(page["Items"])
                    if not page.get("LastEvaluatedKey"):
                        return count
                    params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                scanned = sum(pool.map(segment, range(4)))
            ceiling_s = time.perf_counter() - started
            assert scanned == args.items
            started = time.perf_counter()
            first = _skyvault(config_path, "backup", "dynamodb", "bench", "--account", ACCOUNT)
            backup_wall_s = time.perf_counter() - started
            second = _skyvault(config_path, "backup", "dynamodb", "bench", "--account", ACCOUNT)
            started = time.perf_counter()
            restored = _skyvault(config_path, "restore", first["recovery_point"], "--table-name", "bench-copy")
            restore_s = time.perf_counter() - started
            peer: dict[str, Any] = {}
            if not args.no_dynamodump:
                tool = _dynamodump()
                backup_s = _run_dynamodump(tool, lab.endpoint, where / "dump", "-m", "backup", "-s", "bench")
                restore_dd_s = _run_dynamodump(
                    tool, lab.endpoint, where / "dump", "-m", "restore", "-s", "bench", "-d", "bench-dd",
                    "--billingMode", "PAY_PER_REQUEST",
                )  # fmt: skip
                restored_dd = sum(
                    page["Count"] for page in raw.get_paginator("scan").paginate(TableName="bench-dd", Select="COUNT")
                )
                assert restored_dd == args.items, restored_dd
                peer = {"dynamodump_backup_items_per_s": round(args.items / backup_s, 1),
                        "dynamodump_restore_items_per_s": round(args.items / restore_dd_s, 1)}  # fmt: skip
        finally:
            stop_lab(where / "lab")
    n = args.items
    result: dict[str, Any] = {
        "items": n,
        "latency_ms": args.latency_ms,
        "lab_load_items_per_s": round(n / load_s, 1),  # bare boto3, 4 threads
        "lab_write_ceiling_items_per_s": round(n / ceiling_write_s, 1),  # pre-signed requests, 8 threads
        "bare_scan_items_per_s": round(n / ceiling_s, 1),
        "backup_items_per_s": round(n / backup_wall_s, 1),  # the whole command, as dynamodump's is timed
        "backup_engine_items_per_s": first["stats"]["items_per_s"],
        "backup_s": round(backup_wall_s, 1),
        "backup_vs_bare_scan": round((n / backup_wall_s) / (n / ceiling_s), 2),
        "first_bytes": first["stats"]["bytes"],
        "first_new_bytes": first["stats"]["new_bytes"],
        "second_new_bytes": second["stats"]["new_bytes"],
        "second_new_fraction": round(second["stats"]["new_bytes"] / first["stats"]["bytes"], 5),
        "second_backup_s": second["stats"]["duration_s"],
        "restore_items_per_s": round(n / restore_s, 1),
        "restore_write_items_per_s": restored["stats"]["write_items_per_s"],
        "restore_s": round(restore_s, 1),
        "restore_vs_lab_load": round((n / restore_s) / (n / load_s), 2),
        "restore_write_vs_lab_write_ceiling": round(restored["stats"]["write_items_per_s"] / (n / ceiling_write_s), 2),
        **peer,
    }  # fmt: skip
    if peer:
        result["backup_vs_dynamodump"] = round(result["backup_items_per_s"] / peer["dynamodump_backup_items_per_s"], 2)
        result["restore_vs_dynamodump"] = round(
            result["restore_items_per_s"] / peer["dynamodump_restore_items_per_s"], 2
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
