"""Catalog fixtures: a fresh catalog, and one made by the skyvault of before migrations (fixtures/catalog-v0.sql)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from skyvault.catalog import Catalog

V0_SQL = Path(__file__).parent / "fixtures" / "catalog-v0.sql"


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path / "state")


def _write_v0_catalog(path: Path) -> Path:
    """The catalog file as ``create_all`` made it before migrations, with the fixture's rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.executescript(V0_SQL.read_text())
        connection.commit()
    finally:
        connection.close()
    return path


@pytest.fixture
def write_v0_catalog() -> Callable[[Path], Path]:
    """Writes the catalog of before migrations (``fixtures/catalog-v0.sql``) at a path; returns the path."""
    return _write_v0_catalog
