"""The restore's BatchWriteItem bodies, built from the library's lines, are the requests botocore would send."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.serialize import create_serializer

from skyvault.errors import LibraryCorruptError
from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb.restore import batch_body

from .conftest import item


def test_a_body_from_lines_is_botocore_s_serialisation_of_the_items() -> None:
    model = botocore.session.get_session().get_service_model("dynamodb").operation_model("BatchWriteItem")
    items = [item(i) for i in range(25)]
    lines = [codec.to_line(one) for one in items]
    params = {"RequestItems": {"tâble-1": [{"PutRequest": {"Item": codec.from_line(line)}} for line in lines]}}
    expected = json.loads(create_serializer("json").serialize_to_request(params, model)["body"])
    assert json.loads(batch_body("tâble-1", lines)) == expected
    assert json.loads(batch_body("t", [lines[0].rstrip(b"\n")]))["RequestItems"]["t"][0]["PutRequest"] == json.loads(
        lines[0]
    )  # the last line of a segment may come without its newline


def test_a_line_that_is_not_an_item_is_refused() -> None:
    with pytest.raises(LibraryCorruptError):
        batch_body("t", [b'{"Other":{}}\n'])
