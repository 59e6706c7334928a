"""A step's state dict <-> the columns of its ``job_steps`` row, losslessly.

Job code records free-form JSON-able states (``{"status": "done", "result": ..., "duration_s": 0.3}``,
``{"status": "done", "deleted": 2}``...). The well-known keys get typed columns so they can be queried; any key
whose value does not fit its column, and every other key, goes to ``extra``. ``state_of(columns_of(s)) == s``
for every state, key order included for the states skyvault writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TERMINAL = ("done", "failed")


@dataclass
class StepColumns:
    status: str | None = None
    has_result: bool = False
    result: Any = None
    error: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _time(value: Any) -> datetime | None:
    """An aware ISO time that prints back exactly as given, else None (then it is kept verbatim in extra)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.astimezone(UTC).isoformat() != value:
        return None
    return moment.astimezone(UTC)


def columns_of(state: dict[str, Any]) -> StepColumns:
    columns = StepColumns()
    for key, value in state.items():
        if key == "status" and isinstance(value, str):
            columns.status = value
        elif key == "result":
            columns.has_result, columns.result = True, value
        elif key == "error" and isinstance(value, str):
            columns.error = value
        elif key == "started_at" and _time(value) is not None:
            columns.started_at = _time(value)
        elif key == "duration_s" and type(value) is float:
            columns.duration_s = value
        else:
            columns.extra[key] = value
    return columns


def state_of(columns: StepColumns) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if columns.status is not None:
        state["status"] = columns.status
    if columns.started_at is not None:
        state["started_at"] = columns.started_at.isoformat()
    if columns.has_result:
        state["result"] = columns.result
    if columns.error is not None:
        state["error"] = columns.error
    if columns.duration_s is not None:
        state["duration_s"] = columns.duration_s
    state.update(columns.extra)
    return state
