"""Lab model: DynamoDB parallel Scan, its 1 MB pages and consumed capacity, read and write throttling, batch limits.

What AWS does (DynamoDB Developer Guide, "Scanning tables", https://docs.aws.amazon.com/amazondynamodb/latest/
developerguide/Scan.html, "Parallel scan" and "Pagination"; API Reference "Scan", https://docs.aws.amazon.com/
amazondynamodb/latest/APIReference/API_Scan.html; "Read/write capacity mode", https://docs.aws.amazon.com/
amazondynamodb/latest/developerguide/HowItWorks.ReadWriteCapacityMode.html; "Burst capacity",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html; API Reference
"BatchWriteItem", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html):

- ``Segment``/``TotalSegments`` split the table into disjoint segments (by the partition key's hash: every item of a
  partition key is in one segment); each segment pages on its own with its own ``LastEvaluatedKey``. Items come in
  the service's internal (hash) order, not in key order.
- A page holds at most 1 MB of items (and at most ``Limit`` items); ``LastEvaluatedKey`` is returned when the page
  stopped on either limit, so a page may end exactly at the end of the segment and the next one be empty.
- Scan consumes read capacity for the size of what it read, rounded up to 4 KB: 0.5 unit per 4 KB eventually
  consistent, 1 per 4 KB strongly consistent (``ReturnConsumedCapacity`` reports it).
- A provisioned table serves its read/write capacity per second and keeps up to 300 s of unused capacity as burst;
  beyond that requests fail with ``ProvisionedThroughputExceededException`` (and a ``BatchWriteItem`` whose items
  are partly throttled returns them as ``UnprocessedItems``).
- ``BatchWriteItem`` takes at most 25 put or delete requests.

What moto 5.2.1 does: disjoint segments (md5 of the key) but every page walks, sorts and deep-copies the whole table,
so a 5,000-item page costs seconds; items come sorted by key; ``ConsumedCapacity`` is always 1.0; nothing is ever
throttled; ``BatchWriteItem`` takes any number of requests and never returns ``UnprocessedItems``.

What the lab does: a table Scan (answered as JSON directly, not through moto's shape-driven serializer, which takes
seconds per 1 MB page) (no index, no filter, no projection: those still go to moto) serves from a
per-table cache of segments rebuilt only after a write (the cache counts puts and deletes), so a page costs its own
items. Segments are contiguous ranges of a 64-bit hash of the partition key; within a segment items are ordered by
that hash, then by key. Pages stop at 1 MB (item sizes as moto measures them) or ``Limit``. ``ConsumedCapacity``
is computed as above. Provisioned tables get a read and a write token bucket (rate: the provisioned units per second,
burst: 300 s of them, full at creation); a Scan on an empty read bucket fails with
``ProvisionedThroughputExceededException``; a BatchWriteItem writes what the write bucket covers (1 unit per 1 KB
of item, rounded up) and returns the rest as ``UnprocessedItems`` (all of it throttled: the exception): that is
served by the ``dynamodb_batch_writes`` model, with this model's buckets (``_bucket``, ``_LOCK``) and cache version
(``_VERSION``).

Not modelled: adaptive capacity and per-partition limits, on-demand throttling (on-demand tables are never throttled
here), throttling of GetItem/Query/PutItem, and GSI write capacity.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import importlib
import math
import threading
import time
from base64 import b64decode
from decimal import Decimal
from typing import Any

PAGE_LIMIT = 1_000_000  # the 1 MB page limit (moto's RESULT_SIZE_LIMIT: sizes as moto measures them)
BURST_SECONDS = 300.0
ITEM_LIMIT = 405_000  # moto's item size limit (AWS: 400 KB; moto measured 409-410 KB and chose this)
_CACHE = "_skyvault_scan_cache"
_VERSION = "_skyvault_scan_version"
_BUCKETS = "_skyvault_buckets"
_LOCK = threading.Lock()
_applied = False


def _hash64(value: Any) -> int:
    """The partition key's position in the hash space (type and value: N 1 and S "1" differ)."""
    return int.from_bytes(hashlib.md5(f"{value.type}:{value.value}".encode()).digest()[:8], "big")


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if value.type == "N":
        return (1, Decimal(value.value))
    if value.type == "B":
        raw = value.value
        return (3, raw if isinstance(raw, bytes) else b64decode(raw))
    return (2, value.value)


def value_size(value: Any) -> int:
    """moto's ``DynamoType.size()``, the same number, without the objects it builds for every set member and map
    value (measuring a table's items for the 1 MB pages was most of a verification scan's lab time)."""
    kind, raw = value.type, value.value
    if kind == "N":
        return len(str(raw))
    if kind == "NS":
        return sum(len(str(member)) for member in raw)
    if kind in ("SS", "BS"):
        return sum(len(member if isinstance(member, bytes) else member.encode("utf-8")) for member in raw)
    if kind == "L":
        return sum(value_size(member) for member in raw)
    if kind == "M":
        return sum(len(name.encode("utf-8")) + value_size(member) for name, member in raw.items())
    if isinstance(raw, bool):
        return 1
    return len(raw if isinstance(raw, bytes) else raw.encode("utf-8"))


def item_size(item: Any) -> int:
    """moto's ``Item.size()``."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.attrs.items())


def wire_value(value: Any) -> dict[str, Any]:
    """What moto's ``dynamo_json_dump`` writes for a ``DynamoType`` (binary as base64), as plain JSON values, so that
    a page is encoded by the C encoder rather than one Python ``default()`` call per attribute and member."""
    kind, raw = value.type, value.value
    if kind == "B" and isinstance(raw, bytes):
        return {"B": base64.b64encode(raw).decode("utf-8")}
    if kind == "BS":
        return {"BS": [base64.b64encode(m).decode("utf-8") if isinstance(m, bytes) else m for m in raw]}
    if kind == "L":
        return {"L": [wire_value(member) for member in raw]}
    if kind == "M":
        return {"M": {name: wire_value(member) for name, member in raw.items()}}
    return {kind: raw}


def segment_of(hash_value: Any, total: int) -> int:
    return (_hash64(hash_value) * total) >> 64


class _Segments:
    """One table's items split into ``total`` segments, each a list ordered by (hash, key)."""

    def __init__(self, table: Any, total: int) -> None:
        self.total = total
        rows: list[list[tuple[tuple[Any, ...], Any]]] = [[] for _ in range(total)]
        for partition in table.items.values():
            members = list(partition.values()) if table.range_key_attr else [partition]
            for item in members:
                order = (_hash64(item.hash_key), _sortable(item.hash_key), _sortable(item.range_key))
                rows[(order[0] * total) >> 64].append((order, item))
        for row in rows:
            row.sort(key=lambda pair: pair[0])
        self.orders = [[order for order, _ in row] for row in rows]
        self.items = [[item for _, item in row] for row in rows]
        self.sizes = [[item_size(item) for item in row] for row in self.items]


def _segments(table: Any, total: int) -> _Segments:
    version = getattr(table, _VERSION, 0)
    with _LOCK:
        cached = getattr(table, _CACHE, None)
        if cached is not None and cached[0] == version and total in cached[1]:
            return cached[1][total]  # type: ignore[no-any-return]
        built = _Segments(table, total)
        by_total = cached[1] if cached is not None and cached[0] == version else {}
        by_total[total] = built
        setattr(table, _CACHE, (version, by_total))
        return built


class _Bucket:
    """A token bucket: ``rate`` units per second, holding at most ``BURST_SECONDS`` of them (full when made)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate * BURST_SECONDS
        self.at = time.monotonic()

    def refill(self, rate: float) -> None:
        now = time.monotonic()
        self.rate = rate
        self.tokens = min(rate * BURST_SECONDS, self.tokens + (now - self.at) * rate)
        self.at = now


def _provisioned(table: Any, which: str) -> float | None:
    if table.billing_mode == "PAY_PER_REQUEST":
        return None
    units = float((table.throughput or {}).get(which) or 0)
    return units if units > 0 else None


def _bucket(table: Any, which: str) -> _Bucket | None:
    rate = _provisioned(table, which)
    if rate is None:
        return None
    buckets: dict[str, _Bucket] = table.__dict__.setdefault(_BUCKETS, {})
    bucket = buckets.get(which)
    if bucket is None:
        bucket = buckets[which] = _Bucket(rate)
    bucket.refill(rate)
    return bucket


def _item_key(table: Any, item: Any) -> dict[str, Any]:
    key = {table.hash_key_attr: item.hash_key.to_json()}
    if table.range_key_attr is not None and item.range_key is not None:
        key[table.range_key_attr] = item.range_key.to_json()
    return key


def _start_order(table: Any, start: dict[str, Any], dynamo_type: Any) -> tuple[Any, ...]:
    hash_value = dynamo_type(start[table.hash_key_attr])
    range_raw = start.get(table.range_key_attr) if table.range_key_attr else None
    range_value = dynamo_type(range_raw) if range_raw is not None else None
    return (_hash64(hash_value), _sortable(hash_value), _sortable(range_value))


def apply() -> None:
    global _applied
    if _applied:
        return
    responses: Any = importlib.import_module("moto.dynamodb.responses")
    table_module: Any = importlib.import_module("moto.dynamodb.models.table")
    dynamo_type: Any = importlib.import_module("moto.dynamodb.models.dynamo_type").DynamoType
    errors: Any = importlib.import_module("moto.dynamodb.exceptions")
    dynamo_json_dump: Any = importlib.import_module("moto.dynamodb.models.utilities").dynamo_json_dump
    handler_class = responses.DynamoHandler
    table_class = table_module.Table

    def throttled(message: str) -> Exception:
        error: Exception = errors.DynamodbException(
            errors.ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException", message
        )
        return error

    for name in ("put_item", "delete_item"):
        original = getattr(table_class, name)

        def counted(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            result = __original(self, *args, **kwargs)
            setattr(self, _VERSION, getattr(self, _VERSION, 0) + 1)
            return result

        setattr(table_class, name, counted)

    original_scan = handler_class.scan

    def scan(self: Any) -> Any:
        body = self.body
        if any(body.get(k) for k in ("IndexName", "ScanFilter", "FilterExpression", "ProjectionExpression")) or (
            body.get("Select") not in (None, "ALL_ATTRIBUTES")
        ):
            return original_scan(self)
        segment, total = body.get("Segment"), body.get("TotalSegments")
        if (segment is None) != (total is None):
            return original_scan(self)  # moto's own validation error
        if total is not None and not (1 <= int(total) <= 1_000_000 and 0 <= int(segment) < int(total)):
            return original_scan(self)
        table = self.dynamodb_backend.get_table(body["TableName"])
        consistent = bool(body.get("ConsistentRead"))
        bucket = _bucket(table, "ReadCapacityUnits")
        with _LOCK:
            if bucket is not None and bucket.tokens <= 0:
                raise throttled(
                    "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
                    "your provisioning level with the UpdateTable API."
                )
        segments = _segments(table, int(total or 1))
        index = int(segment or 0)
        orders, items, sizes = segments.orders[index], segments.items[index], segments.sizes[index]
        start = body.get("ExclusiveStartKey")
        position = bisect.bisect_right(orders, _start_order(table, start, dynamo_type)) if start else 0
        limit = body.get("Limit")
        page: list[Any] = []
        size = 0
        stopped = False
        while position < len(items):
            item, item_size = items[position], sizes[position]
            if (limit is not None and len(page) >= int(limit)) or (page and size + item_size > PAGE_LIMIT):
                stopped = True
                break
            page.append(item)
            size += item_size
            position += 1
        if not stopped and limit is not None and len(page) >= int(limit) and page:
            stopped = True  # AWS: a page that filled its Limit carries LastEvaluatedKey even at the segment's end
        units = math.ceil(size / 4096) * (1.0 if consistent else 0.5) or 0.5
        if bucket is not None:
            with _LOCK:
                bucket.tokens -= units
        result: dict[str, Any] = {
            "Count": len(page),
            "ScannedCount": len(page),
            "Items": [{name: wire_value(value) for name, value in item.attrs.items()} for item in page],
        }
        if stopped and page:
            result["LastEvaluatedKey"] = _item_key(table, page[-1])
        if body.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            result["ConsumedCapacity"] = {"TableName": table.name, "CapacityUnits": units}
            if body.get("ReturnConsumedCapacity") == "INDEXES":
                result["ConsumedCapacity"]["Table"] = {"CapacityUnits": units}
        # JSON straight away: moto's shape-driven serializer takes seconds for a 1 MB page.
        return dynamo_json_dump(result)

    handler_class.scan = scan

    # A new item's size is checked once, not re-measured in full for every attribute (moto's LimitedSizeDict sums
    # the whole item on each assignment: ~3 ms per 11-attribute item). Same limit, same error; updates of existing
    # items keep moto's check.
    type_module: Any = importlib.import_module("moto.dynamodb.models.dynamo_type")
    limited = type_module.LimitedSizeDict
    bytesize: Any = importlib.import_module("moto.dynamodb.models.utilities").bytesize

    def init_item(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: dynamo_type(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_LIMIT:
            raise type_module.ItemSizeTooLarge
        self.attrs = limited()
        dict.update(self.attrs, values)

    type_module.Item.__init__ = init_item
    _applied = True
