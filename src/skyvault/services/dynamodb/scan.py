"""Back up a table's items by parallel Scan into the library, as a tree.

Tree layout (kind ``dynamodb``, source ``<account ID>/<region>/<table>``):

- ``items/<segment, 7 digits>``: the items of one Scan segment (``Segment``/``TotalSegments``), one canonical line
  each (``items.to_line``), sorted by their key attributes; meta: segment, total segments, item count, SHA-256 of
  the content and the segment's order-independent checksum;
- ``schema.json``: the captured schema (``schema.capture``).

The number of segments is sized to the table (about ``SEGMENT_TARGET`` bytes each, a power of two, at least the
number of workers) and kept from the previous backup while the table stays within 4x of that size, so the same
items fall in the same segments again: an unchanged segment is recognised by its SHA-256 and its entry reused from
the previous tree without storing anything; a changed one is cut by content-defined chunking, so only the chunks
around the changes are new.

Reads are paced by a token bucket shared by the workers: a fraction (``--max-read-fraction``) of the table's
provisioned read capacity, or a configured rate for on-demand tables, counted from each page's
``ConsumedCapacity``; each page's ``Limit`` is sized so one page costs about one second of that budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.library.trees import TreeReader
from skyvault.permissions import Feature, declare
from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb.schema import TABLE_ARN, key_names

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from skyvault.aws.clients import DynamoDBClient

KIND = "dynamodb"
SEGMENT_TARGET = 8 * 1024 * 1024
MAX_SEGMENTS = 1_000_000
SCHEMA_KEY = "schema.json"
ITEMS_PREFIX = "items/"

declare(policy="dynamodb", service="dynamodb", operation="Scan", feature=Feature.BACKUP, step="scan items",
        purpose="Read every item, segments in parallel, paced to a fraction of the table's read capacity.",
        resources=(TABLE_ARN,))  # fmt: skip


_RAW = threading.local()


def _raw_items(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's ``before-parse`` hook: while this thread scans (a backup, or the check after a restore), a page's
    items are taken from the response body as they came (typed JSON, binary as base64: the form the library keeps)
    and removed from what botocore parses. botocore's shape-driven parsing of ~1 MB of items is most of a page's
    client time, and the base64 of binary values would only be undone and redone. Other calls, and other threads,
    parse as usual."""
    if not getattr(_RAW, "on", False) or response_dict.get("status_code") != 200:
        return
    body = json.loads(response_dict["body"])
    customized_response_dict["RawItems"] = body.pop("Items", [])
    response_dict["body"] = json.dumps(body).encode()


def _raw_scans(client: DynamoDBClient) -> None:
    client.meta.events.register("before-parse.dynamodb.Scan", _raw_items, unique_id="skyvault-raw-scan-items")


def scan_page(client: DynamoDBClient, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """One Scan page: (the response, its items, whether they are wire JSON (``True``) or botocore-parsed)."""
    _raw_scans(client)
    _RAW.on = True
    try:
        page: dict[str, Any] = dict(client.scan(**params))
    finally:
        _RAW.on = False
    raw: list[dict[str, Any]] | None = page.get("RawItems")
    if raw is not None:
        return page, raw, True
    return page, list(page.get("Items") or []), False


def segment_key(segment: int) -> str:
    return f"{ITEMS_PREFIX}{segment:07d}"


def choose_segments(size_bytes: int, workers: int, previous: int | None) -> int:
    wanted = max(workers, math.ceil(max(size_bytes, 1) / SEGMENT_TARGET))
    wanted = min(MAX_SEGMENTS, 1 << (wanted - 1).bit_length())
    if previous and previous * 4 >= wanted and previous <= wanted * 4 and previous >= 1:
        return previous
    return wanted


class ReadPacer:
    """A token bucket of read units shared by the scan workers: ``rate`` units per second, one second of burst."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()
        self.used = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens > 0:
                    return
                delay = -self.tokens / self.rate
            time.sleep(min(delay, 5.0))

    def spend(self, units: float) -> None:
        with self._lock:
            self.tokens -= units
            self.used += units


@dataclass
class Segment:
    index: int
    lines: list[bytes]
    checksum: int
    sha256: str
    size: int


@dataclass
class ScanOptions:
    workers: int = 4
    read_rate: float = 1000.0  # read units per second for the whole scan
    consistent: bool = False
    average_item_bytes: float = 400.0
    on_page: Callable[[int], None] | None = None


@dataclass
class ScanResult:
    manifest: Manifest
    items: int
    checksum: int
    segments: int
    reused_segments: int
    consumed_read_units: float
    stats: dict[str, Any] = field(default_factory=dict)


def scan_segment(
    client: DynamoDBClient,
    table: str,
    index: int,
    total: int,
    keys: list[str],
    pacer: ReadPacer,
    options: ScanOptions,
) -> Segment:
    rows: list[tuple[bytes, bytes]] = []
    limit = max(1, int(pacer.rate * 4096 / (0.5 if not options.consistent else 1.0) / options.average_item_bytes))
    params: dict[str, Any] = {
        "TableName": table,
        "Segment": index,
        "TotalSegments": total,
        "ConsistentRead": options.consistent,
        "ReturnConsumedCapacity": "TOTAL",
        "Limit": min(limit, 10_000),
    }
    while True:
        pacer.wait()
        page, raw, wire = scan_page(client, params)
        pacer.spend(float((page.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0.5))
        if wire:
            rows.extend((codec.wire_sort_key(item, keys), codec.wire_line(item)) for item in raw)
        else:  # no hook (another client type): botocore parsed them
            rows.extend((codec.sort_key(item, keys), codec.to_line(item)) for item in raw)
        if options.on_page is not None:
            options.on_page(len(raw))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        params["ExclusiveStartKey"] = start
    rows.sort()
    lines = [line for _, line in rows]
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
    return Segment(index, lines, codec.checksum(lines), digest.hexdigest(), sum(len(x) for x in lines))


def backup_items(
    repo: Repository,
    client: DynamoDBClient,
    executor: ThreadPoolExecutor,
    *,
    source: str,
    schema: dict[str, Any],
    parent: Manifest | None,
    options: ScanOptions,
    meta: dict[str, Any],
) -> ScanResult:
    started = time.perf_counter()
    table = str(schema["table_name"])
    keys = key_names(schema)
    parent_reader = TreeReader(repo, parent) if parent is not None else None
    previous_total = int((parent.meta or {}).get("total_segments") or 0) if parent is not None else 0
    total = choose_segments(int(schema.get("size_bytes") or 0), options.workers, previous_total or None)
    pacer = ReadPacer(options.read_rate)
    writer = repo.open_tree_writer(KIND, source, parent=parent)
    window = max(2, options.workers * 2)
    futures: dict[int, Future[Segment]] = {}
    submitted = 0
    item_count = 0
    table_sum = 0
    reused = 0
    try:
        for index in range(total):
            while submitted < total and submitted < index + window:
                futures[submitted] = executor.submit(
                    scan_segment, client, table, submitted, total, keys, pacer, options
                )
                submitted += 1
            segment = futures.pop(index).result()
            item_count += len(segment.lines)
            table_sum = (table_sum + segment.checksum) % codec.MOD
            key = segment_key(index)
            entry_meta = {
                "segment": index,
                "total_segments": total,
                "items": len(segment.lines),
                "sha256": segment.sha256,
                "checksum": f"{segment.checksum:032x}",
            }
            old = parent_reader.get(key) if parent_reader is not None else None
            if old is not None and old.meta == entry_meta:
                writer.add_entry(old)
                reused += 1
            else:
                writer.add(key, entry_meta, iter(segment.lines) if segment.lines else b"")
            segment.lines = []
        schema_bytes = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
        old_schema = parent_reader.get(SCHEMA_KEY) if parent_reader is not None else None
        schema_meta = {"sha256": hashlib.sha256(schema_bytes).hexdigest()}
        if old_schema is not None and old_schema.meta == schema_meta:
            writer.add_entry(old_schema)
        else:
            writer.add(SCHEMA_KEY, schema_meta, schema_bytes)
        manifest = writer.commit(
            meta={
                **meta,
                "table": table,
                "items": item_count,
                "checksum": f"{table_sum:032x}",
                "total_segments": total,
                "key_attributes": keys,
            }
        )
    except BaseException:
        for future in futures.values():
            future.cancel()
        raise
    duration = time.perf_counter() - started
    stats: dict[str, Any] = {
        **manifest.stats,
        "items": item_count,
        "segments": total,
        "reused_segments": reused,
        "consumed_read_units": round(pacer.used, 1),
        "duration_s": round(duration, 3),
        "items_per_s": round(item_count / duration, 1) if duration > 0 else None,
        "library_snapshot": manifest.id,
        "parent_snapshot": manifest.parent,
    }
    return ScanResult(manifest, item_count, table_sum, total, reused, pacer.used, stats)
