"""Backup sources: bucket names, prefixes and S3 on Outposts access point ARNs, and how botocore addresses the latter.

What skyvault relies on is checked here without a network (tests/s3/test_outposts.py runs it in the lab): the ARN is
accepted as the ``Bucket`` parameter, the request goes to the access point's s3-outposts host over HTTPS and is
signed for ``s3-outposts`` in the ARN's region.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from skyvault.errors import ConfigError
from skyvault.services.s3.locations import parse_location
from skyvault.services.s3.restore import Target, put_params

ARN = "arn:aws:s3-outposts:eu-west-1:123456789012:outpost/op-01234567890abcdef/accesspoint/backups"


def test_bucket_and_prefix() -> None:
    assert parse_location("my-bucket").source == "my-bucket"
    location = parse_location("s3://my-bucket/logs/2026/")
    assert (location.bucket, location.prefix, location.outposts) == ("my-bucket", "logs/2026/", False)
    assert location.arn() == "arn:aws:s3:::my-bucket"
    for bad in ("UPPER", "a", "bad..name", "arn:aws:s3:::plain-arn"):
        with pytest.raises(ConfigError):
            parse_location(bad)


def test_outposts_access_point_arn() -> None:
    location = parse_location(f"{ARN}/reports/")
    assert (location.bucket, location.prefix) == (ARN, "reports/")
    assert location.outposts and location.region == "eu-west-1" and location.source == f"{ARN}/reports/"
    assert parse_location(ARN).prefix == ""


def test_restore_to_outposts_uses_its_only_storage_class() -> None:
    meta = {"storage_class": "STANDARD_IA", "metadata": {"a": "1"}}
    assert put_params(meta, lock=False, target_outposts=True)["StorageClass"] == "OUTPOSTS"
    assert put_params(meta, lock=False, target_outposts=False)["StorageClass"] == "STANDARD_IA"
    assert Target(bucket=ARN, prefix="new/", source_prefix="old/").key("old/x") == "new/x"


def test_botocore_sends_access_point_requests_to_s3_outposts() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    seen: dict[str, Any] = {}

    class StopError(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        seen["url"], seen["auth"] = request.url, request.headers["Authorization"].decode()
        raise StopError

    client.meta.events.register("before-send.s3.ListObjectsV2", capture)
    with pytest.raises(StopError):
        client.list_objects_v2(Bucket=ARN, Prefix="reports/")
    assert seen["url"].startswith(
        "https://backups-123456789012.op-01234567890abcdef.s3-outposts.eu-west-1.amazonaws.com/"
    )
    assert "/eu-west-1/s3-outposts/aws4_request" in seen["auth"]


def test_parts_stay_within_s3s_limit_of_10000() -> None:
    from skyvault.services.s3.restore import MAX_PARTS, RestoreTuning, Writer

    writer = Writer.__new__(Writer)
    writer.tuning = RestoreTuning(part_size=16 * 2**20)
    assert writer._part_size(100 * 2**20) == 16 * 2**20
    five_tib = 5 * 2**40
    size = writer._part_size(five_tib)
    assert size % 2**20 == 0 and -(-five_tib // size) <= MAX_PARTS


def test_content_md5_only_from_an_md5_etag() -> None:
    from skyvault.services.s3.restore import integrity_params

    etag = '"5d41402abc4b2a76b9719d911017c592"'
    assert integrity_params({"etag": etag}) == {"ContentMD5": "XUFAKrxLKna5cZ2REBfFkg=="}
    assert integrity_params({"etag": etag, "sse": "aws:kms"}) == {}
    assert integrity_params({"etag": etag, "sse": "aws:kms:dsse"}) == {}
    assert integrity_params({"etag": '"0123456789abcdef0123456789abcdef-3"'}) == {}
    composite = {"algorithm": "CRC32", "value": "AAAAAA==-3", "type": "COMPOSITE"}
    assert integrity_params({"etag": etag, "checksum": composite}) == {"ContentMD5": "XUFAKrxLKna5cZ2REBfFkg=="}


def test_a_plan_backs_up_each_bucket_into_its_library() -> None:
    from skyvault.config import parse_config
    from skyvault.engine.plans import job_for
    from skyvault.errors import ConfigError as PlanConfigError
    from skyvault.services.contract import PlanTarget

    base = {"accounts": {"admin": {"regions": ["us-east-1"]}}, "default_library": "main",
            "libraries": {"main": {"kind": "local", "path": "/srv/library"}}}  # fmt: skip
    config = parse_config({**base, "plans": {"p": {"services": ["s3"]}}}, "skyvault.toml")
    assert config.plan("p").mode("s3") == "library"  # S3's only mode is the default
    with pytest.raises(PlanConfigError, match="not supported by the s3 driver"):
        parse_config({**base, "plans": {"p": {"services": ["s3"], "modes": {"s3": "native"}}}}, "skyvault.toml")
    spec = job_for(PlanTarget("s3", "photos", "admin", "eu-west-1", "library", library="main"))
    assert spec.kind == "backup-s3"
    assert spec.params["locations"] == ["photos"] and spec.params["library"] == "main"
    with pytest.raises(ConfigError, match="needs a library"):
        job_for(PlanTarget("s3", "photos", "admin", "eu-west-1", "library"))
