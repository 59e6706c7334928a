"""Retention math, pure: which recovery points of one resource a plan's rules keep, and why.

The rules are restic's ``forget`` policy (grandfather-father-son): a point is kept when ANY rule keeps it.

- ``keep_last`` N: the N newest points;
- ``daily``/``weekly``/``monthly``/``yearly`` N: walking from the newest point back, the newest point of each
  calendar day / ISO week / month / year that has one, until N such periods are covered (periods in the plan's
  time zone: a point at 23:30 UTC may belong to the next day in Europe/Paris);
- ``min_age``: a point younger than this is kept whatever the other rules say (a point in the future too);
- a point under a legal hold is kept (``skyvault backups hold``);
- a point that is the next backup's incremental base is kept (the newest library copy of a resource: EC2 lists
  changed blocks against its base snapshots, images diff against its manifest).

With no counting rule at all (``keep_last`` and the generations all 0) everything is kept: a plan without
retention never deletes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Candidate:
    """What the math needs to know about one recovery point."""

    id: str
    created_at: datetime  # timezone-aware
    held: bool = False
    base: bool = False


@dataclass(frozen=True)
class Rules:
    keep_last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    min_age: timedelta = timedelta(0)
    timezone: str = "UTC"

    @property
    def keeps_everything(self) -> bool:
        return not (self.keep_last or self.daily or self.weekly or self.monthly or self.yearly)


@dataclass
class Decision:
    keep: dict[str, list[str]] = field(default_factory=dict)  # point ID -> why it is kept
    expire: list[str] = field(default_factory=list)  # oldest first


def _periods(zone: ZoneInfo) -> list[tuple[str, Callable[[datetime], str]]]:
    def local(moment: datetime) -> datetime:
        return moment.astimezone(zone)

    def week(moment: datetime) -> str:
        year, number, _ = local(moment).isocalendar()
        return f"{year}-W{number:02d}"

    return [
        ("daily", lambda m: local(m).strftime("%Y-%m-%d")),
        ("weekly", week),
        ("monthly", lambda m: local(m).strftime("%Y-%m")),
        ("yearly", lambda m: local(m).strftime("%Y")),
    ]


def decide(points: Iterable[Candidate], rules: Rules, now: datetime) -> Decision:
    """Keep or expire each of one resource's points under ``rules`` at ``now``."""
    ordered = sorted(points, key=lambda p: (p.created_at, p.id), reverse=True)  # newest first
    decision = Decision()

    def keep(point: Candidate, reason: str) -> None:
        decision.keep.setdefault(point.id, []).append(reason)

    if rules.keeps_everything:
        for point in ordered:
            keep(point, "no retention rule")
        return decision
    for point in ordered:
        if point.held:
            keep(point, "legal hold")
        if point.base:
            keep(point, "incremental base")
        if now - point.created_at < rules.min_age:
            keep(point, "younger than min_age")
    for point in ordered[: rules.keep_last]:
        keep(point, "keep_last")
    counts = {"daily": rules.daily, "weekly": rules.weekly, "monthly": rules.monthly, "yearly": rules.yearly}
    for name, period_of in _periods(ZoneInfo(rules.timezone)):
        wanted = counts[name]
        seen: set[str] = set()
        for point in ordered:
            if len(seen) >= wanted:
                break
            period = period_of(point.created_at)
            if period not in seen:
                seen.add(period)
                keep(point, f"{name} {period}")
    decision.expire = [p.id for p in reversed(ordered) if p.id not in decision.keep]
    return decision
