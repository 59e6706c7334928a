"""A faster timestamp parser for botocore's responses, with botocore's own results.

botocore parses every timestamp of a response (each ``LastModified`` of an S3 listing, 1,000 a page) with
``botocore.utils.parse_timestamp``, which tries ``float(value)`` and then ``dateutil.parser.parse``: about 35 µs
a value, more than the rest of a listed object's client-side cost. AWS sends timestamps in few forms (the
Smithy ``timestamp`` formats: ``date-time``, ISO 8601 / RFC 3339 such as ``2026-12-03T07:03:26.000Z`` in XML and
query protocols; ``http-date``, RFC 7231 such as ``Thu, 03 Dec 2026 07:03:26 GMT`` in headers; ``epoch-seconds``
numbers in JSON protocols). ``parse_timestamp`` reads the first two directly (a few µs) into exactly what
dateutil returns: the same instant; for UTC and a zero offset ``tzutc()``, or ``tzlocal()`` where the local zone
is named UTC; ``tzoffset(None, seconds)`` otherwise; fractions beyond microseconds truncated. Anything else, or
anything these forms would read as an invalid date, goes to botocore's parser unchanged. ``install`` makes it a
botocore session's default (the documented ``ResponseParserFactory.set_parser_defaults(timestamp_parser=...)``),
before that session creates clients.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp as botocore_parse_timestamp
from dateutil.tz import tzoffset, tzutc  # type: ignore[import-untyped]  # botocore depends on python-dateutil

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):?(\d\d))\Z", re.ASCII)
_HTTP_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT\Z")
_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                       "Dec"), start=1)}  # fmt: skip
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_UTC = tzutc()


_ZERO_ZONES: dict[str, Any] = {}


def _zero_zone(suffix: str) -> Any:
    """The zone dateutil gives a UTC time written with ``suffix``: ``tzutc()``, or ``tzlocal()`` where the local zone
    is named UTC (dateutil prefers a local zone of that name; it depends only on the process's zone, so asked once)."""
    zone = _ZERO_ZONES.get(suffix)
    if zone is None:
        zone = _ZERO_ZONES[suffix] = botocore_parse_timestamp(f"2000-01-01T00:00:00{suffix}").tzinfo
    return zone


def _fast(value: str) -> datetime | None:
    iso = _ISO.match(value)
    if iso is not None:
        year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = iso.groups()
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        if zulu:
            zone: Any = _zero_zone("Z")
        else:
            offset = (int(off_h) * 60 + int(off_m)) * 60 * (-1 if sign == "-" else 1)
            if offset == 0:
                zone = _zero_zone("+00:00")
            elif abs(offset) >= 86400:
                return None
            else:
                zone = tzoffset(None, offset)
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone)
    http = _HTTP_DATE.match(value)
    if http is not None:
        _, day, month_name, year, hour, minute, second = http.groups()
        month = _MONTHS.get(month_name)
        if month is None:
            return None
        parsed = datetime(int(year), month, int(day), int(hour), int(minute), int(second), 0, _UTC)
        if _WEEKDAYS[parsed.weekday()] != http.group(1):
            return None  # a weekday that contradicts the date: leave it to botocore's parser
        return parsed
    return None


def parse_timestamp(value: Any) -> datetime:
    """botocore's ``parse_timestamp``, faster for AWS's ISO 8601 and HTTP-date strings (same results)."""
    if isinstance(value, str):
        try:
            parsed = _fast(value)
        except ValueError:  # e.g. February 30th: botocore's parser decides what that is
            parsed = None
        if parsed is not None:
            return parsed
    result: datetime = botocore_parse_timestamp(value)
    return result


def install(session: Any) -> None:
    """Make ``parse_timestamp`` the timestamp parser of clients the botocore ``session`` creates from now on."""
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
