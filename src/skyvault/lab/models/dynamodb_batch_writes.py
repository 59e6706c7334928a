"""Model: DynamoDB BatchWriteItem, validated as strictly as AWS and applied all or nothing, on a lean path.

What AWS does (API Reference "BatchWriteItem", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/
API_BatchWriteItem.html; "AttributeValue", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/
API_AttributeValue.html; Developer Guide "Supported data types and naming rules", https://docs.aws.amazon.com/
amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html; "Item sizes and formats",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html; "Quotas",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html):

- "DynamoDB rejects the entire batch write operation" (nothing is written) when a table does not exist, when the
  primary key attributes of an item do not match the table's key schema, when the request holds two operations on
  the same item ("Provided list of item keys contains duplicates": two puts, or a put and a delete, of one key),
  when there are more than 25 requests, when any item exceeds 400 KB, when the whole request exceeds 16 MB, or when a
  key exceeds its length limit (partition key 2048 bytes, sort key 1024 bytes).
- An attribute value holds exactly one data type (S, N, B, SS, NS, BS, M, L, NULL, BOOL); a key attribute (of the
  table or of a secondary index) must have its defined scalar type and may not be an empty string or binary; a set
  is never empty and holds no duplicates; a number has at most 38 significant digits, magnitude from 1E-130 to
  9.9999999999999999999999999999999999999E+125; NULL is only ``true``.
- An item's size is the sum of its attribute names' and values' sizes (strings and binary: their bytes; numbers:
  about one byte per two significant digits plus one; NULL and BOOL: 1; a list or map: 3 bytes plus its elements
  plus 1 byte each; map keys count like attribute names); 400 KB is 409,600 bytes.
- Items the table's capacity cannot take now come back in ``UnprocessedItems`` (in the request's own form), to be
  sent again; a request of which nothing could be written is refused with
  ``ProvisionedThroughputExceededException``.

What moto 5.2.1 does: parses every request through its shape-driven parser (about a third of the lab's CPU during
a parallel restore), checks duplicates only among whole identical items (two puts of one key with different
attributes pass, and so does a put and a delete of one key), checks each item while writing it (an invalid 20th
item leaves the first 19 written), and writes each item through ``Table.put_item``, which converts and measures it
again. The 25-request limit, the 16 MB limit and ``UnprocessedItems`` are missing (the scan model added the first
and the last; the 16 MB limit was not modelled).

What the lab does: a BatchWriteItem body is read with ``json.loads`` (no shape parser); every request of the batch
is validated first as above (the messages are AWS's where its documentation or its answers give them), the
provisioned table's write bucket (the scan model's: 1 unit per started KB) splits what is written now from what is
returned unprocessed, and then the batch's items are written under the table's lock (the item-writes model's), as
moto's ``put_item`` would store them (the same ``Item`` objects, stream records, the scan model's cache version).
Deletes still go through moto's ``delete_item``. ``ConsumedCapacity`` is returned only when asked for, as by AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_MARK = "_skyvault_dynamodb_batch_writes_model"
MAX_REQUESTS = 25
MAX_ITEM_BYTES = 400 * 1024
MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024
TYPES = frozenset(("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"))
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SET_NAMES = {"SS": "string", "NS": "number", "BS": "binary"}


class BatchError(Exception):
    """A refusal of the whole batch: (exception kind, message), raised as moto's exception by the handler."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _invalid(message: str) -> BatchError:
    return BatchError("ValidationException", message)


def _number(text: Any) -> tuple[Decimal, int]:
    """A DynamoDB number: its value and its size in bytes."""
    if not isinstance(text, str):
        raise BatchError("SerializationException", "NUMBER_VALUE cannot be converted to String")
    if not _NUMBER.fullmatch(text):
        raise _invalid("A value provided cannot be converted into a number")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # the pattern admits only what Decimal parses; kept for safety
        raise _invalid("A value provided cannot be converted into a number") from exc
    # significant digits, exactly (``normalize()`` would round to the context's 28 digits first)
    digits = "".join(map(str, value.as_tuple().digits)).strip("0") or "0"
    if len(digits) > 38:
        raise _invalid("Attempting to store more than 38 significant digits in a Number")
    if value:
        magnitude = abs(value)
        if magnitude >= Decimal("1E126"):
            raise _invalid("Number overflow. Attempting to store a number with magnitude larger than supported range")
        if magnitude < Decimal("1E-130"):
            raise _invalid("Number underflow. Attempting to store a number with magnitude smaller than supported range")
    return value, math.ceil(len(digits) / 2) + 1


def _binary(text: Any) -> bytes:
    if not isinstance(text, str):
        raise BatchError("SerializationException", "Binary value must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BatchError("SerializationException", "Base64 encoded value could not be decoded") from exc


def value_of(raw: Any) -> tuple[dict[str, Any], int]:
    """One wire attribute value -> (the value as moto's request parser gives it: binary decoded; its AWS size).

    Raises ``BatchError`` for anything AWS refuses."""
    if not isinstance(raw, dict):
        raise BatchError("SerializationException", "Start of structure or map expected for an AttributeValue")
    if not raw:
        raise _invalid("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    if len(raw) > 1:
        raise _invalid("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
                       "supported datatypes")  # fmt: skip
    ((kind, data),) = raw.items()
    if kind not in TYPES:
        raise BatchError("SerializationException", f"Unknown AttributeValue member: {kind}")
    if kind == "S":
        if not isinstance(data, str):
            raise BatchError("SerializationException", "NUMBER_VALUE cannot be converted to String")
        return raw, len(data.encode("utf-8"))
    if kind == "N":
        return raw, _number(data)[1]
    if kind == "B":
        decoded = _binary(data)
        return {"B": decoded}, len(decoded)
    if kind == "BOOL":
        if not isinstance(data, bool):
            raise BatchError("SerializationException", "BOOL must be true or false")
        return raw, 1
    if kind == "NULL":
        if data is not True:
            raise _invalid("One or more parameter values were invalid: Null attribute value types must have the "
                           "value of true")  # fmt: skip
        return raw, 1
    if kind in _SET_NAMES:
        if not isinstance(data, list):
            raise BatchError("SerializationException", f"Start of list expected for {kind}")
        if not data:
            raise _invalid(f"One or more parameter values were invalid: An {_SET_NAMES[kind]} set  may not be empty")
        if kind == "SS":
            members: list[Any] = [value_of({"S": member})[0]["S"] for member in data]
            identities: list[Any] = members
            size = sum(len(member.encode("utf-8")) for member in members)
        elif kind == "NS":
            numbers = [_number(member) for member in data]
            members, identities = list(data), [number for number, _ in numbers]  # equal values hash alike
            size = sum(number_size for _, number_size in numbers)
        else:
            members = [_binary(member) for member in data]
            identities, size = members, sum(len(member) for member in members)
        if len(set(identities)) != len(identities):
            listed = ", ".join(str(member) for member in data)
            raise _invalid(f"One or more parameter values were invalid: Input collection [{listed}] contains "
                           "duplicates.")  # fmt: skip
        return {kind: members}, size
    if kind == "M":
        if not isinstance(data, dict):
            raise BatchError("SerializationException", "Start of structure or map expected for M")
        converted: dict[str, Any] = {}
        size = 3
        for name, member in data.items():
            converted[name], member_size = value_of(member)
            size += len(name.encode("utf-8")) + member_size + 1
        return {"M": converted}, size
    if not isinstance(data, list):  # L
        raise BatchError("SerializationException", "Start of list expected for L")
    elements = []
    size = 3
    for member in data:
        element, member_size = value_of(member)
        elements.append(element)
        size += member_size + 1
    return {"L": elements}, size


def attributes_of(raw: Any) -> tuple[dict[str, Any], int]:
    """An item (or a key) on the wire -> (its attributes as moto takes them, its AWS size)."""
    if not isinstance(raw, dict):
        raise BatchError("SerializationException", "Start of structure or map expected for an item")
    converted: dict[str, Any] = {}
    size = 0
    for name, value in raw.items():
        if not name:
            raise _invalid("One or more parameter values were invalid: An attribute name may not be empty")
        converted[name], value_size = value_of(value)
        size += len(name.encode("utf-8")) + value_size
    return converted, size


class TableKeys:
    """What a table's items must satisfy: its key attributes and every secondary index's key attributes."""

    def __init__(self, table: Any) -> None:
        self.hash_name: str = table.hash_key_attr
        self.range_name: str | None = table.range_key_attr
        self.defined: dict[str, str] = {d["AttributeName"]: d["AttributeType"] for d in table.attr}
        self.index_of: dict[str, str] = {}
        for index in [*table.indexes, *table.global_indexes]:
            for name in index.schema_key_attrs:
                if name not in (self.hash_name, self.range_name):
                    self.index_of.setdefault(name, index.name)

    def check_key(self, attrs: dict[str, Any], *, whole_item: bool) -> None:
        names = [self.hash_name] + ([self.range_name] if self.range_name else [])
        if not whole_item and set(attrs) != set(names):
            raise _invalid("The provided key element does not match the schema")
        for name in names:
            value = attrs.get(name)
            if value is None:
                raise _invalid(f"One or more parameter values were invalid: Missing the key {name} in the item")
            ((kind, data),) = value.items()
            if kind != self.defined[name]:
                raise _invalid(f"One or more parameter values were invalid: Type mismatch for key {name} expected: "
                               f"{self.defined[name]} actual: {kind}")  # fmt: skip
            if kind in ("S", "B") and len(data) == 0:
                raise _invalid("One or more parameter values are not valid. The AttributeValue for a key attribute "
                               f"cannot contain an empty string value. Key: {name}")  # fmt: skip
            size = len(data.encode("utf-8")) if kind == "S" else len(data) if kind == "B" else _number(data)[1]
            if name == self.hash_name and size > MAX_HASH_KEY_BYTES:
                raise _invalid("One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
                               f"size limit of{MAX_HASH_KEY_BYTES} bytes")  # fmt: skip
            if name == self.range_name and size > MAX_RANGE_KEY_BYTES:
                raise _invalid("One or more parameter values were invalid: Aggregated size of all range keys has "
                               f"exceeded the size limit of {MAX_RANGE_KEY_BYTES} bytes")  # fmt: skip
        if not whole_item:
            return
        for name, index in self.index_of.items():
            value = attrs.get(name)
            if value is None:
                continue  # an item without an index's key is simply not in that index
            ((kind, data),) = value.items()
            if kind != self.defined.get(name, kind):
                raise _invalid(f"One or more parameter values were invalid: Type mismatch for Index Key {name} "
                               f"Expected: {self.defined[name]} Actual: {kind} IndexName: {index}")  # fmt: skip
            if kind in ("S", "B") and len(data) == 0:
                raise _invalid("One or more parameter values are not valid. A value specified for a secondary index "
                               "key is not supported. The AttributeValue for a key attribute cannot contain an empty "
                               f"string value. IndexName: {index}, IndexKey: {name}")  # fmt: skip


def _request_items(body: Any, body_bytes: int) -> dict[str, list[Any]]:
    if body_bytes > MAX_REQUEST_BYTES:
        raise _invalid("Request size exceeded 16777216 bytes")
    requests = body.get("RequestItems") if isinstance(body, dict) else None
    if not isinstance(requests, dict) or not requests:
        raise _invalid("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: "
                       "Member must not be null")  # fmt: skip
    count = 0
    for table_requests in requests.values():
        if not isinstance(table_requests, list) or not table_requests:
            raise _invalid("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map "
                           f"value must satisfy constraint: [Member must have length less than or equal to "
                           f"{MAX_REQUESTS}, Member must have length greater than or equal to 1]")  # fmt: skip
        count += len(table_requests)
    if count > MAX_REQUESTS:
        raise _invalid("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value "
                       f"must satisfy constraint: [Member must have length less than or equal to {MAX_REQUESTS}, "
                       "Member must have length greater than or equal to 1]")  # fmt: skip
    return requests


def apply() -> None:
    import importlib

    responses: Any = importlib.import_module("moto.dynamodb.responses")
    handler_class = responses.DynamoHandler
    if getattr(handler_class, _MARK, False):
        return
    errors: Any = importlib.import_module("moto.dynamodb.exceptions")
    type_module: Any = importlib.import_module("moto.dynamodb.models.dynamo_type")
    dynamo_json_dump: Any = importlib.import_module("moto.dynamodb.models.utilities").dynamo_json_dump
    from skyvault.lab.models import dynamodb_scan
    from skyvault.lab.models.dynamodb_item_writes import table_lock

    dynamo_type, item_class, limited = type_module.DynamoType, type_module.Item, type_module.LimitedSizeDict

    original_parse = handler_class.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        if self._get_action() == "BatchWriteItem":
            body = self.body if isinstance(self.body, bytes | str) else b""
            try:
                self.params = json.loads(body) if body else {}
                self._skyvault_body_bytes = len(body)
                return
            except ValueError:
                pass  # moto's parser answers a body that is not JSON
        original_parse(self, request)

    def new_item(hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> Any:
        # moto's Item as its put_item makes it, without measuring it again (the batch measured it, AWS's way)
        item = item_class.__new__(item_class)
        item.hash_key, item.range_key = hash_key, range_key
        item.attrs = limited()
        dict.update(item.attrs, {name: dynamo_type(value) for name, value in attrs.items()})
        return item

    def batch_write_item(self: Any) -> Any:
        try:
            requests = _request_items(self.body, int(getattr(self, "_skyvault_body_bytes", 0)))
            tables = {name: self.dynamodb_backend.get_table(name) for name in requests}
            puts: list[tuple[str, Any, Any, Any, dict[str, Any], int]] = []
            deletes: list[tuple[str, Any, Any, dict[str, Any]]] = []
            seen: set[tuple[str, Any, Any]] = set()
            for name, table_requests in requests.items():
                table, keys = tables[name], TableKeys(tables[name])
                for request in table_requests:
                    if (
                        not isinstance(request, dict)
                        or len(request) != 1
                        or not ("PutRequest" in request or "DeleteRequest" in request)
                    ):
                        raise _invalid("Supplied WriteRequest must contain exactly one of PutRequest, DeleteRequest")
                    put = request.get("PutRequest")
                    attrs, size = attributes_of((put or {}).get("Item") if put is not None else
                                                (request["DeleteRequest"] or {}).get("Key"))  # fmt: skip
                    keys.check_key(attrs, whole_item=put is not None)
                    if size > MAX_ITEM_BYTES:
                        raise _invalid("Item size has exceeded the maximum allowed size")
                    hash_key = dynamo_type(attrs[keys.hash_name])
                    range_key = dynamo_type(attrs[keys.range_name]) if keys.range_name else None
                    if (name, hash_key, range_key) in seen:
                        raise _invalid("Provided list of item keys contains duplicates")
                    seen.add((name, hash_key, range_key))
                    if put is not None:
                        puts.append((name, hash_key, range_key, request, attrs, size))
                    else:
                        deletes.append((name, hash_key, range_key, request))
        except BatchError as refused:
            if refused.kind == "ValidationException":
                raise errors.MockValidationException(refused.message) from None
            raise errors.SerializationException(refused.message) from None
        # The provisioned tables' write buckets (the scan model's) decide what is written now.
        unprocessed: dict[str, list[Any]] = {}
        consumed: dict[str, float] = {}

        def take(name: str, request: Any, units: float) -> bool:
            bucket = dynamodb_scan._bucket(tables[name], "WriteCapacityUnits")
            if bucket is not None:
                with dynamodb_scan._LOCK:
                    if bucket.tokens < units:
                        unprocessed.setdefault(name, []).append(request)
                        return False
                    bucket.tokens -= units
            consumed[name] = consumed.get(name, 0.0) + units
            return True

        accepted_puts = [put for put in puts if take(put[0], put[3], float(max(1, math.ceil(put[5] / 1024))))]
        accepted_deletes = [delete for delete in deletes if take(delete[0], delete[3], 1.0)]
        if unprocessed and not (accepted_puts or accepted_deletes):
            raise errors.DynamodbException(
                errors.ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. Consider increasing your "
                "provisioning level with the UpdateTable API.",
            )
        for name in requests:
            table = tables[name]
            with table_lock(table):
                for entry_name, hash_key, range_key, _, attrs, _ in accepted_puts:
                    if entry_name != name:
                        continue
                    item = new_item(hash_key, range_key, attrs)
                    current = table.get_item(hash_key, range_key) if table.stream_shard is not None else None
                    if range_key is not None:
                        table.items[hash_key][range_key] = item
                    else:
                        table.items[hash_key] = item
                    if table.stream_shard is not None:
                        table.stream_shard.add(current, item)
                setattr(table, dynamodb_scan._VERSION, getattr(table, dynamodb_scan._VERSION, 0) + 1)
                for entry_name, hash_key, range_key, _ in accepted_deletes:
                    if entry_name == name:
                        table.delete_item(hash_key, range_key)
        result: dict[str, Any] = {"UnprocessedItems": unprocessed}
        wanted = self.body.get("ReturnConsumedCapacity")
        if wanted in ("TOTAL", "INDEXES"):
            result["ConsumedCapacity"] = [
                {"TableName": name, "CapacityUnits": units, **({"Table": {"CapacityUnits": units}}
                                                               if wanted == "INDEXES" else {})}
                for name, units in consumed.items()
            ]  # fmt: skip
        return dynamo_json_dump(result)

    handler_class.parse_parameters = parse_parameters
    handler_class.batch_write_item = batch_write_item
    setattr(handler_class, _MARK, True)
