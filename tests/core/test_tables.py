"""Tables at 80 columns keep every identifier whole (other columns fold or hide, and say so)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from skyvault.catalog import Catalog
from skyvault.cli.tables import Column, print_table

Cli = Callable[..., Any]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKYVAULT_CONFIG", raising=False)
    return Catalog.open(tmp_path / ".skyvault")


@pytest.fixture
def terminal_80(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console believes it is an 80-column terminal."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")


def _lines(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def test_jobs_list_at_80_columns_shows_every_job_id_whole(catalog: Catalog, terminal_80: None, cli: Cli) -> None:
    ids = []
    for n in range(3):
        job = catalog.start_job("backup-ec2", {"instance": f"i-{n}"})
        catalog.update_job(job.id, status="failed", error="AccessDenied: not authorized to perform ec2:CreateSnapshots")
        ids.append(job.id)
    result = cli("jobs", "list")
    assert result.exit_code == 0, result.stderr
    lines = _lines(result.stdout)
    assert max(len(line) for line in lines) <= 80
    for job_id in ids:
        assert any(job_id in line for line in lines), (job_id, result.stdout)


def test_backups_list_at_80_columns_shows_point_and_resource_ids_whole(
    catalog: Catalog, terminal_80: None, cli: Cli
) -> None:
    points = [
        catalog.add_recovery_point(
            kind="ec2",
            resource_id=f"i-0123456789abcdef{n}",
            account="tenant-a",
            region="us-east-1",
            native={"/dev/xvda": f"snap-0123456789abcdef{n}", "/dev/sdf": f"snap-0fedcba987654321{n}"},
            library_snapshot="3f2a9c0d1e2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788766554433221100ffeedd",
            status="completed",
        )
        for n in range(3)
    ]
    result = cli("backups", "list")
    assert result.exit_code == 0, result.stderr
    lines = _lines(result.stdout)
    assert max(len(line) for line in lines) <= 80
    for point in points:
        assert any(point.id in line and point.resource_id in line for line in lines), result.stdout
    assert "hidden at 80 columns" in result.stdout  # says what it left out


def test_a_console_too_narrow_even_for_the_ids_folds_them_instead_of_cutting() -> None:
    console = Console(width=30, record=True, color_system=None)
    identifier = "job-019ad8f1c2e4a1b2c3d4e5f6"
    print_table(console, "jobs", [Column("id", identifier=True), Column("kind", hide_rank=1)], [[identifier, "x"]])
    cells = "".join(line.strip("│┃ ") for line in console.export_text().splitlines())
    assert identifier in cells and "…" not in console.export_text()
