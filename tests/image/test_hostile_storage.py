"""The CLI against a storage writer: swapped manifests and damaged packs give exit 10, never wrong data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyvault.errors import LibraryCorruptError

Cli = Callable[..., Any]
MiB = 1024 * 1024


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "skyvault.toml"))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "cli secret")
    return tmp_path


def _backup(cli: Cli, path: Path, data: bytes) -> dict[str, Any]:
    path.write_bytes(data)
    result = cli("--json", "backup", "image", str(path))
    assert result.exit_code == 0, result.stderr
    point: dict[str, Any] = result.json()
    return point


def test_a_manifest_copied_over_another_fails_restore_and_check(cli: Cli, workdir: Path) -> None:
    assert cli("library", "init", "--path", "lib").exit_code == 0
    big = _backup(cli, workdir / "big.img", os.urandom(2 * MiB))
    empty = _backup(cli, workdir / "empty.img", b"")
    manifests = workdir / "lib" / "snapshots"
    (manifests / big["stats"]["library_snapshot"]).write_bytes(
        (manifests / empty["stats"]["library_snapshot"]).read_bytes()
    )
    out = workdir / "restored.img"
    restored = cli("restore", big["recovery_point"], "--to-file", str(out))
    assert restored.exit_code == LibraryCorruptError.exit_code, restored.stderr
    assert "does not match its name" in restored.stderr
    assert not out.exists() and not list(workdir.glob("restored.img*"))
    checked = cli("--json", "library", "check", "--read-data")
    assert checked.exit_code == LibraryCorruptError.exit_code
    errors = checked.json()["errors"]
    assert [e for e in errors if big["stats"]["library_snapshot"] in e], errors


@pytest.mark.parametrize("damage", ["deleted", "truncated", "swapped"])
def test_restore_from_a_damaged_pack_exits_like_check(cli: Cli, workdir: Path, damage: str) -> None:
    assert cli("library", "init", "--path", "lib").exit_code == 0
    point = _backup(cli, workdir / "a.img", os.urandom(3 * MiB))
    packs = sorted((workdir / "lib" / "data").glob("*/*"))
    contents = [p.read_bytes() for p in packs]
    for i, pack in enumerate(packs):  # every pack, so the damage surely hits this recovery point
        if damage == "deleted":
            pack.unlink()
        elif damage == "truncated":
            pack.write_bytes(contents[i][: len(contents[i]) // 2])
        else:
            pack.write_bytes(contents[(i + 1) % len(packs)] if len(packs) > 1 else os.urandom(len(contents[i])))
    restored = cli("restore", point["recovery_point"], "--to-file", str(workdir / "out.img"))
    assert restored.exit_code == LibraryCorruptError.exit_code, restored.stderr
    assert cli("library", "check", "--read-data").exit_code == LibraryCorruptError.exit_code


def test_restore_refuses_a_manifest_that_is_not_the_recorded_points(cli: Cli, workdir: Path) -> None:
    """The catalog names another (authentic) manifest than the one backed up: its size differs, restore refuses."""
    import sqlite3

    assert cli("library", "init", "--path", "lib").exit_code == 0
    big = _backup(cli, workdir / "big.img", os.urandom(MiB))
    small = _backup(cli, workdir / "small.img", os.urandom(1000))
    with sqlite3.connect(workdir / ".skyvault" / "catalog.db") as db:
        db.execute(
            "UPDATE recovery_points SET library_snapshot = ? WHERE id = ?",
            (small["stats"]["library_snapshot"], big["recovery_point"]),
        )
    out = workdir / "restored.img"
    restored = cli("restore", big["recovery_point"], "--to-file", str(out))
    assert restored.exit_code == LibraryCorruptError.exit_code, restored.stderr
    assert "does not belong to recovery point" in restored.stderr and "size 1000" in restored.stderr
    assert "small.img" in restored.stderr  # its path differs too
    assert not out.exists()


def test_restore_to_an_existing_file_needs_yes(cli: Cli, workdir: Path) -> None:
    from skyvault.errors import ConfirmationRequiredError, ConflictError

    assert cli("library", "init", "--path", "lib").exit_code == 0
    data = os.urandom(MiB)
    point = _backup(cli, workdir / "disk.img", data)["recovery_point"]
    out = workdir / "out.img"
    out.write_bytes(b"mine")
    refused = cli("restore", point, "--to-file", str(out))
    assert refused.exit_code == ConfirmationRequiredError.exit_code, refused.stderr
    assert "--yes" in refused.stderr and out.read_bytes() == b"mine"
    assert cli("restore", point, "--to-file", str(out), "--yes").exit_code == 0
    assert out.read_bytes() == data
    device = cli("restore", point, "--to-file", "/dev/full", "--yes")
    assert device.exit_code == ConflictError.exit_code and "character device" in device.stderr
    assert Path("/dev/full").is_char_device()
