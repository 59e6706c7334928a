"""Model (speed only): moto's response serializer reads timestamps without dateutil; the bytes it writes are the same.

Real AWS writes each timestamp of a response in its protocol's format (Smithy `timestamp formats
<https://smithy.io/2.0/spec/protocol-traits.html#timestampformat-trait>`_: ``date-time`` in S3's XML bodies, e.g.
``LastModified`` in `ListObjectsV2 <https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>`_,
``http-date`` in headers, ``epoch-seconds`` in JSON protocols). moto 5.2.1 keeps an S3 object's time as an ISO 8601
string and its serializer parses every such string back with botocore's ``parse_to_aware_datetime`` (dateutil,
about 35 µs each) before formatting it: a 1,000-object listing page spent about a third of its server time there.

The lab's serializer parses them with ``skyvault.aws.timestamps.parse_timestamp`` (botocore's results exactly, proven
by ``tests/core/test_aws_timestamps.py``) and normalises them as botocore's ``parse_to_aware_datetime`` does: the
values and formats of every response are unchanged. Test: ``tests/lab/test_s3_listing.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_MARK = "_skyvault_serializer_timestamps_model"


def apply() -> None:
    import moto.core.serialize as serialize
    from dateutil.tz import tzutc  # type: ignore[import-untyped]  # botocore depends on python-dateutil

    from skyvault.aws.timestamps import parse_timestamp

    if getattr(serialize, _MARK, False):
        return
    original = getattr(serialize, "parse_to_aware_datetime")  # noqa: B009 - imported there from botocore.utils
    utc = tzutc()

    def parse_to_aware_datetime(value: Any) -> datetime:
        if not isinstance(value, str):
            result: datetime = original(value)
            return result
        parsed = parse_timestamp(value)  # what botocore.utils.parse_to_aware_datetime parses a string with
        return parsed.replace(tzinfo=utc) if parsed.tzinfo is None else parsed.astimezone(utc)

    setattr(serialize, "parse_to_aware_datetime", parse_to_aware_datetime)  # noqa: B010
    setattr(serialize, _MARK, True)
