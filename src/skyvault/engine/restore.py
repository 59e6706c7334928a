"""Restore dispatch: one handler per recovery-point kind, registered by the module that implements it.

The CLI builds a ``RestoreRequest`` from its options and calls ``restore``; the handler returns a JSON-able
dict describing what it created (the ``--json`` output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.errors import NotBuiltError


@dataclass(frozen=True)
class RestoreRequest:
    point: RecoveryPoint
    catalog: Catalog
    target: str = "new"  # "new" | "original"
    confirmed: bool = False  # --yes (or an interactive confirmation) for target=original
    to_file: Path | None = None
    account: str | None = None
    region: str | None = None
    source: str | None = None  # "snapshot" | "library"
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # service options: instance_type, subnet, ...
    context: Any = None  # the CLI's AppState-like object: config, factory(), libraries


Restorer = Callable[[RestoreRequest], dict[str, Any]]
_RESTORERS: dict[str, Restorer] = {}


def register_restorer(kind: str, restorer: Restorer) -> None:
    _RESTORERS[kind] = restorer


def restore(request: RestoreRequest) -> dict[str, Any]:
    handler = _RESTORERS.get(request.point.kind)
    if handler is None:
        raise NotBuiltError(f"restoring {request.point.kind!r} recovery points is not built yet")
    return handler(request)
