"""Retention: recovery points past their ``expires_at`` are expired by the driver of their kind.

The driver of a point's kind declares its expirer (``ServiceDriver.expirers``, found with
``registry.expirer_for``): it deletes the point's native snapshots and copies that carry skyvault's tag (never
anything else) and returns how many it deleted. The point is then marked
``expired`` in the catalog; its captured configuration and stats stay for the record. A point under a legal hold
is never due, whatever its ``expires_at`` (plans' retention: ``engine.planretention``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.services import registry

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory


@dataclass
class ExpiryReport:
    expired: list[str] = field(default_factory=list)
    snapshots_deleted: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    failed_errors: dict[str, Exception] = field(default_factory=dict)
    skipped_kinds: set[str] = field(default_factory=set)


def due(catalog: Catalog, now: datetime) -> list[RecoveryPoint]:
    """Completed points whose ``expires_at`` has come, except those under a legal hold (``backups hold``)."""
    return [point for point in catalog.recovery_points(expires_by=now) if not point.hold_reason]


def expire_due(
    catalog: Catalog, factory: ClientFactory, *, now: datetime | None = None, only: set[str] | None = None
) -> ExpiryReport:
    """Expire every completed point whose time has come (or those of ``only``); one failure stops no other."""
    report = ExpiryReport()
    for point in due(catalog, now or datetime.now(UTC)):
        if only is not None and point.id not in only:
            continue
        expirer = registry.expirer_for(point.kind)
        if expirer is None:
            report.skipped_kinds.add(point.kind)
            continue
        try:
            report.snapshots_deleted += expirer(factory, point)
        except Exception as exc:  # reported per point; the next run tries again
            report.failed[point.id] = str(exc)[:500]
            report.failed_errors[point.id] = exc
            continue
        catalog.update_recovery_point(point.id, status="expired")
        report.expired.append(point.id)
    return report
