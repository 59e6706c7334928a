"""Model: DynamoDB applies every item write atomically, however many writers a table has at once.

Real AWS: each PutItem, DeleteItem and each write of a BatchWriteItem is applied atomically to its item; writers
of the same partition key at the same moment never lose one another's items (DynamoDB developer guide, "Read
consistency" and "Working with items": every write is durable once acknowledged).

moto 5.2.1 keeps a table's items in a dict keyed by ``DynamoType`` objects whose ``__hash__`` and ``__eq__`` are
Python code, so the interpreter can switch threads in the middle of an insert: two server threads adding the first
items of one partition key at once each create its inner dict, and one item is lost. The lab server runs a thread
per request, so a parallel restore (several BatchWriteItem of one partition key in flight) lost 2 items of 100,000
in a benchmark run; a scan iterating the dict while a write resizes it can fail too. This model serialises item
writes, scans and queries per table (reads and writes of different tables still run side by side).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_MARK = "_skyvault_dynamodb_item_writes_model"
_locks_lock = threading.Lock()
# By (account, region, table name), not on the table object: moto deep-copies tables (CreateBackup), and a lock
# cannot be copied.
_locks: dict[tuple[str, str, str], threading.RLock] = {}


def table_lock(table: Any) -> threading.RLock:
    key = (str(getattr(table, "account_id", "")), str(getattr(table, "region_name", "")), str(table.name))
    with _locks_lock:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with table_lock(self):
            return method(self, *args, **kwargs)

    return call


def apply() -> None:
    from moto.dynamodb.models.table import Table

    if getattr(Table, _MARK, False):
        return
    for name in ("put_item", "delete_item", "scan", "query", "get_item"):
        setattr(Table, name, _locked(getattr(Table, name)))
    setattr(Table, _MARK, True)
