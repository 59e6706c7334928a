"""Schema migrations: a catalog made before migrations keeps every row; models and head revision agree."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from skyvault.catalog import Catalog, schema
from skyvault.catalog.engine import make_engine, sqlite_url
from skyvault.catalog.models import Base
from skyvault.errors import ConfigError

V0Writer = Callable[[Path], Path]
T = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def _revision(path: Path) -> str | None:
    with create_engine(sqlite_url(path)).connect() as connection:
        return schema.current_revision(connection)


def test_a_catalog_from_before_migrations_is_upgraded_with_its_data(tmp_path: Path, write_v0_catalog: V0Writer) -> None:
    path = write_v0_catalog(tmp_path / "catalog.db")
    assert _revision(path) == schema.UNVERSIONED
    catalog = Catalog.open(tmp_path)
    assert _revision(path) == schema.head_revision()

    job = catalog.job("job-0001")
    assert (job.kind, job.status, job.error, job.duration_s) == ("backup-ec2", "failed", "boom", 3.5)
    assert job.created_at == T and job.updated_at == T and job.created_at.tzinfo is UTC
    assert job.params == {"account": "admin", "region": "us-east-1", "instance_id": "i-0abc"}
    assert job.lease_owner is None and job.lease_expires_at is None and job.heartbeat_at is None
    assert job.steps == {
        "capture": {"status": "done", "result": {"instance": "i-0abc", "volumes": ["vol-1"]}, "duration_s": 0.25},
        "snapshot": {"status": "failed", "error": "boom"},
        "copy": {"status": "running", "started_at": "2026-11-30T12:00:01.500000+00:00"},
        "noop": {"status": "done", "result": None, "duration_s": 0.0},
        "cleanup": {"status": "failed", "deleted": 1, "leftovers": {"snap-9": "stuck"}},
    }
    assert list(job.steps) == ["capture", "snapshot", "copy", "noop", "cleanup"]
    empty = catalog.job("job-0002")
    assert (empty.kind, empty.status, empty.params, empty.steps) == (
        "backup-rds",
        "completed",
        {"resources": ["db-1"]},
        {},
    )
    assert empty.error is None and empty.duration_s is None

    with sqlite3.connect(path) as raw:  # the steps are rows now, and the JSON column is gone
        rows = raw.execute("SELECT job_id, name, status FROM job_steps ORDER BY id").fetchall()
        job_columns = {row[1] for row in raw.execute("PRAGMA table_info(jobs)")}
    assert rows == [
        ("job-0001", "capture", "done"),
        ("job-0001", "snapshot", "failed"),
        ("job-0001", "copy", "running"),
        ("job-0001", "noop", "done"),
        ("job-0001", "cleanup", "failed"),
    ]
    assert "steps" not in job_columns and {"lease_owner", "lease_expires_at", "heartbeat_at"} <= job_columns

    points = {p.id: p.to_dict() for p in catalog.recovery_points(status=None)}
    assert points == {
        "rp-0001": {
            "id": "rp-0001", "kind": "ec2", "resource_id": "i-0abc", "account": "admin", "region": "us-east-1",
            "created_at": "2026-11-30T12:00:00.123456+00:00", "status": "completed", "job_id": "job-0001",
            "native": {"snapshots": {"/dev/xvda": "snap-1"}}, "library": "main", "library_snapshot": "abc123",
            "captured_config": {"type": "t3.micro"}, "stats": {"bytes": 42},
            "expires_at": "2026-12-30T00:00:00+00:00", "hold": None,
        },
        "rp-0002": {
            "id": "rp-0002", "kind": "rds", "resource_id": "db-1", "account": "admin", "region": "eu-west-1",
            "created_at": "2026-11-30T12:00:00.123456+00:00", "status": "completed", "job_id": None, "native": {},
            "library": None, "library_snapshot": None, "captured_config": {}, "stats": {}, "expires_at": None,
            "hold": None,
        },
    }  # fmt: skip
    live = catalog.live_intermediates()
    assert [(i.id, i.job_id, i.resource_type, i.account, i.region, i.created_at) for i in live] == [
        ("snap-9", "job-0001", "ebs-snapshot", "admin", "us-east-1", T)
    ]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT deleted_at FROM intermediates WHERE id = 'vol-7'").fetchone() == (
            "2026-11-30 12:00:00.123456",
        )
    # and the upgraded catalog works: a step of the old job updates its row in place
    catalog.record_step("job-0001", "snapshot", {"status": "done", "result": ["snap-2"], "duration_s": 1.0})
    assert list(catalog.job("job-0001").steps) == ["capture", "snapshot", "copy", "noop", "cleanup"]


def test_the_models_are_the_head_revision(tmp_path: Path) -> None:
    Catalog.upgrade(sqlite_url(tmp_path / "catalog.db"))  # made by the migrations
    with create_engine(sqlite_url(tmp_path / "catalog.db")).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _full_shape(path: Path) -> dict[str, object]:
    inspector = inspect(create_engine(sqlite_url(path)))
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(table)],
            inspector.get_pk_constraint(table)["constrained_columns"],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            sorted((tuple(u["column_names"]),) for u in inspector.get_unique_constraints(table)),
            sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            ),
            sorted(str(c["sqltext"]) for c in inspector.get_check_constraints(table)),
        )
        for table in inspector.get_table_names()
    }


def test_a_new_sqlite_catalog_is_made_at_head_with_the_schema_the_migrations_make(tmp_path: Path) -> None:
    """A new SQLite catalog is created from the models and stamped (no Alembic): the same tables, columns,
    keys, indexes and constraints as replaying every migration, and Alembic sees it at head with nothing to do."""
    (tmp_path / "new").mkdir()
    Catalog.open(tmp_path / "new").engine.dispose()
    Catalog.upgrade(sqlite_url(tmp_path / "migrated.db"))
    assert _full_shape(tmp_path / "new" / "catalog.db") == _full_shape(tmp_path / "migrated.db")
    assert _revision(tmp_path / "new" / "catalog.db") == schema.head_revision()
    with create_engine(sqlite_url(tmp_path / "new" / "catalog.db")).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert not Catalog.upgrade(sqlite_url(tmp_path / "new" / "catalog.db")).changed


def test_revision_one_is_the_schema_create_all_made(tmp_path: Path, write_v0_catalog: V0Writer) -> None:
    old = write_v0_catalog(tmp_path / "old.db")
    engine = make_engine(sqlite_url(tmp_path / "new.db"), for_migrations=True)
    with engine.begin() as connection:
        command.upgrade(schema._config(connection), schema.FIRST_REVISION)

    def shape(path: Path) -> dict[str, object]:
        inspector = inspect(create_engine(sqlite_url(path)))
        return {
            table: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                inspector.get_pk_constraint(table)["constrained_columns"],
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            )
            for table in ("recovery_points", "jobs", "intermediates")
        }

    assert shape(tmp_path / "new.db") == shape(old)


def test_downgrade_folds_the_steps_back(tmp_path: Path, write_v0_catalog: V0Writer) -> None:
    path = write_v0_catalog(tmp_path / "catalog.db")
    with sqlite3.connect(path) as raw:
        before = raw.execute("SELECT steps FROM jobs ORDER BY id").fetchall()
    Catalog.open(tmp_path).engine.dispose()
    engine = make_engine(sqlite_url(path), for_migrations=True)
    with engine.begin() as connection:
        command.downgrade(schema._config(connection), schema.FIRST_REVISION)
    with sqlite3.connect(path) as raw:
        after = raw.execute("SELECT steps FROM jobs ORDER BY id").fetchall()
    assert [json.loads(s) for (s,) in after] == [json.loads(s) for (s,) in before]


def test_upgrade_is_idempotent(tmp_path: Path, write_v0_catalog: V0Writer) -> None:
    url = sqlite_url(write_v0_catalog(tmp_path / "catalog.db"))
    first = Catalog.upgrade(url)
    assert (first.from_revision, first.to_revision, first.changed) == (schema.UNVERSIONED, schema.head_revision(), True)
    again = Catalog.upgrade(url)
    assert (again.from_revision, again.changed) == (schema.head_revision(), False)


def test_a_database_behind_head_names_the_command(tmp_path: Path, write_v0_catalog: V0Writer) -> None:
    # What Catalog() checks for every URL that is not SQLite (shown on SQLite, which would upgrade itself).
    path = write_v0_catalog(tmp_path / "catalog.db")
    with create_engine(sqlite_url(path)).connect() as connection, pytest.raises(ConfigError) as caught:
        schema.require_head(connection)
    assert str(caught.value) == (
        "catalog schema is at unversioned (made before migrations), skyvault needs 0003: run `skyvault catalog upgrade`"
    )
    with create_engine(sqlite_url(tmp_path / "empty.db")).connect() as connection, pytest.raises(ConfigError) as empty:
        schema.require_head(connection)
    assert "at none (empty database)" in str(empty.value)


def test_processes_opening_a_new_catalog_together_migrate_it_once(tmp_path: Path) -> None:
    contenders = 4
    start = threading.Barrier(contenders)

    def open_catalog(_: int) -> str:
        start.wait()  # every contender finds no schema and tries to make it
        return Catalog.open(tmp_path).start_job("k", {}).id

    with ThreadPoolExecutor(contenders) as pool:
        job_ids = list(pool.map(open_catalog, range(contenders)))
    assert len(set(job_ids)) == contenders
    assert _revision(tmp_path / "catalog.db") == schema.head_revision()
    assert {job.id for job in Catalog.open(tmp_path).jobs()} == set(job_ids)


def test_a_state_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create or open"):
        Catalog.open(tmp_path / "state")


def test_a_catalog_from_a_newer_skyvault_is_refused(tmp_path: Path) -> None:
    Catalog.open(tmp_path).engine.dispose()
    with sqlite3.connect(tmp_path / "catalog.db") as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigError, match="at 9999, which this skyvault does not know"):
        Catalog.open(tmp_path)


def test_opening_needs_no_alembic_and_knows_the_head_without_it() -> None:
    # Opening an up-to-date catalog compares alembic_version with HEAD_REVISION: it must be Alembic's head.
    from skyvault.catalog.revision import HEAD_REVISION

    assert schema.head_revision() == HEAD_REVISION
    code = (
        "import sys, tempfile, pathlib\n"
        "from skyvault.catalog import Catalog\n"
        "where = pathlib.Path(tempfile.mkdtemp())\n"
        "Catalog.open(where).close()\n"  # a new catalog is made at head without Alembic
        "print(any(m.startswith('alembic') for m in sys.modules))\n"
        "Catalog.open(where).jobs()\n"  # up to date: opening must not import it either
        "print(any(m.startswith('alembic') for m in sys.modules))\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
