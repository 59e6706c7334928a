"""The CLI: library init/check/stats/prune, backup image (JSON shape, incremental), restore --to-file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyvault.errors import LibraryCorruptError, LibraryLockedError, WrongPassphraseError
from skyvault.library.backends.local import LocalBackend
from skyvault.library.repository import Repository

Cli = Callable[..., Any]
MiB = 1024 * 1024


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "skyvault.toml"))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "cli secret")
    return tmp_path


def make_image(path: Path) -> bytes:
    data = os.urandom(3 * MiB) + bytes(4 * MiB) + b"log line 42\n" * 100_000 + os.urandom(100)
    path.write_bytes(data)
    return data


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_backup_restore_check_stats_prune(cli: Cli, workdir: Path) -> None:
    created = ok(cli("--json", "library", "init", "--path", "lib"))
    assert created["library"] == "main" and created["default"] is True
    assert 'default_library = "main"' in (workdir / "skyvault.toml").read_text()

    image = workdir / "disk.img"
    data = make_image(image)
    first = ok(cli("--json", "backup", "image", str(image)))
    assert set(first) == {"recovery_point", "stats"}
    stats = first["stats"]
    assert stats["bytes_read"] == len(data) and stats["duration_s"] >= 0
    assert stats["blocks_zero"] == 8 and stats["parent_snapshot"] is None
    assert stats["bytes_stored"] < len(data) - 4 * MiB  # zeros not stored, text compressed

    original = data
    with image.open("r+b") as handle:
        handle.seek(MiB + 10)
        handle.write(b"changed!")
    data = image.read_bytes()
    second = ok(cli("--json", "backup", "image", str(image)))["stats"]
    assert second["parent_snapshot"] == stats["library_snapshot"]
    assert second["blocks_new"] == 1 and second["bytes_stored"] < 600 * 1024  # one 512 KiB block + map page

    points = ok(cli("--json", "backups", "list", "--kind", "image"))
    assert [p["resource_id"] for p in points] == [str(image.resolve())] * 2
    jobs = ok(cli("--json", "jobs", "list"))  # the job runner ran both backups; the job wrote the points
    assert [(j["kind"], j["status"]) for j in jobs] == [("backup-image", "completed")] * 2
    assert [p["job_id"] for p in points] == [j["id"] for j in jobs]
    source = str(image.resolve())
    assert jobs[1]["params"] == {"paths": [source], "library": "main"}
    assert [name for name in jobs[1]["steps"]] == [f"{source}: copy", f"{source}: record"]
    assert points[1]["library"] == "main" and points[1]["library_snapshot"] == second["library_snapshot"]

    out = workdir / "restored.img"
    restored = ok(cli("--json", "restore", points[1]["id"], "--to-file", str(out)))
    assert restored["recovery_point"] == points[1]["id"]
    assert out.read_bytes() == data
    assert out.stat().st_blocks * 512 < len(data) - 3 * MiB  # zero blocks are holes
    ok(cli("--json", "restore", points[0]["id"], "--to-file", str(out), "--yes"))  # replaces the first restore
    assert out.read_bytes() == original

    report = ok(cli("--json", "library", "check", "--read-data"))
    assert report["ok"] is True and report["snapshots"] == 2
    lib_stats = ok(cli("--json", "library", "stats"))
    assert lib_stats["logical_bytes"] == 2 * len(data) and lib_stats["dedup_ratio"] > 1.5
    pruned = ok(cli("--json", "library", "prune"))
    assert pruned["packs_deleted"] == 0 and pruned["snapshots"] == 2


def test_corruption_is_reported_with_exit_10(cli: Cli, workdir: Path) -> None:
    ok(cli("--json", "library", "init", "--path", "lib"))
    image = workdir / "disk.img"
    make_image(image)
    ok(cli("--json", "backup", "image", str(image)))
    pack = next(p for p in (workdir / "lib" / "data").rglob("*") if p.is_file() and p.stat().st_size > MiB)
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    pack.write_bytes(raw)
    assert cli("library", "check").exit_code == 0  # structure is intact
    result = cli("--json", "library", "check", "--read-data")
    assert result.exit_code == LibraryCorruptError.exit_code
    report = json.loads(result.stdout)
    assert any(pack.name in e for e in report["errors"])
    assert pack.name in result.stderr


def test_wrong_passphrase_exits_12(cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok(cli("--json", "library", "init", "--path", "lib"))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "not the secret")
    result = cli("library", "stats")
    assert result.exit_code == WrongPassphraseError.exit_code == 12
    assert "wrong passphrase" in result.stderr
    # backup image opens the library in a thread while the catalog opens: its error is the job's, as before
    image = workdir / "disk.img"
    image.write_bytes(os.urandom(4096))
    result = cli("backup", "image", str(image))
    assert result.exit_code == 12 and "wrong passphrase" in result.stderr
    monkeypatch.delenv("SKYVAULT_PASSPHRASE")
    assert cli("library", "stats").exit_code == 12  # no passphrase and no terminal to ask on
    assert cli("backup", "image", str(image)).exit_code == 12
    jobs = ok(cli("--json", "jobs", "list"))
    assert [(j["kind"], j["status"]) for j in jobs] == [("backup-image", "failed")] * 2


def test_restore_with_a_wrong_passphrase_exits_12_and_writes_nothing(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # restore opens an image's library in a thread while the runner loads: its error is still the job's
    ok(cli("--json", "library", "init", "--path", "lib"))
    image = workdir / "disk.img"
    make_image(image)
    point = ok(cli("--json", "backup", "image", str(image)))["recovery_point"]
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "not the secret")
    result = cli("restore", point, "--to-file", str(workdir / "out.img"))
    assert result.exit_code == WrongPassphraseError.exit_code and "wrong passphrase" in result.stderr
    assert not (workdir / "out.img").exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".out.img")] == []
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "cli secret")
    ok(cli("--json", "restore", point, "--to-file", str(workdir / "out.img")))
    assert (workdir / "out.img").read_bytes() == image.read_bytes()


def test_init_refuses_two_locations_and_duplicates(cli: Cli, workdir: Path) -> None:
    assert cli("library", "init").exit_code == 9
    assert cli("library", "init", "--path", "a", "--s3", "s3://b/p").exit_code == 9
    ok(cli("--json", "library", "init", "--path", "lib"))
    assert cli("library", "init", "--path", "lib2").exit_code == 3  # name 'main' taken
    assert cli("library", "init", "--path", "lib", "--name", "other").exit_code == 17  # already a library there


def test_restore_and_stats_refuse_while_a_prune_holds_the_library(cli: Cli, workdir: Path) -> None:
    # Restore and stats take a shared lock: a prune (exclusive) never removes data they are reading.
    ok(cli("--json", "library", "init", "--path", "lib"))
    image = workdir / "disk.img"
    make_image(image)
    point = ok(cli("--json", "backup", "image", str(image)))["recovery_point"]
    repo = Repository.open(LocalBackend(workdir / "lib"), passphrase="cli secret")
    with repo.lock(exclusive=True, purpose="prune", refresh_s=0):
        restored = cli("--json", "restore", point, "--to-file", str(workdir / "out.img"))
        assert restored.exit_code == LibraryLockedError.exit_code, restored.stderr
        assert "prune" in restored.stderr and not (workdir / "out.img").exists()
        stats = cli("--json", "library", "stats")
        assert stats.exit_code == LibraryLockedError.exit_code, stats.stderr
    repo.close()
    ok(cli("--json", "restore", point, "--to-file", str(workdir / "out.img")))
    assert ok(cli("--json", "library", "stats"))["snapshots"] == 1
