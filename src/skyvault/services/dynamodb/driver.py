"""The DynamoDB driver: discovery only for now (backup and restore into the library are issue 13)."""

from __future__ import annotations

from skyvault.services.contract import ServiceDriver
from skyvault.services.dynamodb.discover import discover_tables

DRIVER = ServiceDriver(
    name="dynamodb",
    docs="docs/discovery.md",
    permission_rows=("dynamodb",),
    discoverers={"dynamodb": discover_tables},
    restore_options=frozenset({"table_name"}),
)
