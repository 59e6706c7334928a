"""The fast timestamp parser gives botocore's results exactly (instant, zone, errors); the factory's clients use it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from skyvault.aws import timestamps
from skyvault.aws.clients import ClientFactory
from skyvault.config import AccountConfig, AuthMethod, SkyvaultConfig

FAST = [  # the forms AWS sends, read without dateutil
    "2026-12-03T07:03:26.000Z",
    "2026-12-03T07:03:26Z",
    "2026-12-03T07:03:26.1Z",
    "2026-12-03T07:03:26.12Z",
    "2026-12-03T07:03:26.123456Z",
    "2026-12-03T07:03:26.1234567Z",
    "2026-12-03T07:03:26.123456789Z",
    "2026-12-03T07:03:26.999999999Z",
    "2026-12-03T07:03:26+00:00",
    "2026-12-03T07:03:26-00:00",
    "2026-12-03T07:03:26+0000",
    "2026-12-03T07:03:26+01:30",
    "2026-12-03T07:03:26+0130",
    "2026-12-03T07:03:26.5-05:00",
    "2026-12-03T07:03:26+23:59",
    "2024-02-29T23:59:59.999Z",
    "1970-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "Thu, 03 Dec 2026 07:03:26 GMT",
    "Mon, 01 Jan 2024 00:00:00 GMT",
    "Sat, 29 Feb 2020 12:34:56 GMT",
]
OTHER = [  # left to botocore's parser (which accepts or refuses them): the result must be the same
    "Wed, 03 Dec 2026 07:03:26 GMT",  # a weekday that contradicts the date
    "2026-02-30T00:00:00Z",
    "2026-12-03T24:00:00Z",
    "2026-12-03T23:59:60Z",
    "2026-12-03T07:03:26+24:00",
    "2026-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-12-03 07:03:26Z",
    "2026-12-03t07:03:26z",
    "2026-12-03T07:03Z",
    "20261203T070326Z",
    "2026-12-03",
    "Thu, 3 Dec 2026 07:03:26 GMT",
    "Thursday, 03-Dec-26 07:03:26 GMT",
    "Thu Dec  3 07:03:26 2026",
    "1700000000",
    "1700000000.25",
    "not a time",
    "",
    1700000000,
    1700000000.5,
]


def _outcome(parse: Any, value: Any) -> tuple[Any, ...]:
    try:
        parsed = parse(value)
        assert isinstance(parsed, datetime)
        return (parsed, repr(parsed.tzinfo), parsed.utcoffset(), parsed.isoformat(), parsed.tzname())
    except Exception as exc:  # the error too must match (+24:00 fails late)
        return ("error", type(exc).__name__, str(exc))


@pytest.mark.parametrize("value", FAST + OTHER)
def test_same_result_as_botocore(value: Any) -> None:
    assert _outcome(timestamps.parse_timestamp, value) == _outcome(botocore_parse_timestamp, value)


@pytest.mark.parametrize("value", FAST)
def test_aws_forms_take_the_fast_path(value: str) -> None:
    assert timestamps._fast(value) is not None


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_same_result_in_other_local_zones(zone: str) -> None:
    """dateutil's zone for a UTC time depends on the local zone's name: the fast path follows it."""
    code = (
        "from botocore.utils import parse_timestamp as ref\n"
        "from skyvault.aws.timestamps import parse_timestamp as fast\n"
        f"values = {FAST!r}\n"
        "for v in values:\n"
        "    a, b = ref(v), fast(v)\n"
        "    same = lambda d: (d, repr(d.tzinfo), d.utcoffset(), d.tzname())\n"
        "    assert same(a) == same(b), v\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "TZ": zone}, check=True)


def test_the_factory_clients_parse_with_it() -> None:
    config = SkyvaultConfig(
        accounts={"a": AccountConfig(auth=AuthMethod.KEYS, access_key_id_env="K", secret_access_key_env="S")}
    )
    factory = ClientFactory(config, strict_guard=False, environ={"K": "AKID", "S": "secret"})
    for service, protocol in (("s3", "rest-xml"), ("dynamodb", "json"), ("ec2", "ec2")):
        raw = factory.client("a", "us-east-1", service).raw
        # what the endpoint parses each response with (botocore.endpoint.Endpoint._get_response)
        parser = getattr(raw, "_endpoint")._response_parser_factory.create_parser(protocol)  # noqa: B009
        assert parser._timestamp_parser is timestamps.parse_timestamp
