"""Items as typed DynamoDB JSON, in one canonical form, and an order-independent checksum of a set of items.

One item is one line ``{"Item":{...}}\\n`` (the line format of DynamoDB's own S3 export, DYNAMODB_JSON): every
attribute keeps its type (``S``, ``N``, ``B``, ``SS``, ``NS``, ``BS``, ``M``, ``L``, ``BOOL``, ``NULL``), binary
values are base64, map keys are sorted, set members are sorted (a set has no order; DynamoDB returns them in any),
numbers are kept as the exact strings DynamoDB returned. The same item always gives the same bytes, so an unchanged
table serialises to unchanged streams and the library stores nothing new for it.

The checksum of a table's items is the sum, modulo 2**128, of the first 16 bytes of each line's SHA-256: it does
not depend on the order the items were read in, so a restored table scanned in any order checks against it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Any

MOD = 1 << 128


def _encode(value: dict[str, Any]) -> dict[str, Any]:
    (kind, raw), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64encode(raw).decode("ascii")}
    if kind == "BS":
        return {"BS": sorted(base64.b64encode(v).decode("ascii") for v in raw)}
    if kind in ("SS", "NS"):
        return {kind: sorted(raw)}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_encode(v) for v in raw]}
    return {kind: raw}


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a value as it came over the wire (binary already base64): the same as ``_encode``'s."""
    (kind, raw), *_ = value.items()
    if kind in ("SS", "NS", "BS"):
        return {kind: sorted(raw)}
    if kind == "M":
        return {"M": {k: _wire(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_wire(v) for v in raw]}
    return {kind: raw}


def wire_line(item: dict[str, Any]) -> bytes:
    """``to_line`` of an item taken from the response body as is (no botocore parsing: binary still base64)."""
    encoded = {name: _wire(value) for name, value in item.items()}
    text = json.dumps({"Item": encoded}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def wire_sort_key(item: dict[str, Any], keys: list[str]) -> bytes:
    return json.dumps([_wire(item[k]) for k in keys], sort_keys=True, separators=(",", ":")).encode()


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    (kind, raw), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(raw)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in raw]}
    if kind == "M":
        return {"M": {k: _decode(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [_decode(v) for v in raw]}
    return {kind: raw}


def to_line(item: dict[str, Any]) -> bytes:
    """One item (as the low-level client returns it) -> its canonical line."""
    encoded = {name: _encode(value) for name, value in item.items()}
    text = json.dumps({"Item": encoded}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def from_line(line: bytes) -> dict[str, Any]:
    """A canonical line -> the item as the low-level client takes it (binary values as bytes)."""
    item: dict[str, Any] = json.loads(line)["Item"]
    return {name: _decode(value) for name, value in item.items()}


def sort_key(item: dict[str, Any], keys: list[str]) -> bytes:
    """Where an item goes in its segment's stream: its key attributes, canonically encoded."""
    return json.dumps([_encode(item[k]) for k in keys], sort_keys=True, separators=(",", ":")).encode()


def line_digest(line: bytes) -> int:
    return int.from_bytes(hashlib.sha256(line).digest()[:16], "big")


def checksum(lines: Iterable[bytes]) -> int:
    return sum(line_digest(line) for line in lines) % MOD


def split_lines(chunks: Iterable[bytes]) -> Iterable[bytes]:
    """The lines of a stream that arrives in arbitrary pieces (the library's chunks)."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk if rest else chunk
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            yield data[start : end + 1]
            start = end + 1
        rest = data[start:]
    if rest:
        yield rest
