"""Snapshot completion waits by progress, not a fixed timeout; a backup's snapshot still in progress is never
deleted (fake EC2 clients and a fake clock: no real waiting)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skyvault.errors import AwsError, ConflictError, JobError
from skyvault.services.ec2 import cleanup, waiting
from skyvault.services.ec2.tagging import ROLE_BASE, ROLE_INTERMEDIATE, skyvault_tags, tag_list

HOUR = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def clock(self) -> waiting.Clock:
        return waiting.Clock(now=self.now, sleep=self.sleep)


class FakeEc2:
    """DescribeSnapshots answers: one (state, progress) per poll from ``answers``, the last one repeated."""

    def __init__(self, clock: FakeClock, timeline: list[tuple[float, str, str]]) -> None:
        self.clock = clock
        self.timeline = timeline  # (from time, state, progress), in order
        self.deleted: list[str] = []

    def describe_snapshots(self, SnapshotIds: list[str]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        state, progress = next((s, p) for t, s, p in reversed(self.timeline) if self.clock.t >= t)
        return {"Snapshots": [{"SnapshotId": i, "State": state, "Progress": progress} for i in SnapshotIds]}

    def delete_snapshot(self, SnapshotId: str) -> None:  # noqa: N803
        self.deleted.append(SnapshotId)


class FakeFactory:
    def __init__(self, ec2: FakeEc2) -> None:
        self.ec2 = ec2

    def client(self, account: str, region: str, service: str) -> FakeEc2:
        return self.ec2


def _wait(timeline: list[tuple[float, str, str]], clock: FakeClock) -> None:
    factory: Any = FakeFactory(FakeEc2(clock, timeline))
    waiting.snapshots_completed(factory, "a", "us-east-1", ["snap-1"], stall_s=HOUR, clock=clock.clock())


def _steady(hours: int) -> Iterator[tuple[float, str, str]]:
    for hour in range(hours):
        yield hour * HOUR, "pending", f"{hour * 100 // hours}%"


def test_a_snapshot_progressing_for_ten_hours_is_waited_for() -> None:
    clock = FakeClock()
    _wait([*_steady(10), (10 * HOUR, "completed", "100%")], clock)
    assert clock.t >= 10 * HOUR  # far beyond the old fixed 2 h timeout


def test_a_stalled_snapshot_fails_the_wait_after_the_stall_window() -> None:
    clock = FakeClock()
    with pytest.raises(JobError, match="no progress for 3600 s"):
        _wait([(0.0, "pending", "10%"), (HOUR / 2, "pending", "40%")], clock)
    assert HOUR / 2 + HOUR < clock.t < HOUR / 2 + HOUR + 120  # measured from the last change, polls <= 60 s apart


def test_a_snapshot_in_error_fails_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(AwsError, match="snap-1 is error"):
        _wait([(0.0, "pending", "0%"), (10.0, "error", "0%")], clock)
    assert clock.t < 60


def _snapshot(role: str, state: str) -> dict[str, Any]:
    tags = tag_list(skyvault_tags(job_id="job-1", source="i-1", role=role, token="svt-1"))
    return {"SnapshotId": "snap-1", "State": state, "Progress": "42%", "Tags": tags}


def test_a_backup_snapshot_in_progress_is_never_deleted() -> None:
    ec2 = FakeEc2(FakeClock(), [(0.0, "pending", "42%")])
    factory: Any = FakeFactory(ec2)
    with pytest.raises(ConflictError, match=r"snap-1 is still in progress \(42%\)"):
        cleanup.delete_snapshot(factory, "a", "us-east-1", _snapshot(ROLE_BASE, "pending"))
    assert ec2.deleted == []
    cleanup.delete_snapshot(factory, "a", "us-east-1", _snapshot(ROLE_BASE, "completed"))
    # A snapshot a restore was writing (StartSnapshot) is pending until sealed: it is deleted as before.
    cleanup.delete_snapshot(factory, "a", "us-east-1", _snapshot(ROLE_INTERMEDIATE, "pending"))
    assert ec2.deleted == ["snap-1", "snap-1"]
