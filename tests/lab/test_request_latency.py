"""Quirk: per-service request latency (off by default), overlapping across requests in flight, as against AWS."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import LabEnv
from skyvault.aws.clients import ClientFactory
from skyvault.lab.control import reset_lab, set_model_settings
from skyvault.lab.models.request_latency import signing_name

pytestmark = pytest.mark.lab
LATENCY_MS = 150


def test_signing_name_from_the_authorization_header() -> None:
    header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/dynamodb/aws4_request, SignedHeaders=host"
    assert signing_name(header) == "dynamodb"
    assert signing_name("") is None and signing_name("Bearer x") is None


def test_latency_per_service_overlaps_in_flight_and_reset_turns_it_off(lab_env: LabEnv) -> None:
    factory = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    s3: Any = factory.client("admin", "us-east-1", "s3").raw
    ddb: Any = factory.client("admin", "us-east-1", "dynamodb").raw
    s3.create_bucket(Bucket="latency")
    ddb.list_tables()  # loads the service model: not what is timed below
    assert set_model_settings(lab_env.lab, "request_latency")["latency_ms"] == {}  # off by default

    settings = set_model_settings(lab_env.lab, "request_latency", s3=LATENCY_MS)
    assert settings["latency_ms"] == {"s3": LATENCY_MS}
    started = time.perf_counter()
    s3.head_bucket(Bucket="latency")
    one = time.perf_counter() - started
    assert one >= LATENCY_MS / 1000
    started = time.perf_counter()
    ddb.list_tables()  # another service: not delayed
    assert time.perf_counter() - started < LATENCY_MS / 1000

    parallel = s3  # botocore keeps up to 10 connections: 8 requests go at once
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: parallel.head_bucket(Bucket="latency"), range(8)))
    assert time.perf_counter() - started < 4 * LATENCY_MS / 1000  # 8 in flight overlap: not 8 x the latency
    assert set_model_settings(lab_env.lab, "request_latency")["delayed_requests"]["s3"] >= 9

    with pytest.raises(Exception, match="latency in milliseconds"):
        set_model_settings(lab_env.lab, "request_latency", s3=-1)
    reset_lab(lab_env.lab)
    assert set_model_settings(lab_env.lab, "request_latency")["latency_ms"] == {}
