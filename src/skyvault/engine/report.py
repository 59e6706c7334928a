"""``skyvault report``: how well the estate is protected, from discovery, the plans and the catalog.

- per resource that a plan selects: its newest good recovery point and that point's age against the RPO its plans'
  schedules promise (the longest gap between two slots; the shortest over its plans). ``ok`` within
  ``LATE_FACTOR`` x RPO (a slot plus the run's own time), ``late`` beyond, ``never`` without any point, ``manual``
  when no plan of it has a schedule; with the failed backups since that point and their reasons;
- unprotected: resources discovery finds in the services plans can back up that no plan selects;
- per plan: its jobs' success rate and durations, its runs, missed and failed;
- per library: logical bytes (every snapshot's size) against the bytes stored (packs), from ``library_stats``;
- protection over time: per day, the share of the selected resources whose newest point then was within the RPO.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, Job, RecoveryPoint
from skyvault.config import PLAN_MODES
from skyvault.engine import cron
from skyvault.engine.discovery import discover
from skyvault.engine.plans import select
from skyvault.errors import ConfigError
from skyvault.services.base import Resource
from skyvault.services.s3.locations import parse_location

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory

CHART_DAYS = 30
FAILURES_SHOWN = 5
LibraryStats = Callable[[str], dict[str, Any]]  # library name -> library_stats(...) (raises when it cannot open it)


@dataclass(frozen=True)
class _Key:
    account: str
    region: str
    resource: str


def job_resources(params: Mapping[str, Any]) -> list[str]:
    """The resource IDs (as discovery names them) a backup job's parameters name: EC2's ``instance_id``, the
    database drivers' ``resources``, DynamoDB's ``tables``, S3's ``locations`` (a bucket, or a prefix of one)."""
    found = [str(params["instance_id"])] if params.get("instance_id") else []
    found += [str(r) for r in params.get("resources") or []]
    found += [str(t) for t in params.get("tables") or []]
    for location in params.get("locations") or []:
        try:
            found.append(parse_location(str(location)).bucket)
        except ConfigError:  # a job recorded with a location this version cannot read: name it as it was
            found.append(str(location))
    return found


def _usable(point: RecoveryPoint, at: datetime) -> bool:
    """The point existed and was restorable at ``at``."""
    if point.status not in ("completed", "expired") or point.created_at > at:
        return False
    return point.status == "completed" or (point.expires_at is not None and point.expires_at > at)


def build_report(
    factory: ClientFactory,
    catalog: Catalog | None,
    *,
    now: datetime,
    library_stats: LibraryStats,
    resources: Iterable[Resource] | None = None,
) -> dict[str, Any]:
    """The report's data (the ``--format json`` shape). ``resources``: discovered already (else discovered here)."""
    config = factory.config
    failures: list[dict[str, Any]] = []
    if resources is None:
        found = discover(factory, services=list(PLAN_MODES)) if config.accounts else None
        resources = found.resources if found else []
        failures = [f.to_json() for f in found.failures] if found else []
    resources = [r for r in resources if r.service in PLAN_MODES]  # what plans can back up (EBS: with its instance)
    points = catalog.recovery_points(status=None) if catalog else []
    jobs = catalog.jobs() if catalog else []
    by_resource: dict[_Key, list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        by_resource[_Key(point.account, point.region, point.resource_id)].append(point)
    failed_jobs: dict[_Key, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.kind.startswith("backup-") and job.status in ("failed", "abandoned"):
            for resource_id in job_resources(job.params):
                account, region = str(job.params.get("account", "")), str(job.params.get("region", ""))
                failed_jobs[_Key(account, region, resource_id)].append(job)

    plans_of: dict[_Key, list[str]] = defaultdict(list)
    for name, plan in config.plans.items():
        for resource in select(name, config, plan, resources).selected:
            plans_of[_Key(resource.account, resource.region, resource.id)].append(name)
    rpos = {
        name: cron.rpo(plan.schedule, plan.timezone, now=now) if plan.schedule else None
        for name, plan in config.plans.items()
    }
    rows: list[dict[str, Any]] = []
    unprotected: list[dict[str, Any]] = []
    tracked: list[tuple[_Key, timedelta]] = []
    for resource in resources:
        key = _Key(resource.account, resource.region, resource.id)
        brief = {"account": resource.account, "region": resource.region, "service": resource.service,
                 "id": resource.id, "name": resource.name}  # fmt: skip
        if key not in plans_of:
            unprotected.append({**brief, "tags": dict(resource.tags)})
            continue
        rows.append(_resource_row(brief, key, plans_of[key], rpos, by_resource[key], failed_jobs[key], now))
        rpo = min((r for r in (rpos[p] for p in plans_of[key]) if r is not None), default=None)
        if rpo is not None:
            tracked.append((key, rpo))
    return {
        "generated_at": now.isoformat(),
        "resources": rows,
        "unprotected": unprotected,
        "plans": [_plan_row(name, catalog, jobs, now) for name in config.plans],
        "libraries": [_library_row(name, library_stats) for name in config.libraries],
        "protection_over_time": _over_time(tracked, by_resource, now),
        "discovery_failures": failures,
    }


def _resource_row(
    brief: dict[str, Any],
    key: _Key,
    plans: list[str],
    rpos: dict[str, timedelta | None],
    points: list[RecoveryPoint],
    failed: list[Job],
    now: datetime,
) -> dict[str, Any]:
    rpo = min((r for r in (rpos[p] for p in plans) if r is not None), default=None)
    good = [p for p in points if p.status == "completed"]
    last = max(good, key=lambda p: (p.created_at, p.id)) if good else None
    age = (now - last.created_at) if last else None
    if last is None or age is None:
        status = "never"
    elif rpo is None:
        status = "manual"
    else:
        status = "ok" if age <= rpo * cron.LATE_FACTOR else "late"
    since = [j for j in failed if last is None or j.created_at > last.created_at]
    since.sort(key=lambda j: j.created_at, reverse=True)
    return {
        **brief,
        "plans": plans,
        "rpo_s": rpo.total_seconds() if rpo else None,
        "last_good": {
            "recovery_point": last.id,
            "created_at": last.created_at.isoformat(),
            "age_s": round(age.total_seconds()),
        }
        if last and age is not None
        else None,
        "status": status,
        "failures": [{"job": j.id, "at": j.created_at.isoformat(), "error": j.error} for j in since[:FAILURES_SHOWN]],
        "failures_since_last_good": len(since),
    }


def _plan_row(name: str, catalog: Catalog | None, jobs: list[Job], now: datetime) -> dict[str, Any]:
    prefix = f"{name}/"
    mine = [j for j in jobs if j.run_key and j.run_key.startswith(prefix)]
    finished = [j for j in mine if j.status not in ("queued", "running")]
    good = [j for j in finished if j.status in ("completed", "completed-with-leftovers")]
    durations = [j.duration_s for j in finished if j.duration_s is not None]
    runs = catalog.plan_runs(name) if catalog else []
    return {
        "plan": name,
        "jobs": len(mine),
        "completed": len(good),
        "failed": len(finished) - len(good),
        "success_rate": round(len(good) / len(finished), 4) if finished else None,
        "mean_duration_s": round(sum(durations) / len(durations), 3) if durations else None,
        "max_duration_s": max(durations) if durations else None,
        "runs": len([r for r in runs if r.status not in ("missed", "skipped")]),
        "missed_runs": len([r for r in runs if r.status == "missed"]),
        "failed_runs": len([r for r in runs if r.status in ("failed", "interrupted")]),
        "last_run": runs[0].to_dict() if runs else None,
    }


def _library_row(name: str, library_stats: LibraryStats) -> dict[str, Any]:
    try:
        stats = library_stats(name)
    except Exception as exc:  # a library the report cannot open (no passphrase here): say so, report the rest
        return {"library": name, "error": str(exc)[:300]}
    return {
        "library": name,
        "snapshots": stats["snapshots"],
        "logical_bytes": stats["logical_bytes"],
        "stored_bytes": stats["stored_bytes"],
        "ratio": stats["total_ratio"],
    }


def _over_time(
    tracked: list[tuple[_Key, timedelta]], by_resource: dict[_Key, list[RecoveryPoint]], now: datetime
) -> list[dict[str, Any]]:
    days = []
    for back in range(CHART_DAYS - 1, -1, -1):
        at = now - timedelta(days=back)
        protected = 0
        for key, rpo in tracked:
            usable = [p.created_at for p in by_resource[key] if _usable(p, at)]
            if usable and at - max(usable) <= rpo * cron.LATE_FACTOR:
                protected += 1
        total = len(tracked)
        days.append({"date": at.date().isoformat(), "protected": protected, "total": total,
                     "ratio": round(protected / total, 4) if total else None})  # fmt: skip
    return days
