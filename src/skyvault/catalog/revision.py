"""The schema revision this skyvault needs, and the one a catalog has, known without importing Alembic.

Importing Alembic costs a few hundred milliseconds, paid by every command that opens the catalog; it is needed
only to migrate. Opening an up-to-date catalog reads ``alembic_version`` with SQLAlchemy and compares it with
``HEAD_REVISION``; ``tests/catalog/test_migrations.py`` fails when a new migration does not move this constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

HEAD_REVISION = "0003"


@dataclass(frozen=True)
class SchemaUpgrade:
    from_revision: str | None
    to_revision: str

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision

    def to_dict(self) -> dict[str, str | bool | None]:
        return {"from_revision": self.from_revision, "to_revision": self.to_revision, "upgraded": self.changed}


def stored_revision(connection: Connection) -> str | None:
    """The revision in the catalog's ``alembic_version`` table; None when it has none (new or pre-migration)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row is not None else None
