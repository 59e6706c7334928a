"""Waiting for database resources with progress and a stall window (RDS, Aurora, DocumentDB, Redshift share it).

Real snapshots and restores take minutes to hours; the lab makes them available at once. Drivers poll a
describe function until the state is ready, report progress through a callback (the CLI draws it; drivers never
print) and give up with a clear error on a failure state, when reported progress stalls, or (without progress
figures) at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from skyvault.errors import AwsError

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    return None


@dataclass(frozen=True)
class WaitPolicy:
    """How long to wait for one resource and how often to look (AWS asks for polls no faster than ~5-30 s)."""

    timeout_s: float = 4 * 3600
    poll_s: float = 15.0
    # When set, the first look comes this soon and the interval doubles up to ``poll_s``: for operations that
    # usually finish in seconds to minutes (renames), without polling fast for hours.
    first_poll_s: float | None = None
    # A wait whose status reports progress (snapshots and copies: PercentProgress, Redshift's backup MB) fails only
    # when that progress has not moved for this long, however long the whole operation takes: first snapshots of
    # multi-TiB databases and large cross-region copies run for many hours. Waits without progress figures (a
    # restore "creating") keep ``timeout_s``.
    stall_s: float = 2 * 3600


@dataclass(frozen=True)
class Status:
    state: str
    percent: float | None = None


def wait_for(
    describe: Callable[[], Status],
    *,
    what: str,
    ready: Collection[str] = ("available",),
    failed: Collection[str] = ("failed", "incompatible-restore", "incompatible-parameters", "deleted", "deleting"),
    policy: WaitPolicy = WaitPolicy(),
    progress: Progress = no_progress,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Status:
    """Poll ``describe`` until its state is in ``ready``; raise on a ``failed`` state, when reported progress stalls
    for ``policy.stall_s``, or (for a status without progress figures) at ``policy.timeout_s``."""
    started = clock()
    deadline = started + policy.timeout_s
    moved_at, furthest = started, -1.0
    last = ""
    interval = min(policy.first_poll_s, policy.poll_s) if policy.first_poll_s else policy.poll_s
    while True:
        status = describe()
        shown = f"{what}: {status.state}" + (f" ({status.percent:.0f}%)" if status.percent is not None else "")
        if shown != last:
            progress(shown)
            last = shown
        if status.state in ready:
            return status
        if status.state in failed:
            raise AwsError(f"{what} entered state {status.state!r}", code=status.state)
        now = clock()
        if status.percent is not None:
            if status.percent > furthest:
                moved_at, furthest = now, status.percent
            if now - moved_at >= policy.stall_s:
                raise AwsError(
                    f"gave up waiting for {what}: no progress for {policy.stall_s:.0f}s (stuck at "
                    f"{furthest:.0f}%, state {status.state!r})",
                    code="Stalled",
                    hint="the AWS operation may still finish; run the command again later (resume) or check it in "
                    "the console",
                )
        elif now >= deadline:
            raise AwsError(
                f"gave up waiting for {what} after {policy.timeout_s:.0f}s (last state {status.state!r})",
                code="Timeout",
                hint="the AWS operation continues; run the command again later or raise the timeout",
            )
        sleep(interval)
        interval = min(interval * 2, policy.poll_s)
