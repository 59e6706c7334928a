"""Queued jobs, legal holds, plan runs and the scheduler's leader lease.

* ``jobs.queue``: where a queued job waits (a region's queue for a Celery worker; NULL for in-process jobs).
* ``jobs.run_key``: unique when set, so one scheduled run never creates two jobs for one resource, however many
  schedulers or workers race to submit it.
* ``recovery_points.hold_reason`` / ``held_at``: a legal hold; retention never expires a held point.
* ``plan_runs``: one row per plan and scheduled time (unique), so a catch-up after downtime runs once.
* ``scheduler_leases``: one row per leader role; whoever holds an unexpired lease schedules.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue", sa.String(64), nullable=True))
        batch.add_column(sa.Column("run_key", sa.String(512), nullable=True))
        batch.create_index("ix_jobs_run_key", ["run_key"], unique=True)
    with op.batch_alter_table("recovery_points") as batch:
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "plan_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("plan", sa.String(128), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_plan_runs_plan_scheduled_for", "plan_runs", ["plan", "scheduled_for"], unique=True)
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_index("ix_plan_runs_plan_scheduled_for", table_name="plan_runs")
    op.drop_table("plan_runs")
    with op.batch_alter_table("recovery_points") as batch:
        batch.drop_column("held_at")
        batch.drop_column("hold_reason")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_run_key")
        batch.drop_column("run_key")
        batch.drop_column("queue")
