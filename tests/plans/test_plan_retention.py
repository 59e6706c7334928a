"""Plan retention in the lab: native EC2 snapshots and library copies expire by the plan's rules, never a point under
a legal hold nor the newest library copy (the next incremental base); expired library snapshots are pruned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from ec2.conftest import PASSPHRASE, add_library
from skyvault.catalog import Catalog
from skyvault.library.backends.local import LocalBackend
from skyvault.library.repository import Repository

from .conftest import Estate

Cli = Callable[..., CliResult]


def _snapshots(estate: Estate) -> set[str]:
    found = estate.ec2("admin", "us-east-1").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"] for s in found}


def test_native_points_expire_by_keep_last_but_a_held_point_stays_until_released(estate: Estate, cli: Cli) -> None:
    estate.instance("web", "admin", "us-east-1", {"backup": "daily"})
    estate.add_plans(daily={"services": ["ec2"], "accounts": ["admin"], "regions": ["us-east-1"],
                            "tags": ["backup=daily"], "retention": {"keep_last": 1}})  # fmt: skip
    first = cli("--json", "backup", "--plan", "daily").json()["jobs"][0]["recovery_point"]
    held = cli("--json", "backups", "hold", first, "--reason", "case 4711")
    assert held.exit_code == 0 and held.json()["hold"]["reason"] == "case 4711"
    second = cli("--json", "backup", "--plan", "daily").json()
    assert second["retention"]["expired"] == [] and second["retention"]["kept"][first] == ["legal hold"]
    catalog = Catalog.open(estate.env.state_dir)
    second_point = catalog.recovery_point(second["jobs"][0]["recovery_point"])
    snapshot_of_second = set(second_point.captured_config["snapshots"].values())
    assert snapshot_of_second <= _snapshots(estate)

    third = cli("--json", "backup", "--plan", "daily").json()
    assert [e["recovery_point"] for e in third["retention"]["expired"]] == [second_point.id]
    assert third["retention"]["snapshots_deleted"] == 1
    assert catalog.recovery_point(second_point.id).status == "expired"
    assert not snapshot_of_second & _snapshots(estate)  # its snapshot is gone from the (lab) account

    assert cli("backups", "release", first).exit_code == 0
    fourth = cli("--json", "backup", "--plan", "daily").json()
    expired = {e["recovery_point"] for e in fourth["retention"]["expired"]}
    assert first in expired and catalog.recovery_point(first).status == "expired"
    assert cli("backups", "hold", "rp-nope", "--reason", "x").exit_code == 4


def test_library_copies_expire_keep_the_incremental_base_and_are_pruned(
    estate: Estate, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", PASSPHRASE)
    add_library(estate.env, tmp_path / "library")
    estate.instance("web", "admin", "us-east-1", {"backup": "daily"})
    estate.add_plans(daily={"services": ["ec2"], "accounts": ["admin"], "regions": ["us-east-1"],
                            "tags": ["backup=daily"], "modes": {"ec2": "library"},
                            "retention": {"keep_last": 1, "min_age_days": 0}})  # fmt: skip
    points = []
    for _ in range(3):
        ran = cli("--json", "backup", "--plan", "daily")
        assert ran.exit_code == 0, ran.stderr
        points.append(ran.json())
    catalog = Catalog.open(estate.env.state_dir)
    newest = points[-1]["jobs"][0]["recovery_point"]
    assert catalog.recovery_point(newest).library == "main"
    assert "incremental base" in points[-1]["retention"]["kept"][newest]
    statuses = [catalog.recovery_point(p["jobs"][0]["recovery_point"]).status for p in points]
    assert statuses == ["expired", "expired", "completed"]
    repo = Repository.open(LocalBackend(tmp_path / "library"), passphrase=PASSPHRASE)
    try:
        left = set(repo.snapshot_ids())
    finally:
        repo.close()
    newest_point = catalog.recovery_point(newest)
    assert left == set(newest_point.captured_config["library_snapshots"].values())
    assert sum(points[1]["retention"]["library_snapshots_forgotten"].values()) >= 1
