"""The SQLite catalog holds captured configurations: its files are private to the user (0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from skyvault.catalog import Catalog


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_catalog_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which gave 0644 before
    try:
        catalog = Catalog.open(tmp_path)
        catalog.start_job("k", {})  # a write: SQLite creates the -wal and -shm files
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["catalog.db", "catalog.db-shm", "catalog.db-wal"]
        assert {name: _mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
    finally:
        os.umask(old_umask)


def test_an_older_world_readable_catalog_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Catalog.open(tmp_path).engine.dispose()
    path.chmod(0o644)
    Catalog.open(tmp_path).start_job("k", {})
    assert _mode(path) == 0o600
