"""The S3 driver: discovery only for now (backup and restore into the library are issue 13).

Bucket names are global: S3 is discovered once per account (``account_discoverers``), not per region.
"""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.s3.discover import discover_buckets

DRIVER = ServiceDriver(
    name="s3",
    docs="docs/discovery.md",
    permission_rows=("s3",),
    account_discoverers={"s3": discover_buckets},
    restore_options=frozenset({"bucket", "prefix"}),
)
