"""Restore a DynamoDB recovery point: a scan point from the library (items written with BatchWriteItem), or a
native point with RestoreTableFromBackup.

Library restore:
1. the target (``--table-name``, default the source's name) is looked up: missing -> created with the captured
   schema (keys, billing mode and throughput, GSIs, LSIs, stream, SSE, class, deletion protection, tags) and waited
   for until ACTIVE, then TTL and point-in-time recovery are turned back on; existing and empty -> written into;
   existing with items -> refused unless confirmed (``--yes``), before anything is written;
2. items are read from the library segment by segment and written 25 per BatchWriteItem by parallel writers, each
   request's body made from the library's lines as they are (they are already the wire form of the items);
   UnprocessedItems are retried with exponential backoff and jitter (the table's write capacity, or throttling);
3. the table is scanned back and its item count and order-independent checksum compared with the backup's (into
   a table that already held items, only the restored keys are compared).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import queue
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from skyvault.errors import ConfirmationRequiredError, ConflictError, LibraryCorruptError, ThrottledError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import TreeReader
from skyvault.permissions import Feature, declare
from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb import schema as schemas
from skyvault.services.dynamodb.scan import ITEMS_PREFIX, scan_page
from skyvault.services.dynamodb.schema import TABLE_ARN

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import WriteRequestTypeDef

    from skyvault.aws.clients import DynamoDBClient

BATCH = 25
MAX_BACKOFF_S = 8.0
RETRY_LIMIT = 60  # attempts for one batch that keeps coming back unprocessed (about 7 minutes of backoff)

declare(policy="dynamodb", service="dynamodb", operation="BatchWriteItem", feature=Feature.RESTORE,
        step="write items", purpose="Write the restored items, 25 per request, retrying unprocessed ones.",
        resources=(TABLE_ARN,))  # fmt: skip
declare(policy="dynamodb", service="dynamodb", operation="Scan", feature=Feature.RESTORE, step="verify",
        purpose="Check the target is empty before writing, then count and checksum the restored items.",
        resources=(TABLE_ARN,))  # fmt: skip


def is_empty(client: DynamoDBClient, table: str) -> bool:
    start: dict[str, Any] | None = None
    while True:  # a page may be empty with more to come (Limit 1 over a filtered/deleted range)
        params: dict[str, Any] = {"TableName": table, "Limit": 1}
        if start:
            params["ExclusiveStartKey"] = start
        page = client.scan(**params)
        if page.get("Items"):
            return False
        start = page.get("LastEvaluatedKey")
        if not start:
            return True


def prepare_target(client: DynamoDBClient, schema: dict[str, Any], table: str, *, confirmed: bool) -> dict[str, Any]:
    """Create the table (or accept an existing one); returns how (``created``, ``was_empty``)."""
    existing = schemas.describe(client, table)
    if existing is not None:
        empty = is_empty(client, table)
        if not empty and not confirmed:
            raise ConfirmationRequiredError(
                f"table {table} exists and holds items; restoring would write over items with the same keys; "
                "nothing was written",
                hint="add --yes to write into it anyway, or restore with --table-name NEW",
            )
        key = [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in existing["KeySchema"]]
        if sorted(key, key=str) != sorted(schema["key_schema"], key=str):
            raise ConflictError(
                f"table {table} has key schema {key}, the backup {schema['key_schema']}; nothing was written",
                hint="restore with --table-name NEW",
            )
        schemas.wait_active(client, table)
        return {"created": False, "was_empty": empty}
    client.create_table(**schemas.create_params(schema, table))
    schemas.wait_active(client, table)
    restore_settings(client, schema, table)
    return {"created": True, "was_empty": True}


def restore_settings(client: DynamoDBClient, schema: dict[str, Any], table: str) -> None:
    if schema.get("ttl_attribute"):
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl_attribute"]}
        )
    if schema.get("pitr"):
        client.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def read_lines(repo: Repository, manifest: Manifest) -> Iterator[bytes]:
    reader = TreeReader(repo, manifest)
    for entry in reader.entries(ITEMS_PREFIX):
        count = 0
        for line in codec.split_lines(reader.read(entry)):
            count += 1
            yield line
        if count != int(entry.meta.get("items", count)):
            raise LibraryCorruptError(f"segment {entry.key} holds {count} items, its entry says {entry.meta['items']}")


_WIRE = threading.local()


def _wire_body(params: dict[str, Any], **_: Any) -> None:
    """botocore's ``before-call`` hook: while this thread writes a batch, the request's body is the one it built from
    the library's lines (before signing, so the signature covers it). Other calls and threads are untouched."""
    body = getattr(_WIRE, "body", None)
    if body is not None:
        params["body"] = body


def _wire_unprocessed(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's ``before-parse`` hook: the ``UnprocessedItems`` of a batch this thread sent, kept as they came (wire
    JSON, binary as base64) so they are sent again as they are, and removed from what botocore parses."""
    if getattr(_WIRE, "body", None) is None or response_dict.get("status_code") != 200:
        return
    body = json.loads(response_dict["body"] or b"{}")
    customized_response_dict["RawUnprocessed"] = body.pop("UnprocessedItems", None) or {}
    response_dict["body"] = json.dumps(body).encode()


def _wire_writes(client: DynamoDBClient) -> None:
    events = client.meta.events
    events.register("before-call.dynamodb.BatchWriteItem", _wire_body, unique_id="skyvault-wire-batch-body")
    events.register("before-parse.dynamodb.BatchWriteItem", _wire_unprocessed, unique_id="skyvault-wire-unprocessed")


def batch_body(table: str, lines: list[bytes]) -> bytes:
    """A BatchWriteItem request body (DynamoDB JSON) putting the items of these library lines.

    A line is ``{"Item":{...}}`` in the low-level API's typed form with binary as base64: the wire form of an item,
    so a ``PutRequest`` is the line itself inside ``{"PutRequest":...}``: no item is decoded, checked by botocore
    against the API model and encoded again (that was most of the restore's client CPU). The lines are the ones the
    library authenticated and the write's checksum covers."""
    requests = []
    for line in lines:
        item = line.rstrip(b"\n")
        if not (item.startswith(b'{"Item":{') and item.endswith(b"}")):
            raise LibraryCorruptError("an item line of the library is not a DynamoDB JSON item")
        requests.append(b'{"PutRequest":' + item + b"}")
    name = json.dumps(table).encode()
    return b'{"RequestItems":{' + name + b":[" + b",".join(requests) + b"]}}"


# What botocore validates and serialises in place of the real items (the hook replaces the body before signing).
_PLACEHOLDER: list[WriteRequestTypeDef] = [{"PutRequest": {"Item": {}}}]


def _write_batch(client: DynamoDBClient, table: str, lines: list[bytes], stats: dict[str, int]) -> None:
    _wire_writes(client)
    body: bytes | None = batch_body(table, lines)
    attempt = 0
    while body is not None:
        unprocessed: dict[str, Any] = {}
        _WIRE.body = body
        try:
            with contextlib.suppress(ThrottledError):  # throttled: nothing written, the same batch after a pause
                response: dict[str, Any] = dict(client.batch_write_item(RequestItems={table: _PLACEHOLDER}))
                unprocessed = response.get("RawUnprocessed") or {}
                body = None
        finally:
            _WIRE.body = None
        if unprocessed:
            body = json.dumps({"RequestItems": unprocessed}, separators=(",", ":")).encode()
        if body is not None:
            attempt += 1
            stats["retries"] += 1
            if attempt > RETRY_LIMIT:
                left = len(unprocessed.get(table, [])) or len(lines)
                raise ThrottledError(
                    f"table {table} kept {left} items unprocessed after {RETRY_LIMIT} attempts",
                    hint="raise the table's write capacity (or use on-demand) and restore again with --yes",
                )
            time.sleep(random.uniform(0, min(MAX_BACKOFF_S, 0.05 * 2**attempt)))


def write_items(
    client: DynamoDBClient, table: str, lines: Iterator[bytes], *, workers: int, progress: Any = None
) -> dict[str, Any]:
    """Write every item; returns the count, the checksum of what was written and the retries."""
    started = time.perf_counter()
    batches: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=workers * 4)
    stats = {"items": 0, "retries": 0}
    failure: list[BaseException] = []
    lock = threading.Lock()
    total = 0
    written = 0

    def writer() -> None:
        nonlocal written
        local = {"items": 0, "retries": 0}
        while (batch := batches.get()) is not None:
            if failure:
                continue
            try:
                _write_batch(client, table, batch, local)
                with lock:
                    written += len(batch)
                    done = written
                if progress is not None:
                    progress(done)
            except BaseException as exc:
                failure.append(exc)
        with lock:
            stats["retries"] += local["retries"]

    checksum = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb-restore") as pool:
        # each writer in a copy of the caller's context: its AWS calls count for the job (as the job's executors do)
        threads = [pool.submit(contextvars.copy_context().run, writer) for _ in range(workers)]
        try:
            batch: list[bytes] = []
            for line in lines:
                if failure:
                    break
                checksum = (checksum + codec.line_digest(line)) % codec.MOD
                batch.append(line)
                total += 1
                if len(batch) == BATCH:
                    batches.put(batch)
                    batch = []
            if batch and not failure:
                batches.put(batch)
        finally:
            for _ in threads:
                batches.put(None)
    if failure:
        raise failure[0]
    duration = time.perf_counter() - started
    return {
        "items": total,
        "checksum": f"{checksum:032x}",
        "write_retries": stats["retries"],
        "write_s": round(duration, 3),
        "write_items_per_s": round(total / duration, 1) if duration > 0 else None,
    }


def _scan_all(
    client: DynamoDBClient, table: str, workers: int, consistent: bool, keys: list[str]
) -> Iterator[tuple[bytes, bytes]]:
    """(sort key, canonical line) of every item, segments scanned in parallel."""

    def segment(index: int) -> list[tuple[bytes, bytes]]:
        found: list[tuple[bytes, bytes]] = []
        params: dict[str, Any] = {"TableName": table, "Segment": index, "TotalSegments": workers,
                                  "ConsistentRead": consistent}  # fmt: skip
        while True:
            page, items, wire = scan_page(client, params)
            if wire:
                found.extend((codec.wire_sort_key(i, keys), codec.wire_line(i)) for i in items)
            else:
                found.extend((codec.sort_key(i, keys), codec.to_line(i)) for i in items)
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb-verify") as pool:
        futures = [pool.submit(contextvars.copy_context().run, segment, i) for i in range(workers)]
        for future in futures:
            yield from future.result()


def verify(
    client: DynamoDBClient,
    table: str,
    *,
    keys: list[str],
    expected_items: int,
    expected_checksum: str,
    was_empty: bool,
    restored_keys: set[bytes] | None,
    workers: int,
) -> dict[str, Any]:
    """Scan the table back (strongly consistent) and compare with the backup."""
    count = 0
    total = 0
    extra = 0
    for key, line in _scan_all(client, table, workers, True, keys):
        if not was_empty and restored_keys is not None and key not in restored_keys:
            extra += 1
            continue
        count += 1
        total = (total + codec.line_digest(line)) % codec.MOD
    checksum = f"{total:032x}"
    if count != expected_items or checksum != expected_checksum:
        raise LibraryCorruptError(
            f"restored table {table} does not match the backup: {count} items (expected {expected_items}), "
            f"checksum {checksum} (expected {expected_checksum})",
            hint="items may have been changed by another writer during the restore; restore again with --yes",
        )
    return {"verified_items": count, "verified_checksum": checksum, "other_items": extra}
