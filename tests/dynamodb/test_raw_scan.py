"""A backup's pages skip botocore's parsing of items (``before-parse``) and give the same canonical lines."""

from __future__ import annotations

import pytest

from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb import scan

from .conftest import REGION, TENANT, Tables, item

pytestmark = pytest.mark.lab


def test_raw_pages_give_the_lines_of_parsed_pages(tables: Tables) -> None:
    tables.simple("raw")
    tables.load("raw", (item(i) for i in range(60)))
    client = tables.env.factory().client(TENANT, REGION, "dynamodb")
    scan._raw_scans(client)
    parsed = client.scan(TableName="raw")
    assert "RawItems" not in parsed  # the hook is off outside a backup's scan
    scan._RAW.on = True
    try:
        raw = client.scan(TableName="raw")
    finally:
        scan._RAW.on = False
    assert "Items" not in raw and len(raw["RawItems"]) == 60
    assert isinstance(raw["RawItems"][0]["blob"]["B"], str)  # base64 as on the wire
    keys = ["pk", "sk"]
    assert sorted(codec.wire_line(i) for i in raw["RawItems"]) == sorted(codec.to_line(i) for i in parsed["Items"])
    assert sorted(codec.wire_sort_key(i, keys) for i in raw["RawItems"]) == sorted(
        codec.sort_key(i, keys) for i in parsed["Items"]
    )
