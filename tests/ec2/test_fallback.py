"""Changed-block tracking fallback: without ebs:ListChangedBlocks (or without the base snapshot) the copy reads
the whole snapshot, says why in a warning naming the permission, and still produces an exact copy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.errors import AccessDeniedError
from skyvault.lab import control
from skyvault.services.ec2 import ebs_direct

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.json()


def test_denied_list_changed_blocks_falls_back_to_full_read(
    ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    control.write_blocks(ec2_env.env.lab, ec2_env.root_volume, 3, seed=11, indices=[500, 501, 502])
    expected = ec2_env.checksum(ec2_env.root_volume)

    def denied(*_: Any, **__: Any) -> Any:
        raise AccessDeniedError(
            "access denied: missing ebs:ListChangedBlocks",
            actions=("ebs:ListChangedBlocks",),
            step="list changed blocks",
        )

    monkeypatch.setattr(ebs_direct, "list_changed_blocks", denied)
    result = cli("--json", "backup", "ec2", ec2_env.instance_id)
    second = _ok(result)
    assert "ebs:ListChangedBlocks" in result.stderr  # the warning names the missing permission
    assert any("ebs:ListChangedBlocks" in w for w in second["stats"]["warnings"])
    calls = second["stats"]["api_calls"]
    assert calls["ListSnapshotBlocks"] == 2 and "ListChangedBlocks" not in calls
    assert second["stats"]["blocks_read"] == 24 + 3 + 16  # everything written, read again
    assert {v["mode"] for v in second["stats"]["volumes"].values()} == {"full-fallback"}
    assert second["stats"]["bytes_stored"] < 3 * 512 * 1024 + 64 * 1024  # known blocks deduplicated, not stored again

    restored = _ok(cli("--json", "restore", second["recovery_point"], "--volumes-only", "--from", "library"))
    assert ec2_env.checksum(restored["volume_ids"]["/dev/xvda"]) == expected


def test_missing_base_snapshot_falls_back_to_full_read(ec2_env: Ec2Env, cli: Cli) -> None:
    first = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    point = Catalog.open(ec2_env.env.state_dir).recovery_point(first["recovery_point"])
    for snapshot_id in point.native.values():
        ec2_env.ec2().delete_snapshot(SnapshotId=snapshot_id)  # someone deleted the bases
    second = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    assert second["stats"]["api_calls"]["ListSnapshotBlocks"] == 2
    assert any("no longer exists" in w for w in second["stats"]["warnings"])
