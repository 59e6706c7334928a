"""Runner test kit: an environment without AWS, test-only job kinds, a heartbeat the test drives, a clock it sets.

The job kinds here exist only in these tests: the runner is given them through ``DriverLookup`` instead of the
registry, so its own behaviour (leases, steps, cleanup) is tested apart from any driver.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import IntermediateResource
from skyvault.engine.runner import DriverLookup
from skyvault.errors import AwsError, NotFoundError
from skyvault.jobs import JobContext, JobSpec
from skyvault.services import registry
from skyvault.services.contract import Cleaner, JobBody, ResumePreparer


def no_library(_name: str | None) -> Any:
    raise AssertionError("these jobs use no library")


@dataclass
class DriversForTests:
    """Job bodies, and a cleaner of type ``thing`` that records what it deletes (``gone-*``: already gone,
    ``stuck-*``: refuses); the drivers' own cleaners for their intermediate types."""

    bodies: dict[str, JobBody] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    prepared: list[str] = field(default_factory=list)

    def clean(self, _factory: ClientFactory, item: IntermediateResource) -> None:
        if item.id.startswith("gone-"):
            raise NotFoundError(item.id)
        if item.id.startswith("stuck-"):
            raise AwsError("still in use", code="InvalidSnapshotState")
        self.deleted.append(item.id)

    def lookup(self) -> DriverLookup:
        def body(kind: str) -> JobBody:
            if kind not in self.bodies:
                raise NotFoundError(f"no driver runs jobs of kind {kind!r}")
            return self.bodies[kind]

        def prepare(kind: str) -> ResumePreparer:
            return lambda _catalog, job: self.prepared.append(job.id)

        def cleaner(resource_type: str) -> Cleaner | None:
            return self.clean if resource_type == "thing" else registry.cleaner_for(resource_type)

        return DriverLookup(body=body, prepare_resume=prepare, cleaner=cleaner)

    def add(self, kind: str, body: Callable[[JobContext, JobSpec], Any]) -> None:
        self.bodies[kind] = lambda ctx, spec, _env: body(ctx, spec)


class ManualPace:
    """A heartbeat pace the test drives: each ``tick()`` lets exactly one renewal happen and returns after it."""

    def __init__(self) -> None:
        self._tokens: queue.Queue[None] = queue.Queue()
        self._at_wait = threading.Semaphore(0)
        self.intervals: list[float] = []  # what the heartbeat asked to wait each time

    def __call__(self, stop: threading.Event, seconds: float) -> bool:
        self.intervals.append(seconds)
        self._at_wait.release()
        while not stop.is_set():
            try:
                self._tokens.get(timeout=0.01)
            except queue.Empty:
                continue
            return False
        return True

    def tick(self) -> None:
        """Let one renewal happen and return once the heartbeat waits again (the renewal is done)."""
        self.release()
        assert self._at_wait.acquire(timeout=60), "the heartbeat did not come back after its renewal"
        self._at_wait.release()

    def release(self) -> None:
        """Let one renewal happen, without waiting for it (a renewal that loses the lease ends the heartbeat)."""
        assert self._at_wait.acquire(timeout=60), "the heartbeat never started waiting"
        self._tokens.put(None)


@dataclass
class SetClock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
