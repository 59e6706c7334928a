"""``skyvault schedule run``: runs each plan at its cron slots; safe with several schedulers at once.

Leadership: the schedulers share one row of the catalog's ``scheduler_leases`` table. Whoever takes it (one
conditional UPDATE: the row is free, expired, or already its own) leads for ``lease_s`` seconds and renews it while it
works (``LeaderHeartbeat``); the others tick without doing anything, and one of them takes over once a dead leader's
lease has expired. Even two leaders at once (a leader that stalled past its lease) cannot run a slot twice: each slot
is claimed by inserting its ``plan_runs`` row, which is unique per (plan, scheduled time), and each resource's job by
its unique run key.

Slots: on each tick, for each plan with a schedule, the slots after the plan's newest recorded slot and up to now are
due. The newest due slot runs (a catch-up after downtime runs it once, not once per missed slot); the older ones are
recorded as ``missed`` (the newest ``MISSED_RECORDED``, with the total in the run's summary), so ``schedule status``
and the report show them. With ``catch_up = "skip"`` a slot more than ``misfire_grace_s`` late is recorded missed
too, and the plan waits for its next slot. A plan the scheduler has never seen records its latest past slot as
``skipped`` (nothing before its first sight counts as missed) and runs from its next slot on. A run a stopped
scheduler left ``running`` is recorded ``interrupted`` once it is older than two leases and none of its jobs holds a
live lease (its jobs stay resumable: ``skyvault jobs resume``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyvault.catalog import Catalog, PlanRun
from skyvault.config import SkyvaultConfig
from skyvault.engine import cron

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.engine.dispatch import JobDispatcher
    from skyvault.services.contract import LibraryOpener

log = logging.getLogger(__name__)

LEADER = "scheduler"
MISSED_RECORDED = 100
Clock = Callable[[], datetime]
Execute = Callable[[str, PlanRun], None]
"""Runs plan ``name`` for the slot of ``run`` (its claimed row) and finishes the row."""


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class TickReport:
    owner: str
    leader: bool
    at: datetime
    ran: list[dict[str, Any]] = field(default_factory=list)  # {"plan", "scheduled_for", "status", "catch_up"}
    missed: list[dict[str, Any]] = field(default_factory=list)  # {"plan", "scheduled_for"}
    skipped: list[dict[str, Any]] = field(default_factory=list)
    interrupted: list[dict[str, Any]] = field(default_factory=list)  # runs a stopped scheduler left "running"

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "leader": self.leader,
            "at": self.at.isoformat(),
            "ran": self.ran,
            "missed": self.missed,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
        }


class LeaderHeartbeat:
    """Renews the leader lease every ``lease_s / 3`` on its own thread while a tick works; ``lost`` if it could not."""

    def __init__(self, catalog: Catalog, owner: str, lease_s: float, clock: Clock) -> None:
        self.catalog, self.owner, self.lease_s, self.clock = catalog, owner, lease_s, clock
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)

    def __enter__(self) -> LeaderHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                if not self.catalog.take_scheduler_lease(LEADER, self.owner, self.lease_s, now=self.clock()):
                    log.warning("scheduler %s lost the leader lease; it stops after the current run", self.owner)
                    self.lost.set()
                    return
            except Exception as exc:  # a busy catalog: the lease has slack for the next try
                log.warning("scheduler %s could not renew its lease: %s", self.owner, exc)


class Scheduler:
    def __init__(
        self,
        catalog: Catalog,
        config: SkyvaultConfig,
        execute: Execute,
        *,
        owner: str,
        lease_s: float = 90.0,
        misfire_grace_s: float = 300.0,
        clock: Clock = _wall_clock,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.execute = execute
        self.owner = owner
        self.lease_s = lease_s
        self.misfire_grace = timedelta(seconds=misfire_grace_s)
        self.clock = clock

    def tick(self) -> TickReport:
        """Lead if possible, and run what is due. A follower's report says ``leader`` False and did nothing."""
        now = self.clock()
        report = TickReport(owner=self.owner, leader=False, at=now)
        if not self.catalog.take_scheduler_lease(LEADER, self.owner, self.lease_s, now=now):
            return report
        report.leader = True
        with LeaderHeartbeat(self.catalog, self.owner, self.lease_s, self.clock) as heartbeat:
            for name, plan in self.config.plans.items():
                if heartbeat.lost.is_set():
                    break
                if plan.schedule is not None:
                    self._plan(name, plan.schedule, plan.timezone, plan.catch_up, now, report)
        return report

    def release(self) -> None:
        self.catalog.release_scheduler_lease(LEADER, self.owner)

    def next_wakeup(self, now: datetime) -> datetime | None:
        slots = [cron.next_slot(p.schedule, p.timezone, now) for p in self.config.plans.values() if p.schedule]
        return min(slots) if slots else None

    def _interrupted(self, name: str, now: datetime, report: TickReport) -> None:
        """Runs left ``running`` by a scheduler that stopped mid-run (this leader runs nothing at a tick's start):
        once older than two leases and none of their jobs holds a live lease, they are recorded ``interrupted``."""
        for run in self.catalog.plan_runs(name, status="running"):
            if run.started_at is None or now - run.started_at <= 2 * timedelta(seconds=self.lease_s):
                continue
            jobs = self.catalog.jobs_by_run_key_prefix(f"{name}/{run.scheduled_for.isoformat()}/")
            if any(job.lease_live(now) for job in jobs):
                continue
            unfinished = [job.id for job in jobs if job.status not in ("completed", "completed-with-leftovers")]
            error = "the scheduler running it stopped" + (
                f"; unfinished jobs ({', '.join(unfinished[:20])}): skyvault jobs resume JOB" if unfinished else ""
            )
            self.catalog.finish_plan_run(run.id, status="interrupted", error=error, summary={}, now=now)
            report.interrupted.append({"plan": name, "scheduled_for": run.scheduled_for.isoformat()})

    def _plan(self, name: str, schedule: str, timezone: str, catch_up: str, now: datetime, report: TickReport) -> None:
        self._interrupted(name, now, report)
        latest = self.catalog.latest_plan_slot(name)
        if latest is None:
            first = cron.previous_slot(schedule, timezone, now)
            if self.catalog.record_plan_slot(
                name, first, "skipped", now=now, error="before the scheduler first saw this plan"
            ):
                report.skipped.append({"plan": name, "scheduled_for": first.isoformat()})
            return
        due = cron.slots_between(schedule, timezone, latest, now, limit=MISSED_RECORDED + 1)
        if not due:
            return
        newest, older = due[-1], due[:-1]
        total_missed = cron.count_between(schedule, timezone, latest, now) - 1
        late = now - newest > self.misfire_grace
        reason = f"the scheduler was not running ({total_missed + 1} slot(s) since {latest.isoformat()})"
        for slot in older:
            if self.catalog.record_plan_slot(name, slot, "missed", now=now, error=reason):
                report.missed.append({"plan": name, "scheduled_for": slot.isoformat()})
        if late and catch_up == "skip":
            if self.catalog.record_plan_slot(name, newest, "missed", now=now, error=reason + "; catch_up = skip"):
                report.missed.append({"plan": name, "scheduled_for": newest.isoformat()})
            return
        trigger = "catch-up" if late else "schedule"
        extra = {"missed_before": total_missed} if total_missed else {}
        run = self.catalog.start_plan_run(name, newest, now=now, trigger=trigger, summary=extra)
        if run is None:
            return  # another scheduler claimed this slot
        try:
            self.execute(name, run)
        except Exception as exc:  # recorded in the run; the next slot runs as usual
            log.warning("plan %s, slot %s failed: %s", name, newest.isoformat(), exc)
            self.catalog.finish_plan_run(run.id, status="failed", error=str(exc)[:4000], summary={})
        finished = next((r for r in self.catalog.plan_runs(name, limit=5) if r.id == run.id), run)
        report.ran.append(
            {"plan": name, "scheduled_for": newest.isoformat(), "status": finished.status, "catch_up": late,
             "error": finished.error}
        )  # fmt: skip


@dataclass
class PlanExecutor:
    """The real ``Execute``: resolve the plan through discovery, run it through a dispatcher, apply its retention."""

    factory: ClientFactory
    catalog: Catalog
    make_dispatcher: Callable[[str], JobDispatcher]  # per plan (its per-account limit)
    open_library: LibraryOpener
    close_dispatcher: Callable[[JobDispatcher], None] = lambda _d: None
    clock: Clock = _wall_clock

    def __call__(self, name: str, run: PlanRun) -> None:
        from skyvault.engine.planretention import apply_retention
        from skyvault.engine.plans import resolve, run_plan

        config = self.factory.config
        selection = resolve(self.factory, name)
        dispatcher = self.make_dispatcher(name)
        try:
            run_plan(
                dispatcher, self.catalog, config, name, selection, scheduled_for=run.scheduled_for,
                now=self.clock(), trigger=str(run.summary.get("trigger", "schedule")), run=run,
            )  # fmt: skip
        finally:
            self.close_dispatcher(dispatcher)
        retention = apply_retention(
            self.catalog, self.factory, config, name, now=self.clock(), open_library=self.open_library
        )
        if retention.failed:
            log.warning("plan %s retention: %s", name, retention.failed)
