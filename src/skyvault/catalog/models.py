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
