"""The BatchWriteItem model's checks of attribute values and sizes, and the scan model's exact copies of moto's item
measure and JSON, without a lab (pure functions; moto's types are only built, never patched, here)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skyvault.lab.models.dynamodb_batch_writes import BatchError, attributes_of, value_of

ITEM: dict[str, Any] = {
    "pk": {"S": "user-1"},
    "sk": {"N": "3"},
    "name": {"S": "naïve"},
    "n": {"N": "-12.50"},
    "blob": {"B": "AAEC/w=="},
    "tags": {"SS": ["b", "a"]},
    "scores": {"NS": ["1", "-1", "1e-3"]},
    "bins": {"BS": ["AA==", "AQ=="]},
    "meta": {"M": {"a": {"L": [{"N": "1"}, {"S": "two"}, {"NULL": True}]}, "ok": {"BOOL": False}}},
    "empty": {"S": ""},
}


def test_a_valid_item_is_converted_as_moto_s_parser_would_and_measured_as_aws_does() -> None:
    attrs, size = attributes_of(ITEM)
    assert attrs["blob"] == {"B": b"\x00\x01\x02\xff"}
    assert attrs["bins"] == {"BS": [b"\x00", b"\x01"]}
    assert attrs["meta"] == ITEM["meta"] and attrs["scores"] == ITEM["scores"]
    # names + values: strings and binary their bytes, numbers (digits / 2 rounded up) + 1, NULL/BOOL 1, a map or
    # list 3 + its elements + 1 each
    expected = (
        2 + 6  # pk
        + 2 + 2  # sk: 1 digit
        + 4 + 6  # name: "naïve" is 6 bytes
        + 1 + 3  # n: "-12.50" has 3 significant digits (the trailing zero is trimmed) -> 2 + 1
        + 4 + 4  # blob
        + 4 + 2  # tags
        + 6 + (2 + 2 + 2)  # scores
        + 4 + 2  # bins
        + 4 + (3 + (1 + (3 + 2 + 3 + 1 + 3) + 1) + (2 + 1 + 1))  # meta
        + 5 + 0  # empty string: allowed outside keys
    )  # fmt: skip
    assert size == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "Supplied AttributeValue is empty"),
        ({"S": "a", "N": "1"}, "more than one datatypes"),
        ({"N": "12a"}, "cannot be converted into a number"),
        ({"N": "1" * 39}, "more than 38 significant digits"),
        ({"N": "1E126"}, "Number overflow"),
        ({"N": "1E-131"}, "Number underflow"),
        ({"SS": []}, "An string set  may not be empty"),
        ({"SS": ["a", "a"]}, "contains duplicates"),
        ({"NS": ["1000", "1e3"]}, "contains duplicates"),  # equal numbers: one member
        ({"BS": ["AA==", "AA=="]}, "contains duplicates"),
        ({"NULL": False}, "Null attribute value types must have the value of true"),
        ({"M": {"x": {"L": [{"SS": []}]}}}, "may not be empty"),  # checked however deep
    ],
)
def test_values_aws_refuses_are_refused(value: dict[str, Any], message: str) -> None:
    with pytest.raises(BatchError, match=message) as refused:
        value_of(value)
    assert refused.value.kind == "ValidationException"


@pytest.mark.parametrize("value", [{"X": "1"}, {"S": 5}, {"B": "not base64!"}, {"BOOL": "yes"}, {"L": {}}])
def test_values_that_are_not_attribute_values_are_serialization_errors(value: dict[str, Any]) -> None:
    with pytest.raises(BatchError) as refused:
        value_of(value)
    assert refused.value.kind == "SerializationException"


def test_the_scan_model_measures_and_encodes_items_exactly_as_moto() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.utilities import dynamo_json_dump

    from skyvault.lab.models.dynamodb_scan import item_size, wire_value

    attrs, _ = attributes_of(ITEM)
    item = Item(DynamoType(attrs["pk"]), DynamoType(attrs["sk"]), attrs)
    assert item_size(item) == item.size()
    ours = {name: wire_value(value) for name, value in item.attrs.items()}
    assert json.dumps(ours, sort_keys=True) == json.dumps(json.loads(dynamo_json_dump(item.attrs)), sort_keys=True)
    assert ours["blob"] == ITEM["blob"] and ours["bins"] == ITEM["bins"]


def test_a_request_over_16_mb_or_25_requests_or_without_requests_is_refused() -> None:
    from skyvault.lab.models.dynamodb_batch_writes import MAX_REQUEST_BYTES, _request_items

    put = {"PutRequest": {"Item": {"pk": {"S": "a"}}}}
    assert _request_items({"RequestItems": {"t": [put] * 25}}, MAX_REQUEST_BYTES)
    with pytest.raises(BatchError, match="16777216"):
        _request_items({"RequestItems": {"t": [put]}}, MAX_REQUEST_BYTES + 1)
    with pytest.raises(BatchError, match="less than or equal to 25"):
        _request_items({"RequestItems": {"t": [put] * 13, "u": [put] * 13}}, 100)
    empties: list[dict[str, Any]] = [{}, {"RequestItems": {}}, {"RequestItems": {"t": []}}]
    for empty in empties:
        with pytest.raises(BatchError):
            _request_items(empty, 100)
