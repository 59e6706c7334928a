"""``skyvault library snapshots|check|stats|prune`` on a library holding trees (and a block map beside them)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyvault.library.backends.local import LocalBackend
from skyvault.library.format import SNAPSHOTS
from skyvault.library.repository import Repository
from skyvault.library.trees import TreeReader

Cli = Callable[..., Any]
MiB = 1024 * 1024


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "skyvault.toml"))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "cli secret")
    return tmp_path


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_library_commands_understand_trees(cli: Cli, workdir: Path) -> None:
    ok(cli("--json", "library", "init", "--path", "lib"))
    repo = Repository.open(LocalBackend(workdir / "lib"), passphrase="cli secret")
    big = os.urandom(2 * MiB)
    with repo.lock(purpose="test"):
        writer = repo.open_tree_writer("s3", "bucket")
        writer.add("a/big", {"etag": "1"}, big)
        for i in range(500):
            writer.add(f"b/{i:04d}", {"etag": str(i)}, os.urandom(200))
        tree = writer.commit()
        disk = repo.open_block_writer(kind="image", source="/disk", size=MiB)
        disk.put_block(0, os.urandom(MiB // 2))
        disk.put_block(1, os.urandom(MiB // 2))
        blocks = disk.commit()

    rows = {row["id"]: row for row in ok(cli("--json", "library", "snapshots"))}
    assert rows[tree.id]["type"] == "tree" and rows[tree.id]["entries"] == 501
    assert rows[tree.id]["size"] == 2 * MiB + 500 * 200
    assert rows[blocks.id]["type"] == "block_map" and rows[blocks.id]["entries"] is None
    assert "501" in cli("library", "snapshots").stdout

    assert ok(cli("--json", "library", "check", "--read-data"))["ok"] is True
    stats = ok(cli("--json", "library", "stats"))
    assert stats["snapshots"] == 2 and stats["logical_bytes"] == 3 * MiB + 500 * 200
    assert stats["unique_bytes"] >= 3 * MiB + 500 * 200
    pruned = ok(cli("--json", "library", "prune"))
    assert pruned["packs_deleted"] == 0 and pruned["snapshots"] == 2

    reader = TreeReader(repo, repo.load_snapshot(tree.id))
    entry = reader.get("a/big")
    assert entry is not None and b"".join(reader.read(entry)) == big
    repo.backend.delete(f"{SNAPSHOTS}/{tree.id}")  # forget the tree: prune frees its data
    pruned = ok(cli("--json", "library", "prune"))
    assert pruned["snapshots"] == 1 and pruned["bytes_freed"] >= 2 * MiB
    assert ok(cli("--json", "library", "check", "--read-data"))["ok"] is True
