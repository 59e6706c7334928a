"""The lab's s3_listing model: ListObjectsV2 from a sorted index gives AWS's pages (checked against a reference).

The reference (``expected``) is AWS's documented semantics written plainly over the bucket's live keys: UTF-8
binary order, Prefix, Delimiter rolled into CommonPrefixes (one result each), at most min(MaxKeys, 1000) results a
page, resuming after the last result (a continuation token) or after StartAfter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from skyvault.lab.models import MODELS

pytestmark = pytest.mark.lab

UNICODE_KEYS = ["a", "A", "b", "é", "z", "ä/x", "\u00ff", "\u0100", "\uffef", "日本/語", "😀", "\U0001f600/b", "~"]


def expected(keys: set[str], *, prefix: str = "", delimiter: str = "", start_after: str = "") -> list[str]:
    """Every result (keys, and common prefixes ending with the delimiter) in order, as AWS lists them."""
    results: list[str] = []
    for key in sorted(keys, key=lambda k: k.encode("utf-8")):
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        name = key
        if delimiter and delimiter in rest:
            name = prefix + rest[: rest.index(delimiter) + len(delimiter)]
        if (not start_after or name > start_after) and (not results or results[-1] != name):
            results.append(name)
    return results


def listed(s3: Any, bucket: str, *, page_size: int | None = None, **params: Any) -> tuple[list[str], list[int]]:
    """Every result over all pages, and each page's KeyCount (checked against what the page holds)."""
    results: list[str] = []
    counts: list[int] = []
    token: str | None = None
    while True:
        call = dict(params, Bucket=bucket)
        if page_size is not None:
            call["MaxKeys"] = page_size
        if token:
            call["ContinuationToken"] = token
        page = s3.list_objects_v2(**call)
        names = [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] == len(names)
        if params.get("EncodingType") == "url":
            names = [unquote(n) for n in names]
        results += sorted(names, key=lambda n: n.encode("utf-8"))
        counts.append(page["KeyCount"])
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            return results, counts
        token = page["NextContinuationToken"]


@pytest.fixture
def s3(raw: Callable[..., Any]) -> Any:
    return raw("s3")


def _put(s3: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")


def test_the_model_is_registered() -> None:
    assert "skyvault.lab.models.s3_listing" in MODELS


def test_pages_prefix_delimiter_and_start_after_match_aws(s3: Any) -> None:
    s3.create_bucket(Bucket="listing")
    keys = {f"d{d}/f{f:02d}" for d in range(4) for f in range(12)} | {"d1", "d1/", "d10/x", "e", "d2/sub/deep"}
    _put(s3, "listing", sorted(keys))
    for params in (
        {},
        {"Prefix": "d1"},
        {"Prefix": "d1/"},
        {"Delimiter": "/"},
        {"Prefix": "d2/", "Delimiter": "/"},
        {"Delimiter": "f0"},
        {"StartAfter": "d1/f05"},
        {"StartAfter": "d1/f05", "Delimiter": "/"},
        {"StartAfter": "a", "Prefix": "d3"},
        {"StartAfter": "zzz"},
        {"Prefix": "nothing"},
    ):
        want = expected(
            keys,
            prefix=params.get("Prefix", ""),
            delimiter=params.get("Delimiter", ""),
            start_after=params.get("StartAfter", ""),
        )
        for page_size in (None, 1, 5, 7, 1000):
            got, counts = listed(s3, "listing", page_size=page_size, **params)
            assert got == want, (params, page_size)
            if page_size:
                assert all(c == page_size for c in counts[:-1]), (params, page_size, counts)


def test_start_after_is_echoed_only_without_a_token(s3: Any) -> None:
    s3.create_bucket(Bucket="echo")
    _put(s3, "echo", ["a", "b", "c"])
    first = s3.list_objects_v2(Bucket="echo", StartAfter="a", MaxKeys=1)
    assert first["StartAfter"] == "a" and [o["Key"] for o in first["Contents"]] == ["b"]
    assert first["IsTruncated"] is True and first["MaxKeys"] == 1
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket="echo", StartAfter="a", MaxKeys=1, ContinuationToken=token)
    assert "StartAfter" not in second and [o["Key"] for o in second["Contents"]] == ["c"]
    assert second["IsTruncated"] is False


def test_max_keys_default_and_cap_are_1000(s3: Any) -> None:
    s3.create_bucket(Bucket="many")
    keys = [f"k{n:05d}" for n in range(1003)]
    _put(s3, "many", keys)
    default = s3.list_objects_v2(Bucket="many")
    assert default["KeyCount"] == 1000 and default["IsTruncated"] is True
    capped = s3.list_objects_v2(Bucket="many", MaxKeys=5000)
    assert capped["KeyCount"] == 1000 and capped["IsTruncated"] is True
    rest = s3.list_objects_v2(Bucket="many", MaxKeys=5000, ContinuationToken=capped["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == keys[1000:]
    assert s3.list_objects_v2(Bucket="many", MaxKeys=0)["KeyCount"] == 0


def test_deletes_overwrites_and_delete_markers(s3: Any) -> None:
    s3.create_bucket(Bucket="plain")
    keys = {f"p/{n:03d}" for n in range(30)} | {"q/only", "r"}
    _put(s3, "plain", sorted(keys))
    assert listed(s3, "plain", page_size=4)[0] == expected(keys)
    for gone in ("p/003", "p/017", "q/only"):
        s3.delete_object(Bucket="plain", Key=gone)
        keys.discard(gone)
    _put(s3, "plain", ["p/005", "p/100", "a"])  # an overwrite, two new keys
    keys |= {"p/100", "a"}
    assert listed(s3, "plain", page_size=4)[0] == expected(keys)
    assert listed(s3, "plain", Delimiter="/")[0] == expected(keys, delimiter="/")  # q/ is gone with its only key
    [obj] = s3.list_objects_v2(Bucket="plain", Prefix="p/005")["Contents"]
    assert obj["Size"] == 1

    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    _put(s3, "versioned", ["v/1", "v/2", "w/1", "x"])
    s3.delete_object(Bucket="versioned", Key="v/2")  # a delete marker: no longer listed
    s3.delete_object(Bucket="versioned", Key="w/1")
    assert listed(s3, "versioned")[0] == ["v/1", "x"]
    assert listed(s3, "versioned", Delimiter="/")[0] == ["v/", "x"]  # no w/: its only key's current is a marker
    version = s3.list_object_versions(Bucket="versioned", Prefix="w/1")["DeleteMarkers"][0]["VersionId"]
    s3.delete_object(Bucket="versioned", Key="w/1", VersionId=version)  # removing the marker brings it back
    assert listed(s3, "versioned", page_size=1)[0] == ["v/1", "w/1", "x"]


def test_unicode_keys_in_utf8_binary_order_and_url_encoding(s3: Any) -> None:
    s3.create_bucket(Bucket="unicode")
    _put(s3, "unicode", UNICODE_KEYS)
    keys = set(UNICODE_KEYS)
    want = expected(keys)
    assert want[:5] == ["A", "a", "b", "z", "~"] and want.index("\uffef") < want.index("😀")
    for page_size in (None, 2, 3):
        assert listed(s3, "unicode", page_size=page_size)[0] == want
        assert listed(s3, "unicode", page_size=page_size, EncodingType="url")[0] == want
    assert listed(s3, "unicode", page_size=2, Delimiter="/")[0] == expected(keys, delimiter="/")
    assert listed(s3, "unicode", StartAfter="é")[0] == expected(keys, start_after="é")


def test_an_unknown_continuation_token_is_refused(s3: Any) -> None:
    s3.create_bucket(Bucket="tokens")
    _put(s3, "tokens", ["a"])
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket="tokens", ContinuationToken="not-a-token")
    assert caught.value.response["Error"]["Code"] == "InvalidArgument"


def test_the_serializer_reads_timestamps_as_botocore_does(s3: Any) -> None:
    """serializer_timestamps: the lab's responses carry the same timestamps (its parse is botocore's, faster)."""
    import moto.core.serialize as serialize
    from botocore.utils import parse_to_aware_datetime

    from skyvault.lab.models import serializer_timestamps

    serializer_timestamps.apply()
    patched: Any = getattr(serialize, "parse_to_aware_datetime")  # noqa: B009
    assert patched is not parse_to_aware_datetime
    value: Any
    for value in ("2026-12-03T07:03:26.000Z", "2026-12-03T07:03:26.123456Z", "2026-12-03T07:03:26+01:30",
                  "Thu, 03 Dec 2026 07:03:26 GMT", "2026-12-03", "1700000000", 1700000000, 0.5):  # fmt: skip
        ours, botocores = patched(value), parse_to_aware_datetime(value)
        assert (ours, ours.tzinfo, ours.isoformat()) == (botocores, botocores.tzinfo, botocores.isoformat())
    s3.create_bucket(Bucket="times")
    s3.put_object(Bucket="times", Key="k", Body=b"x")
    [listed_obj] = s3.list_objects_v2(Bucket="times")["Contents"]
    head = s3.head_object(Bucket="times", Key="k")
    assert listed_obj["LastModified"] == head["LastModified"]  # milliseconds .000 in the listing, seconds in the header


ODD_KEYS = ["a&b", "c<d>e", 'q"uote', "apo's", "cr\rlf\n", "sp ace", "d/é", "d/日本/x", "d/x", "plus+", "pct%41", "z"]


def test_the_listing_body_is_byte_for_byte_mos_serializer(monkeypatch: pytest.MonkeyPatch) -> None:
    """s3_listing writes ListObjectsV2's XML directly: the same status, headers and bytes as moto's serializer, for
    raw and URL-encoded keys, owners, checksums, delimiters, tokens, start-after and empty pages (in process)."""
    import os

    import boto3
    from botocore.handlers import set_list_objects_encoding_type_url
    from moto import mock_aws

    from skyvault.lab.models import s3_listing

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3_listing.apply()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bodies")
        client.create_bucket(Bucket="empty")
        for n, key in enumerate(ODD_KEYS):
            extra = {"ChecksumAlgorithm": "SHA256"} if n % 3 == 0 else {}
            client.put_object(Bucket="bodies", Key=key, Body=b"x" * n, **extra)
        seen: list[tuple[int, dict[str, str], bytes]] = []

        def capture(response_dict: dict[str, Any], **_: Any) -> None:
            headers = {k: v for k, v in response_dict["headers"].items() if k not in ("date", "x-amzn-requestid")}
            seen.append((response_dict["status_code"], headers, response_dict["body"]))

        client.meta.events.register("before-parse.s3.ListObjectsV2", capture)
        rendered: list[str] = []
        render = s3_listing.render_list_objects_v2

        def counted(result: dict[str, Any]) -> str | None:
            body = render(result)
            rendered.extend([body] if body is not None else [])
            return body

        monkeypatch.setattr(s3_listing, "render_list_objects_v2", counted)
        requests: list[dict[str, Any]] = [
            {"Bucket": "bodies"},
            {"Bucket": "bodies", "FetchOwner": True, "MaxKeys": 3},
            {"Bucket": "bodies", "Delimiter": "/", "MaxKeys": 2},
            {"Bucket": "bodies", "Prefix": "d/", "Delimiter": "/"},
            {"Bucket": "bodies", "StartAfter": "c", "MaxKeys": 4},
            {"Bucket": "bodies", "Prefix": "nothing"},
            {"Bucket": "empty"},
        ]
        for url in (True, False):
            if not url:  # botocore asks for EncodingType=url unless told otherwise: raw keys in the XML
                client.meta.events.unregister(
                    "before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url
                )
            for request in requests:
                pages = []
                for direct in (False, True):
                    s3_listing.RENDER_DIRECTLY = direct
                    seen.clear()
                    try:
                        token: str | None = None
                        while True:
                            page = client.list_objects_v2(**request, **({"ContinuationToken": token} if token else {}))
                            if not page["IsTruncated"]:
                                break
                            token = page["NextContinuationToken"]
                    finally:
                        s3_listing.RENDER_DIRECTLY = True
                    pages.append(list(seen))
                assert pages[0] == pages[1], (url, request)
                assert pages[0] and all(status == 200 for status, _, _ in pages[0])
        assert len(rendered) >= 2 * len(requests)  # the direct path served every page it was asked to
