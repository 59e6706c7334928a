"""A plan's schedule in time: its slots (cron expression in the plan's time zone) and the RPO they imply.

croniter computes the slots; every datetime given and returned is timezone-aware (UTC in, UTC out), and the cron
expression is read in the plan's time zone, so ``0 3 * * *`` in ``Europe/Paris`` is 03:00 Paris time on both sides
of a daylight-saving change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

RPO_SAMPLE = 64  # slots looked at to find the longest gap (a weekday schedule's gap is the weekend)
LATE_FACTOR = 1.25  # a resource is late when its newest point is older than this many RPOs (the run takes time)


def _iter(expression: str, timezone: str, start: datetime) -> croniter:
    return croniter(expression, start.astimezone(ZoneInfo(timezone)))


def next_slot(expression: str, timezone: str, after: datetime) -> datetime:
    """The first slot strictly after ``after``."""
    moment: datetime = _iter(expression, timezone, after).get_next(datetime)
    return moment.astimezone(UTC)


def previous_slot(expression: str, timezone: str, at: datetime) -> datetime:
    """The latest slot at or before ``at``."""
    probe = at + timedelta(seconds=1) if at.second == 0 and at.microsecond == 0 else at
    moment: datetime = _iter(expression, timezone, probe).get_prev(datetime)
    return moment.astimezone(UTC)


def slots_between(expression: str, timezone: str, after: datetime, until: datetime, *, limit: int) -> list[datetime]:
    """Slots in ``(after, until]``, oldest first, at most the ``limit`` newest of them."""
    found: list[datetime] = []
    iterator = _iter(expression, timezone, after)
    while True:
        moment: datetime = iterator.get_next(datetime).astimezone(UTC)
        if moment > until:
            return found
        found.append(moment)
        if len(found) > limit:
            found.pop(0)


def count_between(expression: str, timezone: str, after: datetime, until: datetime, *, cap: int = 100_000) -> int:
    """How many slots fall in ``(after, until]`` (counted up to ``cap``)."""
    count = 0
    iterator = _iter(expression, timezone, after)
    while count < cap and iterator.get_next(datetime).astimezone(UTC) <= until:
        count += 1
    return count


def rpo(expression: str, timezone: str, *, now: datetime) -> timedelta:
    """The recovery point objective a schedule promises: the longest gap between two of its next slots."""
    iterator = _iter(expression, timezone, now)
    previous: datetime = iterator.get_next(datetime)
    longest = timedelta(0)
    for _ in range(RPO_SAMPLE):
        moment: datetime = iterator.get_next(datetime)
        longest = max(longest, moment.astimezone(UTC) - previous.astimezone(UTC))
        previous = moment
    return longest
