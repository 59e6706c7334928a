"""Steps in their own table (one row per job and step, updated in place) and job leases.

The JSON ``jobs.steps`` column becomes ``job_steps`` rows: the well-known keys of a step's state get typed
columns, any other key (or a value that does not fit its column) goes to ``extra``, so every state is kept
exactly. Then ``jobs`` loses ``steps`` and gains ``lease_owner``, ``lease_expires_at`` and ``heartbeat_at``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("steps", sa.JSON))
_steps = sa.table(
    "job_steps",
    sa.column("id", sa.Integer),
    sa.column("job_id", sa.String),
    sa.column("name", sa.String),
    sa.column("status", sa.String),
    sa.column("result", sa.JSON(none_as_null=False)),
    sa.column("error", sa.Text),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("duration_s", sa.Float),
    sa.column("extra", sa.JSON),
)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.astimezone(UTC).isoformat() != value:
        return None
    return moment.astimezone(UTC)


def _row(job_id: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"job_id": job_id, "name": name, "result": sa.null()}
    extra: dict[str, Any] = {}
    for key, value in state.items():
        if key == "status" and isinstance(value, str):
            row["status"] = value
        elif key == "result":
            row["result"] = value
        elif key == "error" and isinstance(value, str):
            row["error"] = value
        elif key == "started_at" and _time(value) is not None:
            row["started_at"] = _time(value)
        elif key == "duration_s" and type(value) is float:
            row["duration_s"] = value
        else:
            extra[key] = value
    row["extra"] = extra or None
    return row


def upgrade() -> None:
    op.create_table(
        "job_steps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=False), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_steps_job_id_name", "job_steps", ["job_id", "name"], unique=True)
    connection = op.get_bind()
    # One row per step, in the order the JSON object kept them (the ids keep that order).
    for job_id, steps in connection.execute(sa.select(_jobs.c.id, _jobs.c.steps).order_by(_jobs.c.id)):
        for name, state in (steps or {}).items():
            row = _row(job_id, name, state if isinstance(state, dict) else {"value": state})
            connection.execute(_steps.insert().values(**row))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("steps")
        batch.add_column(sa.Column("lease_owner", sa.String(256), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=False, server_default="{}"))
        batch.drop_column("heartbeat_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
    connection = op.get_bind()
    folded: dict[str, dict[str, Any]] = {}
    query = sa.select(_steps, _steps.c.result.is_not(None).label("has_result")).order_by(_steps.c.id)
    for row in connection.execute(query).mappings():
        state: dict[str, Any] = {}
        if row["status"] is not None:
            state["status"] = row["status"]
        if row["started_at"] is not None:
            started = row["started_at"]
            state["started_at"] = (started if started.tzinfo else started.replace(tzinfo=UTC)).isoformat()
        if row["has_result"]:
            state["result"] = row["result"]
        if row["error"] is not None:
            state["error"] = row["error"]
        if row["duration_s"] is not None:
            state["duration_s"] = row["duration_s"]
        state.update(row["extra"] or {})
        folded.setdefault(row["job_id"], {})[row["name"]] = state
    for job_id, steps in folded.items():
        connection.execute(_jobs.update().where(_jobs.c.id == job_id).values(steps=steps))
    op.drop_index("ix_job_steps_job_id_name", table_name="job_steps")
    op.drop_table("job_steps")
