"""The catalog's schema version: Alembic, configured in code (no alembic.ini at run time).

SQLite catalogs are upgraded when opened; other databases are upgraded by ``skyvault catalog upgrade`` (a team's
PostgreSQL is shared: the person who installs a new skyvault decides when its schema moves). A catalog that a
skyvault older than the migrations created (its tables, no ``alembic_version``) is stamped at the first revision,
which is exactly that schema, and then upgraded.
"""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from skyvault.catalog.revision import SchemaUpgrade
from skyvault.errors import ConfigError

__all__ = ["SchemaUpgrade", "current_revision", "head_revision", "require_head", "upgrade"]

FIRST_REVISION = "0001"
UNVERSIONED = "unversioned (made before migrations)"
SCRIPT_LOCATION = "skyvault.catalog:migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions())


def _refuse_unknown(revision: str | None) -> None:
    if revision not in (None, UNVERSIONED) and revision not in known_revisions():
        raise ConfigError(
            f"catalog schema is at {revision}, which this skyvault does not know: a newer skyvault made it",
            hint="run that skyvault, or a newer one than this",
        )


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError("skyvault.catalog.migrations has no revisions")
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema's revision; ``UNVERSIONED`` for a catalog from before migrations; None for an empty database."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and inspect(connection).has_table("jobs"):
        return UNVERSIONED
    return revision


def require_head(connection: Connection) -> None:
    """Refuse a catalog whose schema is not the one this skyvault needs (ConfigError naming the fix)."""
    current, head = current_revision(connection), head_revision()
    _refuse_unknown(current)
    if current != head:
        raise ConfigError(
            f"catalog schema is at {current or 'none (empty database)'}, skyvault needs {head}: "
            "run `skyvault catalog upgrade`"
        )


def upgrade(engine: Engine) -> SchemaUpgrade:
    """Bring the schema to the head revision in one transaction (idempotent)."""
    head = head_revision()
    with engine.begin() as connection:
        before = current_revision(connection)
        _refuse_unknown(before)
        if before == head:
            return SchemaUpgrade(before, head)
        config = _config(connection)
        if before == UNVERSIONED:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")
    return SchemaUpgrade(before, head)
