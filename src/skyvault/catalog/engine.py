"""Engines for catalog URLs: any SQLAlchemy URL; SQLite files are private (0600) and run in WAL mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from skyvault.errors import ConfigError

CATALOG_FILE = "catalog.db"
PRIVATE = 0o600


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite catalog file at ``path``."""
    return f"sqlite:///{path}"


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"catalog_url: not a database URL: {exc}") from None


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid catalog URL>"


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for another backend or an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None  # a URI filename: the caller owns its options
    return Path(url.database)


def _private_file(path: Path) -> None:
    """Create the catalog file 0600 (captured configurations are user data); tighten one an older skyvault made.

    SQLite creates the -wal and -shm files with the permissions of the database file itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    os.close(fd)
    for member in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(member.stat().st_mode)
            if mode & 0o077:
                member.chmod(mode & ~0o077)
        except FileNotFoundError:
            continue


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_explicit_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite commits before DDL on its own; take over so that a migration is one transaction.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Any) -> None:
    # The write lock from the start: two processes opening a new catalog upgrade it one after the other.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, for_migrations: bool = False) -> Engine:
    """An engine for ``url``. ``for_migrations``: on SQLite, every transaction (DDL included) is atomic and
    holds the write lock from its start."""
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        try:
            _private_file(path)
        except OSError as exc:
            raise ConfigError(f"catalog {path}: cannot create or open: {exc.strerror or exc}") from None
    try:
        engine = create_engine(parsed)
    except ImportError as exc:
        raise ConfigError(f"catalog_url {safe_url(url)}: its database driver is not installed ({exc})") from None
    except (NoSuchModuleError, ArgumentError) as exc:
        raise ConfigError(f"catalog_url {safe_url(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if for_migrations:
            event.listen(engine, "connect", _sqlite_explicit_transactions)
            event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine
