"""Retention math (``engine.gfs``) as properties: GFS generations, keep_last, min_age, holds and incremental bases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from skyvault.catalog import Catalog
from skyvault.engine.gfs import Candidate, Rules, decide
from skyvault.engine.retention import due

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

points_strategy = st.lists(
    st.builds(
        lambda minutes, held, base: (minutes, held, base),
        st.integers(min_value=0, max_value=3 * 366 * 24 * 60),  # up to three years back
        st.booleans() | st.just(False),
        st.booleans() | st.just(False),
    ),
    max_size=60,
).map(
    lambda raw: [
        Candidate(f"rp-{i:03d}", NOW - timedelta(minutes=m), held=h and i % 5 == 0, base=b and i % 7 == 0)
        for i, (m, h, b) in enumerate(raw)
    ]
)
rules_strategy = st.builds(
    Rules,
    keep_last=st.integers(0, 5),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 14),
    yearly=st.integers(0, 3),
    min_age=st.sampled_from([timedelta(0), timedelta(hours=12), timedelta(days=3)]),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "Pacific/Auckland", "America/Los_Angeles"]),
)


def _newest_first(points: list[Candidate]) -> list[Candidate]:
    return sorted(points, key=lambda p: (p.created_at, p.id), reverse=True)


@settings(max_examples=150, deadline=None)
@given(points_strategy, rules_strategy)
def test_every_point_is_kept_or_expired_and_the_protected_are_never_expired(
    points: list[Candidate], rules: Rules
) -> None:
    decision = decide(points, rules, NOW)
    ids = {p.id for p in points}
    assert set(decision.keep) | set(decision.expire) == ids and not set(decision.keep) & set(decision.expire)
    for point in points:
        protected = point.held or point.base or NOW - point.created_at < rules.min_age or rules.keeps_everything
        if protected:
            assert point.id in decision.keep
    for point in _newest_first(points)[: rules.keep_last]:
        assert "keep_last" in decision.keep[point.id]


@settings(max_examples=150, deadline=None)
@given(points_strategy, rules_strategy)
def test_gfs_keeps_the_newest_point_of_each_of_the_last_n_periods(points: list[Candidate], rules: Rules) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(rules.timezone)
    decision = decide(points, rules, NOW)
    for count, period in (
        (rules.daily, lambda d: d.date()),
        (rules.weekly, lambda d: d.isocalendar()[:2]),
        (rules.monthly, lambda d: (d.year, d.month)),
        (rules.yearly, lambda d: d.year),
    ):
        newest: dict[Any, Candidate] = {}
        for point in _newest_first(points):
            newest.setdefault(period(point.created_at.astimezone(zone)), point)
        periods = sorted(newest, reverse=True)[:count]  # the N most recent periods that have a point
        for key in periods:
            assert newest[key].id in decision.keep
        kept_periods = {period(p.created_at.astimezone(zone)) for p in points if p.id in decision.keep}
        assert len(kept_periods) >= min(count, len(newest))


@settings(max_examples=100, deadline=None)
@given(points_strategy, rules_strategy)
def test_retention_is_idempotent(points: list[Candidate], rules: Rules) -> None:
    first = decide(points, rules, NOW)
    kept = [p for p in points if p.id in first.keep]
    assert decide(kept, rules, NOW).expire == []


@settings(max_examples=100, deadline=None)
@given(points_strategy, rules_strategy, st.sampled_from(["keep_last", "daily", "weekly", "monthly", "yearly"]))
def test_a_more_generous_rule_never_expires_a_point_that_was_kept(
    points: list[Candidate], rules: Rules, rule: str
) -> None:
    assume(not rules.keeps_everything)  # from "no rule" (keep all) any rule is stricter
    before = decide(points, rules, NOW)
    more = Rules(**{**rules.__dict__, rule: getattr(rules, rule) + 1})
    after = decide(points, more, NOW)
    assert set(before.keep) <= set(after.keep)


def test_a_worked_example_across_a_time_zone_boundary() -> None:
    # 23:30 UTC on 1 Dec is 00:30 on 2 Dec in Paris: in Paris the two points share a day, in UTC they do not.
    late = Candidate("late", datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    morning = Candidate("morning", datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    older = Candidate("older", datetime(2026, 11, 20, 6, 0, tzinfo=UTC), held=True)
    utc = decide([late, morning, older], Rules(daily=2), NOW)
    paris = decide([late, morning, older], Rules(daily=2, timezone="Europe/Paris"), NOW)
    assert utc.expire == [] and utc.keep["older"] == ["legal hold"]
    assert paris.expire == ["late"] and paris.keep["older"] == ["legal hold", "daily 2026-11-20"]
    assert decide([late, morning], Rules(), NOW).expire == []  # no rule: everything stays


def test_a_held_point_is_never_due_for_retain_days_expiry_either(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    past = NOW - timedelta(days=1)
    held = catalog.add_recovery_point(kind="image", resource_id="/disk.img", expires_at=past)
    free = catalog.add_recovery_point(kind="image", resource_id="/disk.img", expires_at=past)
    catalog.hold_recovery_point(held.id, "case 4711")
    assert [p.id for p in due(catalog, NOW)] == [free.id]
    catalog.release_recovery_point(held.id)
    assert {p.id for p in due(catalog, NOW)} == {held.id, free.id}
