"""Backup plans: what a plan selects right now (through discovery), and one run of it through a dispatcher.

Selection (``select``, pure): a discovered resource is selected when its service is one of the plan's, its account
and region are in the plan's scope, and either its ID is in ``ids`` or every tag selector of ``tags`` matches it
(``key=value``: that value; ``key``: any value; no ``tags`` and no ``ids``: every resource of the services); then
``exclude_ids`` and any matching ``exclude_tags`` take it out again (the reason is kept: ``plans show`` prints it).

A run (``run_plan``) records one ``plan_runs`` row for (plan, scheduled time), unique in the catalog, so a slot runs
once however many schedulers race; then it submits one job per selected resource through a ``JobDispatcher``
(in-process threads, or Celery workers) with ``queue`` = the resource's region and ``run_key`` =
``plan/scheduled-time/account/region/resource``, waits for them, and records what happened in the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, Job, PlanRun
from skyvault.config import PlanConfig, SkyvaultConfig, parse_tag_selector
from skyvault.engine.discovery import Failure, discover
from skyvault.errors import ConflictError
from skyvault.jobs.spec import JobSpec
from skyvault.services import registry
from skyvault.services.base import Resource
from skyvault.services.contract import PlanTarget

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.engine.dispatch import JobDispatcher


def tags_match(tags: Mapping[str, str], selectors: Iterable[str]) -> list[str]:
    """The selectors ``tags`` satisfy (``key=value``: equal value; ``key``: present with any value)."""
    matched = []
    for selector in selectors:
        key, value = parse_tag_selector(selector)
        if key in tags and (value is None or tags[key] == value):
            matched.append(selector)
    return matched


@dataclass(frozen=True)
class Excluded:
    resource: Resource
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**_brief(self.resource), "reason": self.reason}


@dataclass
class Selection:
    """What a plan selects among discovered resources, what it left out and why, and what discovery missed."""

    plan: str
    selected: list[Resource] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)  # explicit ids discovery did not find
    failures: list[Failure] = field(default_factory=list)


def _brief(resource: Resource) -> dict[str, Any]:
    return {
        "account": resource.account,
        "region": resource.region,
        "service": resource.service,
        "id": resource.id,
        "name": resource.name,
        "tags": dict(resource.tags),
    }


def in_scope(config: SkyvaultConfig, plan: PlanConfig, resource: Resource) -> bool:
    accounts = plan.accounts or list(config.accounts)
    return (
        resource.service in plan.services
        and resource.account in accounts
        and (not plan.regions or resource.region in plan.regions)
    )


def select(name: str, config: SkyvaultConfig, plan: PlanConfig, resources: Iterable[Resource]) -> Selection:
    """The plan's selection among ``resources`` (pure: no AWS call)."""
    selection = Selection(plan=name)
    found: set[str] = set()
    for resource in resources:
        if not in_scope(config, plan, resource):
            continue
        found.add(resource.id)
        by_id = resource.id in plan.ids
        by_tags = bool(plan.tags) and len(tags_match(resource.tags, plan.tags)) == len(plan.tags)
        if not (by_id or by_tags or (not plan.tags and not plan.ids)):
            continue
        if resource.id in plan.exclude_ids:
            selection.excluded.append(Excluded(resource, "exclude_ids"))
            continue
        excluding = tags_match(resource.tags, plan.exclude_tags)
        if excluding:
            selection.excluded.append(Excluded(resource, f"exclude_tags: {', '.join(excluding)}"))
            continue
        selection.selected.append(resource)
    selection.missing_ids = [i for i in plan.ids if i not in found]
    return selection


def resolve(factory: ClientFactory, name: str, *, max_workers: int = 8) -> Selection:
    """Discover the plan's scope now and select from it."""
    config = factory.config
    plan = config.plan(name)
    found = discover(
        factory,
        accounts=plan.accounts or None,
        regions=plan.regions or None,
        services=plan.services,
        max_workers=max_workers,
    )
    selection = select(name, config, plan, found.resources)
    selection.failures = found.failures
    return selection


def target_of(config: SkyvaultConfig, plan: PlanConfig, resource: Resource) -> PlanTarget:
    mode = plan.mode(resource.service)
    return PlanTarget(
        service=resource.service,
        resource_id=resource.id,
        account=resource.account,
        region=resource.region,
        mode=mode,
        library=(plan.library or config.default_library) if mode != "native" else None,
        copy_to_region=plan.copies.region,
        copy_to_account=plan.copies.account,
    )


def run_key(plan: str, scheduled_for: datetime, target: PlanTarget) -> str:
    """One job per resource per scheduled run: the key the catalog keeps unique."""
    return f"{plan}/{scheduled_for.isoformat()}/{target.account}/{target.region}/{target.resource_id}"


def job_for(target: PlanTarget) -> JobSpec:
    """One target's backup job, from its driver's ``plan_backups``."""
    owner = registry.driver_for_kind(target.service)
    return owner.plan_backups[target.service].spec(target)


@dataclass
class PlanRunOutcome:
    run: PlanRun
    jobs: list[tuple[PlanTarget, Job]]
    selection: Selection

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.run.plan,
            "run": self.run.to_dict(),
            "jobs": [job_json(target, job) for target, job in self.jobs],
            "excluded": [e.to_json() for e in self.selection.excluded],
            "missing_ids": self.selection.missing_ids,
            "discovery_failures": [f.to_json() for f in self.selection.failures],
        }


def job_json(target: PlanTarget, job: Job) -> dict[str, Any]:
    return {
        "account": target.account,
        "region": target.region,
        "service": target.service,
        "resource": target.resource_id,
        "mode": target.mode,
        "job": job.id,
        "status": job.status,
        "error": job.error,
        "duration_s": job.duration_s,
    }


def run_plan(
    dispatcher: JobDispatcher,
    catalog: Catalog,
    config: SkyvaultConfig,
    name: str,
    selection: Selection,
    *,
    scheduled_for: datetime,
    now: datetime,
    trigger: str,
    timeout_s: float | None = None,
    run: PlanRun | None = None,
) -> PlanRunOutcome:
    """One run of plan ``name`` for ``scheduled_for`` (in ``run``, the slot's row the caller claimed, or in a new
    row). ``ConflictError`` when that slot has a run already."""
    plan = config.plan(name)
    if run is None:
        run = catalog.start_plan_run(name, scheduled_for, now=now, trigger=trigger)
    if run is None:
        raise ConflictError(f"plan {name} already has a run for {scheduled_for.isoformat()}")
    targets = [target_of(config, plan, resource) for resource in selection.selected]
    submitted: list[tuple[PlanTarget, str]] = []
    try:
        for target in targets:
            key = run_key(name, scheduled_for, target)
            job_id = dispatcher.submit(job_for(target), queue=target.region, run_key=key)
            submitted.append((target, job_id))
        jobs = dispatcher.wait([job_id for _, job_id in submitted], timeout_s=timeout_s)
    except BaseException as exc:
        catalog.finish_plan_run(run.id, status="failed", error=str(exc)[:2000], summary=_summary(selection, []))
        raise
    pairs = [(target, job) for (target, _), job in zip(submitted, jobs, strict=True)]
    summary = _summary(selection, pairs)
    failed = [p for p in pairs if p[1].status not in ("completed", "completed-with-leftovers")]
    problems = [f"{t.resource_id}: {j.error or j.status}" for t, j in failed]
    problems += [
        f"discovery {f.account}/{f.region or '-'}/{f.service or '-'}: {f.error.message}" for f in selection.failures
    ]
    problems += [f"{i}: not found by discovery" for i in selection.missing_ids]
    finished = catalog.finish_plan_run(
        run.id,
        status="failed" if problems else "completed",
        error="; ".join(problems)[:4000] or None,
        summary=summary,
    )
    return PlanRunOutcome(finished, pairs, selection)


def _summary(selection: Selection, pairs: list[tuple[PlanTarget, Job]]) -> dict[str, Any]:
    return {
        "selected": len(selection.selected),
        "jobs": [
            {
                "resource": t.resource_id,
                "account": t.account,
                "region": t.region,
                "service": t.service,
                "job": j.id,
                "status": j.status,
            }
            for t, j in pairs
        ],
        "completed": sum(1 for _, j in pairs if j.status in ("completed", "completed-with-leftovers")),
        "failed": sum(1 for _, j in pairs if j.status not in ("completed", "completed-with-leftovers")),
        "discovery_failures": len(selection.failures),
        "missing_ids": list(selection.missing_ids),
    }
