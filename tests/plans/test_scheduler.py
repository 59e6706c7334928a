"""The scheduler: one leader through the catalog's lease row, catch-up after downtime runs a missed slot once, and
missed and failed runs recorded. The clock is injected; the executor records the slots it is given and finishes their
rows as the real one does (the real one runs through discovery and the dispatcher: tests/plans/test_schedule_cli.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.kit import SetClock
from skyvault.catalog import Catalog, PlanRun
from skyvault.config import SkyvaultConfig, parse_config
from skyvault.engine import cron
from skyvault.engine.scheduler import LEADER, Scheduler

START = datetime(2026, 12, 1, 9, 59, 30, tzinfo=UTC)


def _config(**plan: object) -> SkyvaultConfig:
    hourly = {"services": ["ec2"], "schedule": "0 * * * *", **plan}
    return parse_config({"accounts": {"admin": {}}, "plans": {"hourly": hourly}}, "skyvault.toml")


@dataclass
class Recorder:
    catalog: Catalog
    slots: list[tuple[str, datetime]] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, run: PlanRun) -> None:
        with self.lock:
            self.slots.append((name, run.scheduled_for))
        if self.fail:
            raise RuntimeError("discovery of admin failed: AccessDenied")
        self.catalog.finish_plan_run(run.id, status="completed", error=None, summary={"completed": 1})


def test_two_schedulers_one_leads_and_the_other_takes_over_when_its_lease_expires(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    clock = SetClock(START)
    ran = Recorder(catalog)
    a = Scheduler(catalog, _config(), ran, owner="host-a", lease_s=60, clock=clock)
    b = Scheduler(catalog, _config(), ran, owner="host-b", lease_s=60, clock=clock)
    first_a, first_b = a.tick(), b.tick()
    assert first_a.leader and not first_b.leader
    assert first_a.skipped == [{"plan": "hourly", "scheduled_for": "2026-12-01T09:00:00+00:00"}]
    clock.advance(45)  # 10:00:15: the slot is due
    assert not b.tick().leader and ran.slots == []
    assert a.tick().ran[0]["status"] == "completed"
    assert ran.slots == [("hourly", datetime(2026, 12, 1, 10, 0, tzinfo=UTC))]
    clock.advance(30)
    assert not b.tick().leader  # a renewed at 10:00:15: its lease runs to 10:01:15
    clock.advance(31)  # a is gone (it stopped ticking): b leads
    taken = b.tick()
    assert taken.leader and taken.ran == [] and catalog.scheduler_lease(LEADER) is not None
    assert catalog.scheduler_lease(LEADER)[0] == "host-b"  # type: ignore[index]
    assert not a.tick().leader
    b.release()
    assert a.tick().leader


def test_two_schedulers_racing_at_the_same_instant_run_a_slot_once(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    catalog.record_plan_slot("hourly", datetime(2026, 12, 1, 9, tzinfo=UTC), "completed")
    clock = SetClock(datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC))
    ran = Recorder(catalog)
    barrier = threading.Barrier(4)
    leaders: list[bool] = []

    def race(owner: str) -> None:
        scheduler = Scheduler(Catalog.open(tmp_path), _config(), ran, owner=owner, lease_s=60, clock=clock)
        barrier.wait()
        leaders.append(scheduler.tick().leader)

    threads = [threading.Thread(target=race, args=(f"host-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(leaders) == [False, False, False, True]
    assert ran.slots == [("hourly", datetime(2026, 12, 1, 10, tzinfo=UTC))]


def test_catch_up_after_downtime_runs_the_missed_slot_once_and_records_the_others_missed(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    clock = SetClock(START)
    ran = Recorder(catalog)
    scheduler = Scheduler(catalog, _config(), ran, owner="host-a", lease_s=60, clock=clock)
    scheduler.tick()
    clock.advance(60)
    scheduler.tick()  # 10:00 runs
    clock.now = datetime(2026, 12, 1, 15, 20, tzinfo=UTC)  # down from 10:01 to 15:20: 11:00..15:00 were due
    report = scheduler.tick()
    assert [r["scheduled_for"] for r in report.ran] == ["2026-12-01T15:00:00+00:00"] and report.ran[0]["catch_up"]
    assert [m["scheduled_for"][11:16] for m in report.missed] == ["11:00", "12:00", "13:00", "14:00"]
    assert ran.slots[-1] == ("hourly", datetime(2026, 12, 1, 15, tzinfo=UTC)) and len(ran.slots) == 2
    assert scheduler.tick().ran == []  # the same instant again: nothing more
    runs = {r.scheduled_for.strftime("%H:%M"): r for r in catalog.plan_runs("hourly")}
    assert runs["15:00"].status == "completed" and runs["15:00"].summary["trigger"] == "catch-up"
    assert runs["15:00"].summary["missed_before"] == 4
    assert runs["12:00"].status == "missed" and "scheduler was not running" in (runs["12:00"].error or "")


def test_catch_up_skip_waits_for_the_next_slot_and_failures_are_recorded(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    catalog.record_plan_slot("hourly", datetime(2026, 12, 1, 9, tzinfo=UTC), "completed")
    clock = SetClock(datetime(2026, 12, 1, 10, 30, tzinfo=UTC))  # 30 min late for 10:00
    ran = Recorder(catalog, fail=True)
    scheduler = Scheduler(catalog, _config(catch_up="skip"), ran, owner="a", clock=clock, misfire_grace_s=300)
    assert scheduler.tick().missed == [{"plan": "hourly", "scheduled_for": "2026-12-01T10:00:00+00:00"}]
    assert ran.slots == []
    clock.now = datetime(2026, 12, 1, 11, 0, 20, tzinfo=UTC)
    report = scheduler.tick()
    assert report.ran[0]["status"] == "failed" and "AccessDenied" in report.ran[0]["error"]
    assert catalog.plan_runs("hourly", limit=1)[0].status == "failed"


def test_slots_follow_the_plan_time_zone_across_daylight_saving() -> None:
    # 03:00 Paris is 01:00 UTC in winter and 02:00 UTC in summer (DST starts 29 March 2026).
    before = datetime(2026, 3, 27, 12, tzinfo=UTC)
    first = cron.next_slot("0 3 * * *", "Europe/Paris", before)
    second = cron.next_slot("0 3 * * *", "Europe/Paris", first)
    assert first == datetime(2026, 3, 28, 2, tzinfo=UTC) and second == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert cron.previous_slot("0 * * * *", "UTC", datetime(2026, 1, 1, 5, tzinfo=UTC)).hour == 5
    assert cron.rpo("0 3 * * 1-5", "UTC", now=before) == timedelta(days=3)


def test_a_run_a_stopped_scheduler_left_running_is_recorded_interrupted_once_its_jobs_are_dead(
    tmp_path: Path,
) -> None:
    catalog = Catalog.open(tmp_path)
    slot = datetime(2026, 12, 1, 9, tzinfo=UTC)
    run = catalog.start_plan_run("hourly", slot, now=slot)
    assert run is not None
    job, _ = catalog.submit_job("backup-ec2", {"account": "admin"}, run_key=f"hourly/{slot.isoformat()}/admin/x/i-1")
    assert catalog.claim_job(job.id, "dead-host", 120, now=slot)  # its process died: the lease ran out at 09:02
    clock = SetClock(datetime(2026, 12, 1, 9, 2, 30, tzinfo=UTC))
    scheduler = Scheduler(catalog, _config(), Recorder(catalog), owner="b", lease_s=60, clock=clock)
    catalog.renew_lease(job.id, "dead-host", 120, now=datetime(2026, 12, 1, 9, 1, tzinfo=UTC))  # alive until 09:03
    assert scheduler.tick().interrupted == []  # a job of the run still holds a live lease
    clock.advance(60)
    report = scheduler.tick()
    assert report.interrupted == [{"plan": "hourly", "scheduled_for": slot.isoformat()}]
    stopped = catalog.plan_runs("hourly", status="interrupted")[0]
    assert stopped.id == run.id and job.id in (stopped.error or "") and "jobs resume" in (stopped.error or "")
