"""``skyvault restore`` refuses options that do not apply to the point's kind (issue 12 item 7), before any job.

The kinds named come from the drivers' ``restore_options`` (``services.registry``), not from a list in the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog

Cli = Callable[..., CliResult]


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "skyvault.toml"))
    return Catalog.open(tmp_path / ".skyvault")


def _point(catalog: Catalog, kind: str) -> str:
    return catalog.add_recovery_point(kind=kind, resource_id=f"{kind}-source", account="admin", region="us-east-1").id


@pytest.mark.parametrize(
    ("kind", "args", "flag", "applies_to"),
    [
        ("ec2", ["--to-file", "disk.img"], "--to-file", "image"),
        ("image", ["--instance-type", "t3.large"], "--instance-type", "ec2"),
        ("image", ["--target", "original", "--yes"], "--target", "ec2, rds, aurora, docdb, redshift"),
        ("rds", ["--node-type", "ra3.4xlarge"], "--node-type", "redshift"),
        ("redshift", ["--from", "library"], "--from", "ec2"),
        ("aurora", ["--volumes-only"], "--volumes-only", "ec2"),
        ("ec2", ["--table-name", "t"], "--table-name", "dynamodb"),
    ],
)
def test_foreign_options_are_usage_errors_naming_their_kinds(
    catalog: Catalog, cli: Cli, kind: str, args: list[str], flag: str, applies_to: str
) -> None:
    point = _point(catalog, kind)
    result = cli("--json", "restore", point, *args)
    assert result.exit_code == 2, result.stderr
    assert flag in result.stderr and f"applies to {applies_to} recovery points" in result.stderr
    assert f"kind {kind}" in result.stderr
    assert catalog.jobs() == []  # refused before anything ran
    assert not Path("disk.img").exists()


def test_options_of_the_points_kind_pass_the_check(catalog: Catalog, cli: Cli) -> None:
    point = _point(catalog, "image")  # no library copy: the job itself fails, after the option check
    result = cli("--json", "restore", point, "--to-file", "disk.img")
    assert result.exit_code != 2 and "no library copy" in result.stderr
    assert [job.kind for job in catalog.jobs()] == ["restore-image"]
