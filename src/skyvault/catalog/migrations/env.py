"""Alembic environment: the caller (``skyvault.catalog.schema``) passes an open connection; no alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from skyvault.catalog.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("skyvault's catalog migrations run through skyvault.catalog.schema.upgrade (online only)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot drop or alter columns in place: Alembic's batch mode rebuilds the table.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
