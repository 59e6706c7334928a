"""``skyvault jobs resume`` through the registry (no if-chain over kinds) prints what the job's own command prints:
a crashed ``backup image`` job resumed in another process gives the ``{"recovery_point", "stats"}`` of
``skyvault --json backup image``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from engine.crash_job import CRASHED
from skyvault.catalog import Catalog
from skyvault.config import load_config, state_dir

CHILD = Path(__file__).with_name("crash_job.py")
Cli = Callable[..., CliResult]


def test_jobs_resume_prints_like_backup_image(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config_path = tmp_path / "skyvault.toml"
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config_path))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "cli secret")
    assert cli("--json", "library", "init", "--path", "lib").exit_code == 0
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(2 * 1024 * 1024))
    direct = cli("--json", "backup", "image", str(image))
    assert direct.exit_code == 0, direct.stderr

    where = state_dir(load_config(config_path), config_path)
    child = subprocess.run(
        [sys.executable, str(CHILD), str(where), str(tmp_path / "lib"), "cli secret", "backing up", str(image)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == CRASHED, child.stderr
    catalog = Catalog.open(where)
    crashed = next(j for j in catalog.jobs() if j.status == "running")
    refused = cli("--json", "jobs", "resume", crashed.id)  # the child's lease (120 s) has not run out yet
    assert refused.exit_code == 17 and "running in" in refused.stderr
    catalog.update_job(crashed.id, lease_expires_at=crashed.created_at)  # as if two minutes went by

    resumed = cli("--json", "jobs", "resume", crashed.id)
    assert resumed.exit_code == 0, resumed.stderr
    printed, before = resumed.json(), direct.json()
    assert set(printed) == set(before) == {"recovery_point", "stats"}
    assert printed["stats"]["parent_snapshot"] == before["stats"]["library_snapshot"]  # incremental on the first
    assert catalog.job(crashed.id).status == "completed"
    points = [p.id for p in catalog.recovery_points(kind="image")]
    assert len(points) == 2 and printed["recovery_point"] == points[-1]
