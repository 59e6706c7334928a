"""The lab's BatchWriteItem (``models/dynamodb_batch_writes.py``): AWS's checks, all or nothing, through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import Tables, item

pytestmark = pytest.mark.lab


def _count(client: Any, table: str) -> int:
    return sum(page["Count"] for page in client.get_paginator("scan").paginate(TableName=table, Select="COUNT"))


def _refused(client: Any, table: str, requests: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ClientError, match=message) as refused:
        client.batch_write_item(RequestItems={table: requests})
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_duplicate_keys_in_one_batch_are_refused_whole(tables: Tables) -> None:
    tables.simple("dups")
    client = tables.no_retries()
    one, other = item(0), {**item(0), "name": {"S": "another"}}  # the same key, different attributes
    puts = [{"PutRequest": {"Item": item(i)}} for i in range(1, 10)]
    _refused(client, "dups", [*puts, {"PutRequest": {"Item": one}}, {"PutRequest": {"Item": other}}],
             "Provided list of item keys contains duplicates")  # fmt: skip
    key = {"pk": one["pk"], "sk": one["sk"]}
    _refused(client, "dups", [*puts, {"PutRequest": {"Item": one}}, {"DeleteRequest": {"Key": key}}],
             "Provided list of item keys contains duplicates")  # fmt: skip
    assert _count(client, "dups") == 0  # moto alone wrote the first items of such a batch


def test_one_invalid_item_writes_nothing(tables: Tables) -> None:
    tables.simple("whole")
    client = tables.no_retries()
    good = [{"PutRequest": {"Item": item(i)}} for i in range(20)]
    cases = [
        ({**item(99), "sk": {"S": "3"}}, "Type mismatch for key sk expected: N actual: S"),
        ({"pk": {"S": "x"}, "v": {"S": "y"}}, "Missing the key sk in the item"),
        ({**item(99), "pk": {"S": ""}}, "cannot contain an empty string value. Key: pk"),
        ({**item(99), "ns": {"NS": ["1", "1.0"]}}, "contains duplicates"),
        ({**item(99), "big": {"S": "x" * 410_000}}, "Item size has exceeded the maximum allowed size"),
        ({**item(99), "pk": {"S": "k" * 2049}}, "Size of hashkey has exceeded"),
    ]
    for bad, message in cases:
        _refused(client, "whole", [*good[:10], {"PutRequest": {"Item": bad}}, *good[10:]], message)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client.batch_write_item(RequestItems={"whole": good, "missing": [{"PutRequest": {"Item": item(50)}}]})
    assert _count(client, "whole") == 0
    client.batch_write_item(RequestItems={"whole": good})
    assert _count(client, "whole") == 20


def test_index_keys_keep_their_types_and_items_read_back_as_written(tables: Tables) -> None:
    client = tables.client()
    client.create_table(
        TableName="indexed", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "name", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )  # fmt: skip
    _refused(tables.no_retries(), "indexed", [{"PutRequest": {"Item": {**item(1), "name": {"N": "1"}}}}],
             "Type mismatch for Index Key name Expected: S Actual: N IndexName: by-name")  # fmt: skip
    _refused(tables.no_retries(), "indexed", [{"PutRequest": {"Item": {**item(1), "name": {"S": ""}}}}],
             "IndexName: by-name, IndexKey: name")  # fmt: skip
    answer = client.batch_write_item(
        RequestItems={"indexed": [{"PutRequest": {"Item": item(i)}} for i in range(8)]}, ReturnConsumedCapacity="TOTAL"
    )
    assert answer["UnprocessedItems"] == {}
    assert answer["ConsumedCapacity"] == [{"TableName": "indexed", "CapacityUnits": 8.0}]  # < 1 KB each
    assert "ConsumedCapacity" not in client.batch_write_item(
        RequestItems={"indexed": [{"PutRequest": {"Item": item(9)}}]}
    )
    for i in (0, 7, 9):
        got = client.get_item(TableName="indexed", Key={"pk": item(i)["pk"], "sk": item(i)["sk"]}, ConsistentRead=True)
        assert got["Item"] == item(i)
    client.batch_write_item(
        RequestItems={"indexed": [{"DeleteRequest": {"Key": {"pk": item(9)["pk"], "sk": item(9)["sk"]}}}]}
    )
    assert _count(client, "indexed") == 8


def test_unprocessed_items_come_back_as_they_were_sent(tables: Tables) -> None:
    tables.simple("slow", rcu=1, wcu=1)
    client = tables.no_retries()
    sent = [{"PutRequest": {"Item": item(i, pad=3000)}} for i in range(25)]  # 4 units each: 100 of 300 burst units
    unprocessed: list[Any] = []
    for _ in range(4):
        try:
            unprocessed = client.batch_write_item(RequestItems={"slow": sent})["UnprocessedItems"].get("slow", [])
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            break
        if unprocessed:
            break
    if unprocessed:  # binary values as sent (base64 on the wire, bytes again through boto3)
        assert all(request in sent for request in unprocessed)
