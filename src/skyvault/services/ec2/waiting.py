"""Waiting for EC2 states by polling Describe* through skyvault's clients (not botocore waiters).

Polling through ``AwsClient`` keeps every error translated (an access denial names the action), waits for many
IDs at once, and fails at once on a failure state. Polls start fast (the lab, small snapshots) and back off to
``max_poll_s``.

EC2 is eventually consistent ("Eventual consistency in the Amazon EC2 API"): right after RunInstances,
CreateVolume, RegisterImage or CreateSnapshot(s), a Describe call naming the new ID may answer ``...NotFound``, and
a listing may omit it, for up to a few minutes. So an ID that is not found yet is "not visible yet", not gone: the
waiters keep polling it for ``VISIBILITY_WINDOW_S`` from the start of the wait, and only then fail, naming it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError, JobError, NotFoundError

T = TypeVar("T")

FAILED_STATES = {"error", "failed", "invalid", "deregistered", "terminated", "shutting-down"}
# AWS advises backing off "from a couple of seconds up to a few minutes" before a new ID is trusted to exist.
VISIBILITY_WINDOW_S = 300.0
# A first snapshot of a multi-TiB volume can take many hours: its wait fails only when no snapshot of the batch has
# moved (state or Progress) for this long, never on a fixed total.
SNAPSHOT_STALL_S = 7200.0


@dataclass(frozen=True)
class Clock:
    """Time for the waiters (tests pass a fake one that advances when it sleeps)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


REAL_CLOCK = Clock()


def visible_states(describe: Callable[[], dict[str, str]]) -> Callable[[], dict[str, str]]:
    """``describe`` (ID -> state, naming the IDs) where a ``...NotFound`` answer means "none visible yet"."""

    def states() -> dict[str, str]:
        try:
            return describe()
        except NotFoundError:
            return {}

    return states


def wait_until(
    states: Callable[[], dict[str, str]],
    wanted: str,
    *,
    what: str,
    timeout_s: float | None,
    ids: Iterable[str] = (),
    visibility_s: float = VISIBILITY_WINDOW_S,
    first_poll_s: float = 0.2,
    max_poll_s: float = 5.0,
    fail_on: Iterable[str] = (),
    last_moved: Callable[[], float] | None = None,
    stall_s: float | None = None,
    clock: Clock = REAL_CLOCK,
) -> None:
    """Poll ``states()`` (ID -> state) until every ID is ``wanted``; a state in ``fail_on`` fails at once.

    ``ids``: the IDs waited for. One missing from ``states()`` is not visible yet (eventual consistency) and is
    waited for until ``visibility_s`` has passed since the wait began; then the wait fails with NotFoundError.
    ``timeout_s``: a total limit (None: none). ``last_moved``/``stall_s``: the clock time at which the work last
    made progress; the wait fails once nothing moved for ``stall_s``, however long it has run in total.
    """
    failing = set(fail_on)
    expected = set(ids)
    started = clock.now()
    deadline = started + timeout_s if timeout_s is not None else None
    delay = first_poll_s
    while True:
        current = states()
        bad = {i: s for i, s in current.items() if s in failing}
        if bad:
            raise AwsError(f"{what}: " + ", ".join(f"{i} is {s}" for i, s in sorted(bad.items())))
        missing = sorted(expected - set(current))
        if current and not missing and all(state == wanted for state in current.values()):
            return
        now = clock.now()
        if missing and now - started > visibility_s:
            raise NotFoundError(f"{what}: {', '.join(missing)} still not found after {visibility_s:.0f} s")
        if deadline is not None and now > deadline:
            raise JobError(f"{what}: not {wanted} after {timeout_s:.0f} s ({current})")
        if last_moved is not None and stall_s is not None and now - last_moved() > stall_s:
            raise JobError(f"{what}: no progress for {stall_s:.0f} s ({current})")
        clock.sleep(delay)
        delay = min(max_poll_s, delay * 2)


def retry_not_found(call: Callable[[], T], *, what: str, visibility_s: float = VISIBILITY_WINDOW_S) -> T:
    """``call()``, retried with backoff while it answers NotFound, for a resource this job just created."""
    started = time.monotonic()
    delay = 0.2
    while True:
        try:
            return call()
        except NotFoundError as exc:
            if time.monotonic() - started > visibility_s:
                raise NotFoundError(f"{what}: still not found after {visibility_s:.0f} s: {exc}") from exc
        time.sleep(delay)
        delay = min(5.0, delay * 2)


def snapshots_completed(
    factory: ClientFactory,
    account: str,
    region: str,
    ids: list[str],
    *,
    stall_s: float = SNAPSHOT_STALL_S,
    visibility_s: float = VISIBILITY_WINDOW_S,
    max_poll_s: float = 60.0,
    clock: Clock = REAL_CLOCK,
) -> None:
    """Wait until every snapshot is completed, for as long as they progress: fail (JobError) only when no
    snapshot's state or ``Progress`` has changed for ``stall_s``; a snapshot in ``error`` fails at once."""
    ec2 = factory.client(account, region, "ec2")
    seen: dict[str, str] = {}
    moved = [clock.now()]

    def states() -> dict[str, str]:
        found = ec2.describe_snapshots(SnapshotIds=ids).get("Snapshots", [])
        progress = {s["SnapshotId"]: f"{s['State']} {s.get('Progress', '')}".strip() for s in found}
        if any(seen.get(i) != p for i, p in progress.items()):
            seen.update(progress)
            moved[0] = clock.now()
        return {s["SnapshotId"]: s["State"] for s in found}

    wait_until(
        visible_states(states),
        "completed",
        what=f"waiting for snapshots {', '.join(ids)}",
        ids=ids,
        visibility_s=visibility_s,
        timeout_s=None,
        max_poll_s=max_poll_s,
        fail_on={"error"},
        last_moved=lambda: moved[0],
        stall_s=stall_s,
        clock=clock,
    )


def images_available(
    factory: ClientFactory,
    account: str,
    region: str,
    ids: list[str],
    timeout_s: float = 1800,
    visibility_s: float = VISIBILITY_WINDOW_S,
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        return {i["ImageId"]: i["State"] for i in ec2.describe_images(ImageIds=ids).get("Images", [])}

    wait_until(
        visible_states(states),
        "available",
        what="waiting for the AMI",
        ids=ids,
        visibility_s=visibility_s,
        timeout_s=timeout_s,
        fail_on={"failed", "invalid"},
    )


def volumes_available(
    factory: ClientFactory,
    account: str,
    region: str,
    ids: list[str],
    timeout_s: float = 900,
    visibility_s: float = VISIBILITY_WINDOW_S,
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        return {v["VolumeId"]: v["State"] for v in ec2.describe_volumes(VolumeIds=ids).get("Volumes", [])}

    wait_until(
        visible_states(states),
        "available",
        what="waiting for volumes",
        ids=ids,
        visibility_s=visibility_s,
        timeout_s=timeout_s,
        fail_on={"error"},
    )


def instances_in(
    factory: ClientFactory,
    account: str,
    region: str,
    ids: list[str],
    wanted: str,
    timeout_s: float = 900,
    visibility_s: float = VISIBILITY_WINDOW_S,
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        reservations = ec2.describe_instances(InstanceIds=ids).get("Reservations", [])
        return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r.get("Instances", [])}

    fail_on = {"terminated", "shutting-down"} if wanted != "terminated" else set()
    what = f"waiting for instance(s) to be {wanted}"
    wait_until(
        visible_states(states),
        wanted,
        what=what,
        ids=ids,
        visibility_s=visibility_s,
        timeout_s=timeout_s,
        fail_on=fail_on,
    )
