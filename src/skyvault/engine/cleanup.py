"""``skyvault cleanup``: remove what crashed jobs left behind, by catalog record, tag and age; expire old points.

Three sweeps:
1. the catalog's live intermediates of jobs that hold no live lease (they ended, or their process died and
   stopped renewing) go through the same cleaners a job runs at its end. A job is dead ONLY when its lease has
   expired: however long a step takes, a job whose heartbeat runs keeps its intermediates. Each dead job's lease
   is taken while it is cleaned, so a ``jobs resume`` starting meanwhile cannot run beside the cleanup;
2. each driver's orphan sweep (``ServiceDriver.orphan_sweep``: EC2 looks for resources tagged
   ``skyvault:managed``) in every selected account and region, given the jobs whose lease is live so that their
   resources stay, and ``older_than`` below which resources are left alone;
3. recovery points past their retention (``backup ... --retain-days N``) are expired by their kind's driver
   (``engine.retention``), which deletes only their snapshots and copies that still carry skyvault's tag.

Nothing without skyvault's tag is ever touched; ``dry_run`` only lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skyvault.catalog import Catalog, IntermediateResource
from skyvault.engine.retention import due, expire_due
from skyvault.engine.runner import JobRunner
from skyvault.errors import NotFoundError
from skyvault.services import registry
from skyvault.services.contract import Orphan, OrphanSweep, SweepScope

ABANDONED = "abandoned"  # a "running" job whose process died: cleanup removed its intermediates


@dataclass(frozen=True)
class StaleIntermediate:
    job: str
    resource_type: str
    resource_id: str
    account: str
    region: str

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "type": self.resource_type,
            "id": self.resource_id,
            "account": self.account,
            "region": self.region,
        }


@dataclass(frozen=True)
class SweptOrphan:
    orphan: Orphan
    removed: bool | None = None  # None: not tried (dry run)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry = self.orphan.to_json()
        if self.removed is not None:
            entry["removed"] = self.removed
        if self.error is not None:
            entry["error"] = self.error
        return entry


@dataclass(frozen=True)
class ExpiringPoint:
    recovery_point: str
    kind: str
    resource: str
    expired: bool | None = None  # None: not tried (dry run)

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"recovery_point": self.recovery_point, "kind": self.kind, "resource": self.resource}
        if self.expired is not None:
            entry["expired"] = self.expired
        return entry


@dataclass
class CleanupReport:
    dry_run: bool
    intermediates: list[StaleIntermediate] = field(default_factory=list)
    orphans: list[SweptOrphan] = field(default_factory=list)
    failed: list[dict[str, str]] = field(
        default_factory=list
    )  # {"job", "id"} | {"id", "error"} | {"recovery_point", "error"}
    expired: list[ExpiringPoint] = field(default_factory=list)
    snapshots_expired: int | None = None  # None: nothing was expired (dry run, or no point due)

    def to_json(self) -> dict[str, Any]:
        """The ``skyvault --json cleanup`` shape (stable: scripts read it)."""
        data: dict[str, Any] = {
            "dry_run": self.dry_run,
            "intermediates": [i.to_json() for i in self.intermediates],
            "orphans": [o.to_json() for o in self.orphans],
            "failed": list(self.failed),
            "expired": [p.to_json() for p in self.expired],
        }
        if self.snapshots_expired is not None:
            data["snapshots_expired"] = self.snapshots_expired
        return data


def _registry_sweeps() -> list[OrphanSweep]:
    return [d.orphan_sweep for d in registry.all_drivers() if d.orphan_sweep is not None]


def targets_of(runner: JobRunner, accounts: Sequence[str], regions: Collection[str] | None) -> list[tuple[str, str]]:
    """(account, region) pairs to sweep: each account's configured regions, narrowed to ``regions`` if given."""
    if not accounts:
        return []
    config = runner.env.factory.config
    return [(a, r) for a in accounts for r in config.account(a).regions if not regions or r in regions]


def clean_up(
    runner: JobRunner,
    *,
    accounts: Sequence[str],
    regions: Collection[str] | None = None,
    older_than: timedelta,
    now: datetime | None = None,
    dry_run: bool = False,
    sweeps: Callable[[], list[OrphanSweep]] = _registry_sweeps,
) -> CleanupReport:
    """Run the three sweeps for ``accounts`` (and ``regions``); ``now`` decides which leases are live."""
    now = now or datetime.now(UTC)
    catalog = runner.catalog
    report = CleanupReport(dry_run=dry_run)
    _dead_jobs_intermediates(runner, now, report)
    live_jobs = frozenset(job.id for job in catalog.jobs() if job.lease_live(now))
    scope = SweepScope(older_than=older_than, now=now, live_jobs=live_jobs)
    targets = targets_of(runner, accounts, regions)
    for sweep in sweeps():
        for orphan in sweep.find(runner.env.factory, catalog, targets, scope):
            report.orphans.append(_remove(runner, sweep, orphan) if not dry_run else SweptOrphan(orphan))
            swept = report.orphans[-1]
            if swept.removed is False:
                report.failed.append({"id": orphan.resource_id, "error": swept.error or ""})
    _expire(catalog, runner, accounts, regions, now, report)
    return report


def _dead_jobs_intermediates(runner: JobRunner, now: datetime, report: CleanupReport) -> None:
    by_job: dict[str, list[IntermediateResource]] = defaultdict(list)
    for item in runner.catalog.stale_intermediates(now):
        by_job[item.job_id].append(item)
    for job_id, items in sorted(by_job.items()):
        report.intermediates.extend(
            StaleIntermediate(job_id, i.resource_type, i.id, i.account, i.region) for i in items
        )
        if not report.dry_run:
            report.failed.extend({"job": job_id, "id": leftover} for leftover in _clean_dead_job(runner, job_id, now))


def _clean_dead_job(runner: JobRunner, job_id: str, now: datetime) -> list[str]:
    """Delete a dead job's intermediates under its lease (none is taken for a job this catalog does not know)."""
    catalog = runner.catalog
    try:
        if not catalog.acquire_lease(job_id, runner.owner, runner.lease_s, now=now):
            return []  # resumed since the listing: its intermediates are the new run's
    except NotFoundError:
        return runner.cleanup(job_id)
    try:
        leftovers = runner.cleanup(job_id)
        if catalog.job(job_id).status == "running":
            catalog.update_job(job_id, status=ABANDONED, error="crashed; intermediates removed by cleanup")
        return leftovers
    finally:
        catalog.release_lease(job_id, runner.owner)


def _remove(runner: JobRunner, sweep: OrphanSweep, orphan: Orphan) -> SweptOrphan:
    try:
        sweep.remove(runner.env.factory, orphan)
    except Exception as exc:  # report and go on: one stuck resource must not strand the rest
        return SweptOrphan(orphan, removed=False, error=str(exc))
    return SweptOrphan(orphan, removed=True)


def _expire(
    catalog: Catalog,
    runner: JobRunner,
    accounts: Sequence[str],
    regions: Collection[str] | None,
    now: datetime,
    report: CleanupReport,
) -> None:
    expiring = [p for p in due(catalog, now) if p.account in accounts and (not regions or p.region in regions)]
    if not expiring or report.dry_run:
        report.expired = [ExpiringPoint(p.id, p.kind, p.resource_id) for p in expiring]
        return
    expiry = expire_due(catalog, runner.env.factory, now=now, only={p.id for p in expiring})
    report.snapshots_expired = expiry.snapshots_deleted
    report.failed.extend({"recovery_point": i, "error": e} for i, e in expiry.failed.items())
    report.expired = [ExpiringPoint(p.id, p.kind, p.resource_id, p.id in expiry.expired) for p in expiring]
