"""What ``skyvault backup s3`` is given: ``BUCKET[/PREFIX]`` or an S3 on Outposts access point ARN (``[/PREFIX]``).

An S3 on Outposts bucket is addressed through an access point ARN,
``arn:aws:s3-outposts:REGION:ACCOUNT:outpost/OUTPOST_ID/accesspoint/NAME``: botocore's S3 client takes it as the
``Bucket`` parameter and sends the request to the s3-outposts endpoint, signed for ``s3-outposts``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skyvault.errors import ConfigError

_OUTPOSTS_ARN = re.compile(
    r"^(arn:(?P<partition>[a-z-]+):s3-outposts:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"outpost/(?P<outpost>op-[0-9a-f]+)/accesspoint/(?P<name>[a-z0-9-]{3,50}))(?:/(?P<prefix>.*))?$"
)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    """One backup source: the ``Bucket`` parameter the S3 API is called with, and a key prefix ("" for all)."""

    bucket: str  # a bucket name, or an Outposts access point ARN
    prefix: str = ""

    @property
    def outposts(self) -> bool:
        return self.bucket.startswith("arn:") and ":s3-outposts:" in self.bucket

    @property
    def region(self) -> str | None:
        """The region an access point ARN names (a bucket name does not say)."""
        match = _OUTPOSTS_ARN.match(self.bucket)
        return match["region"] if match else None

    @property
    def source(self) -> str:
        """The recovery point's resource ID and the library snapshot's source: ``bucket`` or ``bucket/prefix``."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def arn(self, partition: str = "aws") -> str:
        return self.bucket if self.bucket.startswith("arn:") else f"arn:{partition}:s3:::{self.bucket}"


def parse_location(text: str) -> S3Location:
    """``BUCKET``, ``BUCKET/PREFIX``, ``s3://BUCKET/PREFIX`` or an Outposts access point ARN with an optional
    ``/PREFIX``."""
    text = text.removeprefix("s3://")
    if text.startswith("arn:"):
        match = _OUTPOSTS_ARN.match(text)
        if not match:
            raise ConfigError(
                f"not an S3 on Outposts access point ARN: {text!r}",
                hint="arn:aws:s3-outposts:REGION:ACCOUNT:outpost/OUTPOST_ID/accesspoint/NAME[/PREFIX]",
            )
        return S3Location(match.group(1), match["prefix"] or "")
    bucket, _, prefix = text.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(f"not an S3 bucket name: {bucket!r}", hint="BUCKET[/PREFIX] or an Outposts access point ARN")
    return S3Location(bucket, prefix)
