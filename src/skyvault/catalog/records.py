"""What the catalog hands to the layers above: frozen, plain records (never ORM rows, never a session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True)
class RecoveryPoint:
    """What a backup produced: native recovery points, the library snapshot and the captured configuration."""

    id: str
    kind: str
    resource_id: str
    account: str = ""
    region: str = ""
    created_at: datetime = field(default_factory=_now)
    status: str = "completed"
    job_id: str | None = None
    native: dict[str, Any] = field(default_factory=dict)
    library: str | None = None
    library_snapshot: str | None = None
    captured_config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    hold_reason: str | None = None  # a legal hold: retention never expires the point while this is set
    held_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "resource_id": self.resource_id,
            "account": self.account,
            "region": self.region,
            "created_at": _iso(self.created_at),
            "status": self.status,
            "job_id": self.job_id,
            "native": self.native,
            "library": self.library,
            "library_snapshot": self.library_snapshot,
            "captured_config": self.captured_config,
            "stats": self.stats,
            "expires_at": _iso(self.expires_at),
            "hold": {"reason": self.hold_reason, "since": _iso(self.held_at)} if self.hold_reason else None,
        }


@dataclass(frozen=True)
class Job:
    """A job and its steps (name -> the state last recorded for it, in the order the steps first ran)."""

    id: str
    kind: str
    status: str
    created_at: datetime
    updated_at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    duration_s: float | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    queue: str | None = None  # where a queued job waits for a worker; None for in-process jobs
    run_key: str | None = None  # unique per scheduled run and resource

    def lease_live(self, now: datetime) -> bool:
        """Someone holds the lease at ``now`` (it ends at ``lease_expires_at``, exclusive)."""
        return self.lease_owner is not None and self.lease_expires_at is not None and now < self.lease_expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "params": self.params,
            "steps": self.steps,
            "error": self.error,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class IntermediateResource:
    """Something a job creates only to delete it later (temporary snapshot, volume, AMI, shared copy)."""

    id: str
    job_id: str
    resource_type: str
    account: str
    region: str
    created_at: datetime = field(default_factory=_now)
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class PlanRun:
    """One run of a plan for one scheduled time: ``running``, ``completed``, ``failed``, ``missed`` (a slot the
    scheduler was down for and did not catch up) or ``skipped`` (before the scheduler first saw the plan)."""

    id: str
    plan: str
    scheduled_for: datetime
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": self.plan,
            "scheduled_for": _iso(self.scheduled_for),
            "status": self.status,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_s": self.duration_s,
            "error": self.error,
            "summary": self.summary,
        }
