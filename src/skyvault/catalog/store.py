"""Catalog storage. SQLite by default (one file in the state dir); any SQLAlchemy URL (PostgreSQL for teams).

Recovery points record what a backup produced: native recovery points (snapshot IDs...), the library snapshot
that holds the copy, and the captured configuration needed to rebuild the resource. Jobs record their steps
so they can resume; intermediate resources are recorded *before* they are created-and-tagged so a crash never
leaves something the cleanup cannot find.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, String, create_engine, event, inspect, or_, select, text, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql.expression import Update
from sqlalchemy.types import TypeEngine

from skyvault.errors import NotFoundError


def new_id(prefix: str) -> str:
    """Sortable, unique IDs: prefix, millisecond time, random suffix (e.g. rp-01j9x3...)."""
    return f"{prefix}-{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class RecoveryPoint(Base):
    __tablename__ = "recovery_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    resource_id: Mapped[str] = mapped_column(String(512), index=True)
    account: Mapped[str] = mapped_column(String(64), default="")
    region: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    native: Mapped[dict[str, Any]] = mapped_column(default=dict)
    library: Mapped[str | None] = mapped_column(String(64), nullable=True)
    library_snapshot: Mapped[str | None] = mapped_column(String(128), nullable=True)
    captured_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "resource_id": self.resource_id,
            "account": self.account,
            "region": self.region,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "status": self.status,
            "job_id": self.job_id,
            "native": self.native,
            "library": self.library,
            "library_snapshot": self.library_snapshot,
            "captured_config": self.captured_config,
            "stats": self.stats,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def lease_live(self, now: datetime) -> bool:
        """Someone holds this job's lease at ``now`` (only then is the job alive: nothing else says so)."""
        expires = self.lease_expires_at
        if self.lease_owner is None or expires is None:
            return False
        return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "params": self.params,
            "steps": self.steps,
            "error": self.error,
            "duration_s": self.duration_s,
        }


class IntermediateResource(Base):
    """Something a job creates only to delete it later (temporary snapshot, volume, AMI, shared copy)."""

    __tablename__ = "intermediates"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Catalog:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_lease_columns(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, state_dir: Path) -> Catalog:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{state_dir / 'catalog.db'}")

    def session(self) -> Session:
        return self._sessions()

    # -- recovery points ------------------------------------------------------------------------------
    def add_recovery_point(self, **fields: Any) -> RecoveryPoint:
        fields.setdefault("id", new_id("rp"))
        point = RecoveryPoint(**fields)
        with self.session() as session, session.begin():
            session.add(point)
        return point

    def recovery_point(self, point_id: str) -> RecoveryPoint:
        with self.session() as session:
            point = session.get(RecoveryPoint, point_id)
        if point is None:
            raise NotFoundError(f"no recovery point {point_id!r}", hint="skyvault backups list")
        return point

    def recovery_points(
        self, *, kind: str | None = None, resource_id: str | None = None, status: str | None = "completed"
    ) -> list[RecoveryPoint]:
        query = select(RecoveryPoint).order_by(RecoveryPoint.created_at, RecoveryPoint.id)
        if kind:
            query = query.where(RecoveryPoint.kind == kind)
        if resource_id:
            query = query.where(RecoveryPoint.resource_id == resource_id)
        if status:
            query = query.where(RecoveryPoint.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def latest_recovery_point(self, kind: str, resource_id: str) -> RecoveryPoint | None:
        points = self.recovery_points(kind=kind, resource_id=resource_id)
        return points[-1] if points else None

    def update_recovery_point(self, point_id: str, **fields: Any) -> RecoveryPoint:
        with self.session() as session, session.begin():
            point = session.get(RecoveryPoint, point_id)
            if point is None:
                raise NotFoundError(f"no recovery point {point_id!r}")
            for key, value in fields.items():
                setattr(point, key, value)
        return point

    # -- jobs -----------------------------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        with self.session() as session:
            job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r}", hint="skyvault jobs list")
        return job

    def jobs(self, *, status: str | None = None) -> list[Job]:
        query = select(Job).order_by(Job.created_at, Job.id)
        if status:
            query = query.where(Job.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def update_job(self, job_id: str, **fields: Any) -> Job:
        with self.session() as session, session.begin():
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            for key, value in fields.items():
                setattr(job, key, value)
        return job

    def record_step(self, job_id: str, step: str, state: dict[str, Any]) -> None:
        with self.session() as session, session.begin():
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            job.steps = {**job.steps, step: state}

    # -- intermediates --------------------------------------------------------------------------------
    def record_intermediate(self, job_id: str, resource_type: str, resource_id: str, account: str, region: str) -> None:
        with self.session() as session, session.begin():
            session.merge(
                IntermediateResource(
                    id=resource_id, job_id=job_id, resource_type=resource_type, account=account, region=region
                )
            )

    def mark_deleted(self, resource_id: str) -> None:
        with self.session() as session, session.begin():
            item = session.get(IntermediateResource, resource_id)
            if item is not None:
                item.deleted_at = utcnow()

    def live_intermediates(self, job_id: str | None = None) -> list[IntermediateResource]:
        query = select(IntermediateResource).where(IntermediateResource.deleted_at.is_(None))
        if job_id:
            query = query.where(IntermediateResource.job_id == job_id)
        with self.session() as session:
            return list(session.scalars(query))

    # -- leases (minimal; branch catalog has the real ones) -------------------------------------------
    # A running job holds a lease that its process renews (the runner's heartbeat); a job is dead only when its
    # lease has expired. Taking and renewing are single conditional UPDATEs, so two processes cannot both win.
    def start_job(
        self, kind: str, params: dict[str, Any], *, owner: str | None = None, lease_s: float | None = None
    ) -> Job:
        now = utcnow()
        held = owner is not None and lease_s is not None
        job = Job(
            id=new_id("job"),
            kind=kind,
            status="running",
            params=params,
            steps={},
            lease_owner=owner if held else None,
            lease_expires_at=now + timedelta(seconds=lease_s) if held and lease_s is not None else None,
            heartbeat_at=now if held else None,
        )
        with self.session() as session, session.begin():
            session.add(job)
        return job

    def acquire_lease(self, job_id: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Take the job's lease unless another owner's is live at ``now``; True when ``owner`` holds it after."""
        now = (now or utcnow()).astimezone(UTC)  # stored as naive UTC text: compare like with like
        free = or_(Job.lease_owner.is_(None), Job.lease_owner == owner, Job.lease_expires_at.is_(None))
        query = (
            update(Job)
            .where(Job.id == job_id, or_(free, Job.lease_expires_at <= now))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s), heartbeat_at=now)
        )
        with self.session() as session, session.begin():
            taken = _updated_rows(session, query) == 1
        if not taken:
            self.job(job_id)  # NotFoundError for an unknown job rather than "someone else holds it"
        return taken

    def renew_lease(self, job_id: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Extend ``owner``'s lease; False when someone else holds the job now (the caller must stop)."""
        now = (now or utcnow()).astimezone(UTC)  # stored as naive UTC text: compare like with like
        query = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner)
            .values(lease_expires_at=now + timedelta(seconds=lease_s), heartbeat_at=now)
        )
        with self.session() as session, session.begin():
            return _updated_rows(session, query) == 1

    def release_lease(self, job_id: str, owner: str) -> None:
        """Give the lease up (only ``owner``'s: a lease taken over meanwhile stays with its new owner)."""
        query = (
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        with self.session() as session, session.begin():
            session.execute(query)

    def stale_intermediates(self, now: datetime) -> list[IntermediateResource]:
        """Live intermediates of jobs that hold no live lease at ``now`` (or that this catalog does not know)."""
        now = now.astimezone(UTC)
        live_jobs = select(Job.id).where(Job.lease_owner.is_not(None), Job.lease_expires_at > now)
        query = (
            select(IntermediateResource)
            .where(IntermediateResource.deleted_at.is_(None), IntermediateResource.job_id.not_in(live_jobs))
            .order_by(IntermediateResource.job_id, IntermediateResource.created_at)
        )
        with self.session() as session:
            return list(session.scalars(query))

    def reset_steps(self, job_id: str, keep: Iterable[str]) -> None:
        """Forget every recorded step of the job but those named in ``keep`` (they run again on resume)."""
        kept = set(keep)
        with self.session() as session, session.begin():
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r}")
            job.steps = {name: state for name, state in job.steps.items() if name in kept}


def _updated_rows(session: Session, statement: Update) -> int:
    result = session.execute(statement)
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def _add_lease_columns(engine: Engine) -> None:
    """Catalogs made before leases existed get the three lease columns (``create_all`` adds no columns)."""
    present = {column["name"] for column in inspect(engine).get_columns("jobs")}
    missing: dict[str, TypeEngine[Any]] = {
        "lease_owner": String(256),
        "lease_expires_at": DateTime(timezone=True),
        "heartbeat_at": DateTime(timezone=True),
    }
    with engine.begin() as connection:
        for name, column_type in missing.items():
            if name not in present:
                sql_type = column_type.compile(dialect=engine.dialect)
                connection.execute(text(f"ALTER TABLE jobs ADD COLUMN {name} {sql_type}"))
