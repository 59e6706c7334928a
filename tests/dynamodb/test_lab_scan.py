"""The lab's DynamoDB model (parallel Scan, 1 MB pages, capacity, throttling, batch limits), checked directly."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import Tables, item

pytestmark = pytest.mark.lab


def _scan_segment(client: Any, table: str, segment: int, total: int, **extra: Any) -> list[list[dict[str, Any]]]:
    pages = []
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total, **extra}
        if start:
            params["ExclusiveStartKey"] = start
        page = client.scan(**params)
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def test_segments_are_disjoint_page_on_their_own_and_stop_at_1_mb(tables: Tables) -> None:
    tables.simple("big")
    count = tables.load("big", (item(i, pad=4000) for i in range(1400)))  # ~4 KB items: >1 MB per segment
    client = tables.client()
    started = time.perf_counter()
    seen: dict[str, int] = {}
    for segment in range(4):
        pages = _scan_segment(client, "big", segment, 4)
        assert len(pages) >= 2, "a segment of over 1 MB of items pages more than once"
        for page in pages:
            assert sum(len(str(i)) for i in page) < 1_600_000  # about 1 MB of items per page, never the table
        for page in pages:
            for found in page:
                key = found["pk"]["S"] + "/" + found["sk"]["N"]
                assert key not in seen, f"{key} in segments {seen.get(key)} and {segment}"
                seen[key] = segment
    assert len(seen) == count
    assert len(set(seen.values())) == 4  # every segment holds items
    partitions: dict[str, set[int]] = {}
    for key, segment in seen.items():
        partitions.setdefault(key.split("/")[0], set()).add(segment)
    assert all(len(s) == 1 for s in partitions.values()), "one partition key lives in one segment"
    assert time.perf_counter() - started < 15


def test_limit_and_last_evaluated_key_per_segment_and_consumed_capacity(tables: Tables) -> None:
    tables.simple("small")
    tables.load("small", (item(i) for i in range(40)))
    client = tables.client()
    keys = []
    for segment in range(3):
        for page in _scan_segment(client, "small", segment, 3, Limit=3):
            assert len(page) <= 3
            keys += [(i["pk"]["S"], i["sk"]["N"]) for i in page]
    assert len(keys) == len(set(keys)) == 40
    whole = client.scan(TableName="small", ReturnConsumedCapacity="TOTAL", ConsistentRead=True)
    assert whole["Count"] == 40 and "LastEvaluatedKey" not in whole
    units = whole["ConsumedCapacity"]["CapacityUnits"]
    half = client.scan(TableName="small", ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]["CapacityUnits"]
    assert units == 2 * half and units >= 2  # 40 items of ~400 B: more than 4 KB, counted per 4 KB
    order = [(i["pk"]["S"], int(i["sk"]["N"])) for i in whole["Items"]]
    assert order != sorted(order), "AWS returns hash order, not key order"


def test_provisioned_tables_throttle_reads_and_writes(tables: Tables) -> None:
    tables.simple("tiny", rcu=1, wcu=1)
    client = tables.no_retries()
    # burst: 300 write units; a BatchWriteItem beyond them comes back as UnprocessedItems, then the exception
    unprocessed = 0
    throttled = False
    for batch in range(20):
        requests = [{"PutRequest": {"Item": item(batch * 25 + i, pad=1500)}} for i in range(25)]
        try:
            unprocessed += len(
                client.batch_write_item(RequestItems={"tiny": requests})["UnprocessedItems"].get("tiny", [])
            )
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            throttled = True
            break
    assert unprocessed > 0 or throttled
    with pytest.raises(ClientError, match="requestItems"):
        client.batch_write_item(RequestItems={"tiny": [{"PutRequest": {"Item": item(i)}} for i in range(26)]})
    # reads: 300 units of burst, 0.5 per 4 KB: about 2.4 MB of eventually consistent reads, then throttled
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        for _ in range(1000):
            client.scan(TableName="tiny", ConsistentRead=True)


def test_new_items_are_still_limited_to_moto_s_item_size(tables: Tables) -> None:
    tables.simple("sizes", range_key=False)
    client = tables.client()
    client.put_item(TableName="sizes", Item={"pk": {"S": "ok"}, "v": {"S": "x" * 399_000}})
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        client.put_item(
            TableName="sizes", Item={"pk": {"S": "big"}, "a": {"S": "x" * 300_000}, "b": {"B": b"y" * 110_000}}
        )
    assert client.get_item(TableName="sizes", Key={"pk": {"S": "big"}}).get("Item") is None
