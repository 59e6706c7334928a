"""A plan's retention applied to the recovery points its runs made (``engine.gfs`` decides, this acts).

A plan owns the points of its jobs (``run_key`` ``<plan>/...``); points of ad-hoc ``backup ec2|rds ...`` commands
and of other plans are never touched here. Per resource (kind, account, region, resource ID) ``gfs.decide`` keeps or
expires each completed point: never one under a legal hold, never the newest library copy of the resource in its
library (the next backup's incremental base), never one younger than ``min_age_days``.

Expiring a point: its kind's driver deletes the native snapshots/backups it owns (``registry.expirer_for``: only
those carrying skyvault's tag), the point is marked ``expired``; then, per library, the manifests of expired points
that no live point still names are deleted and the library is pruned, under the library's exclusive lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, RecoveryPoint
from skyvault.config import SkyvaultConfig
from skyvault.engine.gfs import Candidate, Rules, decide
from skyvault.library.format import SNAPSHOTS
from skyvault.library.prune import prune
from skyvault.services import registry

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.services.contract import LibraryOpener

log = logging.getLogger(__name__)


def library_snapshots(point: RecoveryPoint) -> set[str]:
    """Every library snapshot (manifest) a point names: its own, and per volume for EC2."""
    named = {point.library_snapshot} if point.library_snapshot else set()
    named.update(str(s) for s in (point.captured_config.get("library_snapshots") or {}).values())
    return named


def incremental_bases(points: Iterable[RecoveryPoint]) -> set[str]:
    """The newest completed library copy of each resource in each library and place: the next backup's base."""
    newest: dict[tuple[str, str, str, str, str], RecoveryPoint] = {}
    for point in points:
        if point.status != "completed" or not point.library or not library_snapshots(point):
            continue
        key = (point.kind, point.resource_id, point.account, point.region, point.library)
        held = newest.get(key)
        if held is None or (point.created_at, point.id) > (held.created_at, held.id):
            newest[key] = point
    return {point.id for point in newest.values()}


def rules_of(config: SkyvaultConfig, plan: str) -> Rules:
    chosen = config.plan(plan)
    r = chosen.retention
    return Rules(
        keep_last=r.keep_last, daily=r.daily, weekly=r.weekly, monthly=r.monthly, yearly=r.yearly,
        min_age=timedelta(days=r.min_age_days), timezone=chosen.timezone,
    )  # fmt: skip


@dataclass
class RetentionReport:
    plan: str
    dry_run: bool
    kept: dict[str, list[str]] = field(default_factory=dict)
    expired: list[dict[str, Any]] = field(default_factory=list)
    snapshots_deleted: int = 0
    library_snapshots_forgotten: dict[str, int] = field(default_factory=dict)
    prune: dict[str, dict[str, object]] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "dry_run": self.dry_run,
            "kept": self.kept,
            "expired": self.expired,
            "snapshots_deleted": self.snapshots_deleted,
            "library_snapshots_forgotten": self.library_snapshots_forgotten,
            "prune": self.prune,
            "failed": self.failed,
        }

    def line(self) -> str:
        verb = "would expire" if self.dry_run else "expired"
        text = f"retention of plan {self.plan}: kept {len(self.kept)}, {verb} {len(self.expired)}"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


def plan_points(catalog: Catalog, plan: str) -> list[RecoveryPoint]:
    jobs = catalog.plan_job_ids(plan)
    return [p for p in catalog.recovery_points(status="completed") if p.job_id in jobs]


def decide_plan(catalog: Catalog, config: SkyvaultConfig, plan: str, now: datetime) -> RetentionReport:
    """What the plan's rules keep and expire now (changes nothing)."""
    report = RetentionReport(plan=plan, dry_run=True)
    rules = rules_of(config, plan)
    owned = plan_points(catalog, plan)
    bases = incremental_bases(catalog.recovery_points(status="completed"))
    groups: dict[tuple[str, str, str, str], list[RecoveryPoint]] = defaultdict(list)
    for point in owned:
        groups[(point.kind, point.account, point.region, point.resource_id)].append(point)
    for points in groups.values():
        by_id = {p.id: p for p in points}
        candidates = [Candidate(p.id, p.created_at, held=bool(p.hold_reason), base=p.id in bases) for p in points]
        decision = decide(candidates, rules, now)
        report.kept.update(decision.keep)
        report.expired.extend(_brief(by_id[i]) for i in decision.expire)
    return report


def _brief(point: RecoveryPoint) -> dict[str, Any]:
    return {
        "recovery_point": point.id,
        "kind": point.kind,
        "resource": point.resource_id,
        "account": point.account,
        "region": point.region,
        "created_at": point.created_at.isoformat(),
    }


def apply_retention(
    catalog: Catalog,
    factory: ClientFactory,
    config: SkyvaultConfig,
    plan: str,
    *,
    now: datetime,
    open_library: LibraryOpener,
    dry_run: bool = False,
) -> RetentionReport:
    """Expire what the plan's rules do not keep; one failure stops no other (the next run tries again)."""
    report = decide_plan(catalog, config, plan, now)
    report.dry_run = dry_run
    if dry_run or not report.expired:
        return report
    done: list[dict[str, Any]] = []
    forget: dict[str, set[str]] = defaultdict(set)
    for entry in report.expired:
        point = catalog.recovery_point(entry["recovery_point"])
        if point.hold_reason:  # held since the decision: the hold wins
            report.kept[point.id] = ["legal hold"]
            continue
        expirer = registry.expirer_for(point.kind)
        try:
            report.snapshots_deleted += expirer(factory, point) if expirer is not None else 0
        except Exception as exc:
            report.failed.append({"recovery_point": point.id, "error": str(exc)[:500]})
            continue
        catalog.update_recovery_point(point.id, status="expired", expires_at=now)
        done.append(entry)
    report.expired = done
    if done:
        # Every expired point of the plan, not only this run's: manifests a failed earlier attempt left go now.
        jobs = catalog.plan_job_ids(plan)
        still_named: dict[str, set[str]] = defaultdict(set)
        for point in catalog.recovery_points(status=None):
            if not point.library:
                continue
            if point.status == "expired" and point.job_id in jobs:
                forget[point.library].update(library_snapshots(point))
            elif point.status != "expired":
                still_named[point.library].update(library_snapshots(point))
        for library, snapshots in sorted(forget.items()):
            _forget_and_prune(report, open_library, library, snapshots - still_named[library])
    return report


def _forget_and_prune(report: RetentionReport, open_library: LibraryOpener, library: str, doomed: set[str]) -> None:
    if not doomed:
        return
    try:
        repo = open_library(library)
        try:
            with repo.lock(exclusive=True, purpose=f"retention of plan {report.plan}"):
                present = set(repo.snapshot_ids())
                for snapshot_id in sorted(doomed & present):
                    repo.backend.delete(f"{SNAPSHOTS}/{snapshot_id}")
                report.library_snapshots_forgotten[library] = len(doomed & present)
                report.prune[library] = prune(repo).to_dict()
        finally:
            repo.close()
    except Exception as exc:  # the points are expired; their data goes with the next prune that succeeds
        log.warning("library %s: could not forget expired snapshots and prune: %s", library, exc)
        report.failed.append({"library": library, "error": str(exc)[:500]})
