"""The catalog's tables (SQLAlchemy ORM). Nothing outside ``skyvault.catalog`` sees these rows: see records.py.

The schema is owned by the Alembic revisions in ``migrations/versions``; a test checks that these models and
the head revision describe the same tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from skyvault.catalog.types import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UtcDateTime,
    }


class RecoveryPointRow(Base):
    __tablename__ = "recovery_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    resource_id: Mapped[str] = mapped_column(String(512), index=True)
    account: Mapped[str] = mapped_column(String(64), default="")
    region: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    native: Mapped[dict[str, Any]] = mapped_column(default=dict)
    library: Mapped[str | None] = mapped_column(String(64), nullable=True)
    library_snapshot: Mapped[str | None] = mapped_column(String(128), nullable=True)
    captured_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # A legal hold: retention never expires a point while it has a reason here.
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    held_at: Mapped[datetime | None] = mapped_column(nullable=True)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Whoever holds the lease runs the job; nobody else resumes it or cleans its intermediates until it expires.
    lease_owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Where a queued job waits (a region's worker queue); NULL for jobs run in the submitting process.
    queue: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Unique when set: one scheduled run submits one job per resource, however many submitters race.
    run_key: Mapped[str | None] = mapped_column(String(512), nullable=True)

    __table_args__ = (Index("ix_jobs_run_key", "run_key", unique=True),)


class JobStepRow(Base):
    """One step of one job. ``id`` only orders the steps as they were first recorded."""

    __tablename__ = "job_steps"
    __table_args__ = (Index("ix_job_steps_job_id_name", "job_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), ForeignKey("jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # SQL NULL: the state had no result; JSON null: the step returned None.
    result: Mapped[Any] = mapped_column(JSON(none_as_null=False), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class IntermediateRow(Base):
    """Something a job creates only to delete it later (temporary snapshot, volume, AMI, shared copy)."""

    __tablename__ = "intermediates"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PlanRunRow(Base):
    """One run of one plan at one scheduled time (unique): a catch-up after downtime runs it once."""

    __tablename__ = "plan_runs"
    __table_args__ = (Index("ix_plan_runs_plan_scheduled_for", "plan", "scheduled_for", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan: Mapped[str] = mapped_column(String(128))
    scheduled_for: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class SchedulerLeaseRow(Base):
    """A leader role (``scheduler``): whoever holds the unexpired lease schedules; the others wait."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime] = mapped_column()
