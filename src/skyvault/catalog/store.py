"""Catalog storage. SQLite by default (one file in the state dir); any SQLAlchemy URL (PostgreSQL for teams).

Recovery points record what a backup produced: native recovery points (snapshot IDs...), the library snapshot
that holds the copy, and the captured configuration needed to rebuild the resource. Jobs record their steps
(one row per step, updated in place) so they can resume, and a lease that says who runs them; intermediate
resources are recorded *before* they are created-and-tagged so a crash never leaves something the cleanup cannot
find. Every method returns plain records (``skyvault.catalog.records``), never ORM rows.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, delete, insert, inspect, null, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from skyvault.catalog.engine import CATALOG_FILE, make_engine, parse_url, safe_url, sqlite_file, sqlite_url
from skyvault.catalog.models import (
    Base,
    IntermediateRow,
    JobRow,
    JobStepRow,
    PlanRunRow,
    RecoveryPointRow,
    SchedulerLeaseRow,
    utcnow,
)
from skyvault.catalog.records import IntermediateResource, Job, PlanRun, RecoveryPoint
from skyvault.catalog.revision import HEAD_REVISION, SchemaUpgrade, stored_revision
from skyvault.catalog.steps import TERMINAL, StepColumns, columns_of, state_of
from skyvault.errors import ConfigError, NotFoundError

__all__ = ["Catalog", "new_id", "utcnow"]

_JOB_FIELDS = frozenset(c.key for c in JobRow.__table__.columns) - {"id"}
_POINT_FIELDS = frozenset(c.key for c in RecoveryPointRow.__table__.columns)


def new_id(prefix: str) -> str:
    """Sortable, unique IDs: prefix, millisecond time, random suffix (e.g. rp-01j9x3...)."""
    return f"{prefix}-{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def _point(row: RecoveryPointRow) -> RecoveryPoint:
    return RecoveryPoint(**{name: getattr(row, name) for name in _POINT_FIELDS})


def _plan_run(row: PlanRunRow) -> PlanRun:
    return PlanRun(
        id=row.id,
        plan=row.plan,
        scheduled_for=row.scheduled_for,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        summary=dict(row.summary or {}),
    )


def _intermediate(row: IntermediateRow) -> IntermediateResource:
    return IntermediateResource(
        id=row.id,
        job_id=row.job_id,
        resource_type=row.resource_type,
        account=row.account,
        region=row.region,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )


def _job(row: JobRow, steps: dict[str, dict[str, Any]]) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        params=row.params,
        steps=steps,
        error=row.error,
        duration_s=row.duration_s,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        heartbeat_at=row.heartbeat_at,
        queue=row.queue,
        run_key=row.run_key,
    )


_STEP_QUERY = select(
    JobStepRow.job_id,
    JobStepRow.name,
    JobStepRow.status,
    JobStepRow.result.is_not(None).label("has_result"),  # SQL NULL: no result key; JSON null: a None result
    JobStepRow.result,
    JobStepRow.error,
    JobStepRow.started_at,
    JobStepRow.duration_s,
    JobStepRow.extra,
).order_by(JobStepRow.id)


def _step_state(row: Row[Any]) -> dict[str, Any]:
    return state_of(
        StepColumns(
            status=row.status,
            has_result=bool(row.has_result),
            result=row.result,
            error=row.error,
            started_at=row.started_at,
            duration_s=row.duration_s,
            extra=dict(row.extra or {}),
        )
    )


def _step_values(state: dict[str, Any], now: datetime) -> dict[str, Any]:
    columns = columns_of(state)
    return {
        "status": columns.status,
        "result": columns.result if columns.has_result else null(),
        "error": columns.error,
        "started_at": columns.started_at,
        "finished_at": now if columns.status in TERMINAL else None,
        "duration_s": columns.duration_s,
        "extra": columns.extra or None,
    }


class Catalog:
    """The catalog at ``url``. SQLite catalogs are migrated to the current schema on open; any other database
    must already be at it (``skyvault catalog upgrade``), else ``ConfigError``."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = parse_url(url)
        try:
            if parsed.get_backend_name() == "sqlite":
                self._upgrade_sqlite(url)
            self.engine: Engine = make_engine(url)
            if parsed.get_backend_name() != "sqlite":
                self._require_head()
        except DBAPIError as exc:
            raise ConfigError(f"cannot open the catalog at {safe_url(url)}: {exc.orig}") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, state_dir: Path) -> Catalog:
        """The default catalog: the SQLite file ``catalog.db`` in ``state_dir``."""
        return cls(sqlite_url(state_dir / CATALOG_FILE))

    @staticmethod
    def upgrade(url: str) -> SchemaUpgrade:
        """Migrate the catalog at ``url`` to the schema this skyvault needs (``skyvault catalog upgrade``)."""
        from skyvault.catalog import schema  # Alembic: only when migrating (see revision.py)

        engine = make_engine(url, for_migrations=True)
        try:
            return schema.upgrade(engine)
        except DBAPIError as exc:
            raise ConfigError(f"cannot upgrade the catalog at {safe_url(url)}: {exc.orig}") from None
        finally:
            engine.dispose()

    def _upgrade_sqlite(self, url: str) -> None:
        path = sqlite_file(parse_url(url))
        if path is not None and path.exists():
            # The common case, without the write lock a migration takes: already at head.
            probe = make_engine(url)
            try:
                with probe.connect() as connection:
                    if stored_revision(connection) == HEAD_REVISION:
                        return
            finally:
                probe.dispose()
        elif path is not None and self._create_at_head(url):
            return
        self.upgrade(url)

    @staticmethod
    def _create_at_head(url: str) -> bool:
        """Make a new SQLite catalog at the head schema directly, as Alembic's cookbook builds an up-to-date
        database from scratch: the models' tables and the head revision stamped, in one transaction holding the
        write lock (a few ms; importing Alembic and replaying every migration costs ~0.15 s of a user's first
        command). ``tests/catalog/test_migrations.py`` proves it is the schema the migrations make. False when
        the database is not empty after all (another process made it meanwhile at another revision): then the
        migrations decide."""
        engine = make_engine(url, for_migrations=True)
        try:
            with engine.begin() as connection:
                if inspect(connection).get_table_names():
                    return stored_revision(connection) == HEAD_REVISION
                Base.metadata.create_all(connection)
                connection.execute(
                    text(
                        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                    )
                )
                stamp = text("INSERT INTO alembic_version (version_num) VALUES (:head)")
                connection.execute(stamp, {"head": HEAD_REVISION})
            return True
        finally:
            engine.dispose()

    def _require_head(self) -> None:
        with self.engine.connect() as connection:
            if stored_revision(connection) == HEAD_REVISION:
                return
            from skyvault.catalog import schema  # Alembic: only to explain what is wrong

            schema.require_head(connection)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()

    # -- recovery points ------------------------------------------------------------------------------
    def add_recovery_point(self, **fields: Any) -> RecoveryPoint:
        fields.setdefault("id", new_id("rp"))
        row = RecoveryPointRow(**fields)
        with self.session() as session, session.begin():
            session.add(row)
            session.flush()
            return _point(row)

    def recovery_point(self, point_id: str) -> RecoveryPoint:
        with self.session() as session:
            row = session.get(RecoveryPointRow, point_id)
            if row is None:
                raise NotFoundError(f"no recovery point {point_id!r}", hint="skyvault backups list")
            return _point(row)

    def recovery_points(
        self,
        *,
        kind: str | None = None,
        resource_id: str | None = None,
        status: str | None = "completed",
        expires_by: datetime | None = None,
    ) -> list[RecoveryPoint]:
        """Oldest first. ``expires_by``: only points with an ``expires_at`` at or before it."""
        query = select(RecoveryPointRow).order_by(RecoveryPointRow.created_at, RecoveryPointRow.id)
        if kind:
            query = query.where(RecoveryPointRow.kind == kind)
        if resource_id:
            query = query.where(RecoveryPointRow.resource_id == resource_id)
        if status:
            query = query.where(RecoveryPointRow.status == status)
        if expires_by is not None:
            query = query.where(RecoveryPointRow.expires_at.is_not(None), RecoveryPointRow.expires_at <= expires_by)
        with self.session() as session:
            return [_point(row) for row in session.scalars(query)]

    def latest_recovery_point(self, kind: str, resource_id: str) -> RecoveryPoint | None:
        query = (
            select(RecoveryPointRow)
            .where(
                RecoveryPointRow.kind == kind,
                RecoveryPointRow.resource_id == resource_id,
                RecoveryPointRow.status == "completed",
            )
            .order_by(RecoveryPointRow.created_at.desc(), RecoveryPointRow.id.desc())
            .limit(1)
        )
        with self.session() as session:
            row = session.scalars(query).first()
            return _point(row) if row is not None else None

    def update_recovery_point(self, point_id: str, **fields: Any) -> RecoveryPoint:
        unknown = set(fields) - _POINT_FIELDS
        if unknown:
            raise TypeError(f"recovery points have no field {', '.join(sorted(unknown))}")
        with self.session() as session, session.begin():
            row = session.get(RecoveryPointRow, point_id)
            if row is None:
                raise NotFoundError(f"no recovery point {point_id!r}")
            for key, value in fields.items():
                setattr(row, key, value)
            session.flush()
            return _point(row)

    def put_recovery_point(self, point_id: str, **fields: Any) -> RecoveryPoint:
        """Write the point ``point_id`` whether or not it exists: a job writes its point under the ID it planned, and
        a resumed job whose killed run wrote it already updates it (one point per job)."""
        unknown = set(fields) - _POINT_FIELDS
        if unknown:
            raise TypeError(f"recovery points have no field {', '.join(sorted(unknown))}")
        with self.session() as session, session.begin():
            row = session.get(RecoveryPointRow, point_id)
            if row is None:
                row = RecoveryPointRow(id=point_id, **fields)
                session.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
            session.flush()
            return _point(row)

    # -- jobs -----------------------------------------------------------------------------------------
    def start_job(
        self, kind: str, params: dict[str, Any], *, owner: str | None = None, lease_s: float | None = None
    ) -> Job:
        """A new running job; with ``owner``, created holding a lease of ``lease_s`` seconds."""
        row = JobRow(id=new_id("job"), kind=kind, status="running", params=params)
        if owner is not None:
            if lease_s is None or lease_s <= 0:
                raise ValueError("a job started with an owner needs a positive lease_s")
            now = utcnow()
            row.created_at = row.updated_at = row.heartbeat_at = now
            row.lease_owner, row.lease_expires_at = owner, now + timedelta(seconds=lease_s)
        with self.session() as session, session.begin():
            session.add(row)
            session.flush()
            return _job(row, {})

    def job(self, job_id: str) -> Job:
        with self.session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"no job {job_id!r}", hint="skyvault jobs list")
            steps = self._steps(session, [job_id])
            return _job(row, steps.get(job_id, {}))

    def jobs(self, *, status: str | None = None) -> list[Job]:
        query = select(JobRow).order_by(JobRow.created_at, JobRow.id)
        if status:
            query = query.where(JobRow.status == status)
        with self.session() as session:
            rows = list(session.scalars(query))
            steps = self._steps(session, [row.id for row in rows] if status else None)
            return [_job(row, steps.get(row.id, {})) for row in rows]

    @staticmethod
    def _steps(session: Session, job_ids: Sequence[str] | None) -> dict[str, dict[str, dict[str, Any]]]:
        """Job ID -> its steps, for ``job_ids`` (every job when None)."""
        query = _STEP_QUERY if job_ids is None else _STEP_QUERY.where(JobStepRow.job_id.in_(job_ids))
        steps: dict[str, dict[str, dict[str, Any]]] = {}
        for row in session.execute(query):
            steps.setdefault(row.job_id, {})[row.name] = _step_state(row)
        return steps

    def update_job(self, job_id: str, **fields: Any) -> Job:
        if "steps" in fields:
            raise TypeError("steps are rows of their own: use record_step() or reset_steps()")
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise TypeError(f"jobs have no field {', '.join(sorted(unknown))}")
        with self.session() as session, session.begin():
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFoundError(f"no job {job_id!r}")
            for key, value in fields.items():
                setattr(row, key, value)
            session.flush()
            return _job(row, self._steps(session, [job_id]).get(job_id, {}))

    def record_step(self, job_id: str, step: str, state: dict[str, Any]) -> None:
        """Replace the state of one step (its row only; other steps and processes are untouched)."""
        now = utcnow()
        values = _step_values(state, now)
        for attempt in range(2):
            try:
                with self.engine.begin() as connection:
                    self._touch_job(connection, job_id, now)
                    changed = connection.execute(
                        update(JobStepRow).where(JobStepRow.job_id == job_id, JobStepRow.name == step).values(values)
                    ).rowcount
                    if not changed:
                        connection.execute(insert(JobStepRow).values(job_id=job_id, name=step, **values))
                return
            except IntegrityError:
                if attempt:  # pragma: no cover - a second concurrent insert of the same step cannot happen
                    raise
                # Another process inserted this step between our UPDATE and INSERT: update its row instead.

    def reset_steps(self, job_id: str, keep: Iterable[str]) -> None:
        """Forget every step of the job except ``keep`` (they run again when the job is resumed)."""
        kept = list(keep)
        with self.engine.begin() as connection:
            self._touch_job(connection, job_id, utcnow())
            connection.execute(delete(JobStepRow).where(JobStepRow.job_id == job_id, JobStepRow.name.not_in(kept)))

    @staticmethod
    def _touch_job(connection: Connection, job_id: str, now: datetime) -> None:
        # A step boundary is progress: it moves updated_at, as every change of the job always has.
        if not connection.execute(update(JobRow).where(JobRow.id == job_id).values(updated_at=now)).rowcount:
            raise NotFoundError(f"no job {job_id!r}")

    # -- queued jobs (plans, schedules, workers) -------------------------------------------------------------
    def submit_job(
        self, kind: str, params: dict[str, Any], *, queue: str | None = None, run_key: str | None = None
    ) -> tuple[Job, bool]:
        """A ``queued`` job waiting for a runner; ``(job, created)``.

        With ``run_key`` the submission is idempotent: when a job with that key exists already (another scheduler
        or a retry submitted it), that job is returned with ``created`` False and nothing new is queued. The
        unique index decides, so two racing submitters still make one job."""
        row = JobRow(id=new_id("job"), kind=kind, status="queued", params=params, queue=queue, run_key=run_key)
        try:
            with self.session() as session, session.begin():
                session.add(row)
                session.flush()
                return _job(row, {}), True
        except IntegrityError:
            if run_key is None:
                raise
        with self.session() as session:
            existing = session.scalars(select(JobRow).where(JobRow.run_key == run_key)).one()
            return _job(existing, self._steps(session, [existing.id]).get(existing.id, {})), False

    def claim_job(self, job_id: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Move a ``queued`` job to ``running`` under ``owner``'s lease. One conditional UPDATE: of two workers
        handed the same job (a redelivered message), exactly one gets it. False when it is not queued any more."""
        moment = now or utcnow()
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.status == "queued")
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=moment + timedelta(seconds=lease_s),
                heartbeat_at=moment,
                updated_at=moment,
            )
        )
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 1:
                return True
            if connection.execute(select(JobRow.id).where(JobRow.id == job_id)).first() is None:
                raise NotFoundError(f"no job {job_id!r}", hint="skyvault jobs list")
            return False

    # -- plans: runs, the scheduler's leader lease, legal holds (issue 15, plans and schedules) ----------------
    def start_plan_run(
        self,
        plan: str,
        scheduled_for: datetime,
        *,
        now: datetime | None = None,
        trigger: str = "schedule",
        summary: dict[str, Any] | None = None,
    ) -> PlanRun | None:
        """Record the ``running`` run of ``plan`` for ``scheduled_for``; None when that slot has a row already (the
        unique index decides: of two schedulers racing for one slot, one runs it)."""
        details = {"trigger": trigger, **(summary or {})}
        return self.record_plan_slot(plan, scheduled_for, "running", now=now, summary=details)

    def record_plan_slot(
        self,
        plan: str,
        scheduled_for: datetime,
        status: str,
        *,
        now: datetime | None = None,
        error: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> PlanRun | None:
        """A row for one slot (``running``, or ``missed``/``skipped`` with ``error`` saying why); None if it exists."""
        moment = now or utcnow()
        finished = None if status == "running" else moment
        row = PlanRunRow(
            id=new_id("run"), plan=plan, scheduled_for=scheduled_for, status=status, error=error,
            started_at=moment if status == "running" else None, finished_at=finished, summary=summary or {},
        )  # fmt: skip
        try:
            with self.session() as session, session.begin():
                session.add(row)
                session.flush()
                return _plan_run(row)
        except IntegrityError:
            return None

    def finish_plan_run(
        self, run_id: str, *, status: str, error: str | None, summary: dict[str, Any], now: datetime | None = None
    ) -> PlanRun:
        with self.session() as session, session.begin():
            row = session.get(PlanRunRow, run_id)
            if row is None:
                raise NotFoundError(f"no plan run {run_id!r}")
            row.status, row.error, row.finished_at = status, error, now or utcnow()
            row.summary = {**(row.summary or {}), **summary}
            session.flush()
            return _plan_run(row)

    def plan_runs(
        self, plan: str | None = None, *, limit: int | None = None, status: str | None = None
    ) -> list[PlanRun]:
        """Newest scheduled slot first."""
        query = select(PlanRunRow).order_by(PlanRunRow.scheduled_for.desc(), PlanRunRow.id.desc())
        if plan is not None:
            query = query.where(PlanRunRow.plan == plan)
        if status is not None:
            query = query.where(PlanRunRow.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as session:
            return [_plan_run(row) for row in session.scalars(query)]

    def latest_plan_slot(self, plan: str) -> datetime | None:
        runs = self.plan_runs(plan, limit=1)
        return runs[0].scheduled_for if runs else None

    def jobs_by_run_key_prefix(self, prefix: str) -> list[Job]:
        """Jobs whose run key starts with ``prefix`` (one plan run's: ``<plan>/<scheduled time>/``), steps omitted."""
        query = select(JobRow).where(JobRow.run_key.startswith(prefix, autoescape=True)).order_by(JobRow.id)
        with self.session() as session:
            return [_job(row, {}) for row in session.scalars(query)]

    def plan_job_ids(self, plan: str) -> set[str]:
        """The jobs runs of ``plan`` submitted (their run keys start with ``<plan>/``)."""
        query = select(JobRow.id).where(JobRow.run_key.startswith(f"{plan}/", autoescape=True))
        with self.session() as session:
            return set(session.scalars(query))

    def take_scheduler_lease(self, name: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Lead as ``owner`` for ``lease_s`` seconds if the lease is free, expired or already ``owner``'s (one
        conditional UPDATE, or the INSERT of the first row: of two schedulers exactly one leads)."""
        moment = now or utcnow()
        expires = moment + timedelta(seconds=lease_s)
        statement = (
            update(SchedulerLeaseRow)
            .where(
                SchedulerLeaseRow.name == name,
                or_(SchedulerLeaseRow.owner == owner, SchedulerLeaseRow.expires_at <= moment),
            )
            .values(owner=owner, expires_at=expires)
        )
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 1:
                return True
            if connection.execute(select(SchedulerLeaseRow.name).where(SchedulerLeaseRow.name == name)).first():
                return False
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(SchedulerLeaseRow).values(name=name, owner=owner, expires_at=expires))
            return True
        except IntegrityError:
            return False  # another scheduler inserted the first row just now: it leads

    def release_scheduler_lease(self, name: str, owner: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(SchedulerLeaseRow).where(SchedulerLeaseRow.name == name, SchedulerLeaseRow.owner == owner)
            )

    def scheduler_lease(self, name: str) -> tuple[str, datetime] | None:
        """(owner, expires_at) of the leader lease, or None when nobody ever held it (or it was released)."""
        with self.session() as session:
            row = session.get(SchedulerLeaseRow, name)
            return (row.owner, row.expires_at) if row is not None else None

    def hold_recovery_point(self, point_id: str, reason: str, *, now: datetime | None = None) -> RecoveryPoint:
        """Put a legal hold on a point: retention never expires it until ``release_recovery_point``."""
        return self.update_recovery_point(point_id, hold_reason=reason, held_at=now or utcnow())

    def release_recovery_point(self, point_id: str) -> RecoveryPoint:
        return self.update_recovery_point(point_id, hold_reason=None, held_at=None)

    # -- scale-out: what workers re-queue (issue 15, engine/workers) ----------------------------------------
    def recoverable_jobs(self, queues: Sequence[str], now: datetime, *, queued_before: datetime) -> list[Job]:
        """Jobs of ``queues`` that no live worker holds: ``running`` ones whose lease expired or was never taken
        (their worker died), and ``queued`` ones untouched since ``queued_before`` (their message was lost)."""
        query = (
            select(JobRow)
            .where(
                JobRow.queue.in_(list(queues)),
                or_(
                    and_(
                        JobRow.status == "running",
                        or_(
                            JobRow.lease_owner.is_(None),
                            JobRow.lease_expires_at.is_(None),
                            JobRow.lease_expires_at <= now,
                        ),
                    ),
                    and_(JobRow.status == "queued", JobRow.updated_at <= queued_before),
                ),
            )
            .order_by(JobRow.created_at, JobRow.id)
        )
        with self.session() as session:
            return [_job(row, {}) for row in session.scalars(query)]

    # -- leases ---------------------------------------------------------------------------------------
    def acquire_lease(self, job_id: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Take the job's lease for ``lease_s`` seconds if it is free, expired, or already ``owner``'s.

        One conditional UPDATE: of two contenders, exactly one gets it. True iff ``owner`` now holds it;
        ``NotFoundError`` for a job this catalog does not know (nobody can hold its lease)."""
        moment = now or utcnow()
        statement = (
            update(JobRow)
            .where(
                JobRow.id == job_id,
                or_(
                    JobRow.lease_owner.is_(None),
                    JobRow.lease_expires_at.is_(None),
                    JobRow.lease_expires_at <= moment,
                    JobRow.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=moment + timedelta(seconds=lease_s), heartbeat_at=moment)
        )
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 1:
                return True
            if connection.execute(select(JobRow.id).where(JobRow.id == job_id)).first() is None:
                raise NotFoundError(f"no job {job_id!r}", hint="skyvault jobs list")
            return False

    def renew_lease(self, job_id: str, owner: str, lease_s: float, *, now: datetime | None = None) -> bool:
        """Extend ``owner``'s live lease (the heartbeat). False when the lease expired or someone else holds it:
        the owner must then stop, since cleanup may already have removed the job's intermediates."""
        moment = now or utcnow()
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, and_(JobRow.lease_owner == owner, JobRow.lease_expires_at > moment))
            .values(lease_expires_at=moment + timedelta(seconds=lease_s), heartbeat_at=moment)
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def release_lease(self, job_id: str, owner: str) -> None:
        """Give the lease up (only ``owner``'s own; releasing a lease one does not hold changes nothing)."""
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    # -- intermediates --------------------------------------------------------------------------------
    def record_intermediate(self, job_id: str, resource_type: str, resource_id: str, account: str, region: str) -> None:
        with self.session() as session, session.begin():
            session.merge(
                IntermediateRow(
                    id=resource_id,
                    job_id=job_id,
                    resource_type=resource_type,
                    account=account,
                    region=region,
                )
            )

    def mark_deleted(self, resource_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(IntermediateRow)
                .where(IntermediateRow.id == resource_id, IntermediateRow.deleted_at.is_(None))
                .values(deleted_at=utcnow())
            )

    def live_intermediates(self, job_id: str | None = None) -> list[IntermediateResource]:
        query = (
            select(IntermediateRow)
            .where(IntermediateRow.deleted_at.is_(None))
            .order_by(IntermediateRow.created_at, IntermediateRow.id)
        )
        if job_id:
            query = query.where(IntermediateRow.job_id == job_id)
        with self.session() as session:
            return [_intermediate(row) for row in session.scalars(query)]

    def stale_intermediates(self, now: datetime) -> list[IntermediateResource]:
        """Live intermediates nobody is running: their job is unknown to this catalog or holds no live lease."""
        query = (
            select(IntermediateRow)
            .outerjoin(JobRow, JobRow.id == IntermediateRow.job_id)
            .where(
                IntermediateRow.deleted_at.is_(None),
                or_(
                    JobRow.id.is_(None),
                    JobRow.lease_owner.is_(None),
                    JobRow.lease_expires_at.is_(None),
                    JobRow.lease_expires_at <= now,
                ),
            )
            .order_by(IntermediateRow.created_at, IntermediateRow.id)
        )
        with self.session() as session:
            return [_intermediate(row) for row in session.scalars(query)]
