"""CLI basics: init, accounts add/list/remove, help, invalid config leaves files untouched."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyvault.config import load_config

Cli = Callable[..., Any]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKYVAULT_CONFIG", raising=False)
    return tmp_path


def test_help_lists_the_contract_groups(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for group in (
        "init", "lab", "accounts", "library", "discover", "policy", "permissions", "check", "backup",
        "backups", "restore", "jobs", "cleanup", "convert", "schedule", "report",
    ):  # fmt: skip
        assert f" {group} " in result.stdout, group


def test_init_writes_a_commented_starter_that_validates(cli: Cli, workdir: Path) -> None:
    assert cli("init").exit_code == 0
    text = (workdir / "skyvault.toml").read_text()
    assert "# [accounts.tenant-a]" in text and 'auth = "assume_role"' in text
    load_config(workdir / "skyvault.toml")
    again = cli("init")
    assert again.exit_code == 17 and "already exists" in again.stderr


def test_accounts_add_list_remove(cli: Cli, workdir: Path) -> None:
    assert cli("accounts", "add", "admin", "--region", "us-east-1", "--region", "eu-west-1").exit_code == 0
    added = cli(
        "accounts", "add", "ci", "--auth", "keys",
        "--access-key-id-env", "CI_KEY", "--secret-access-key-env", "CI_SECRET",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    tenant = cli(
        "accounts", "add", "tenant-a", "--auth", "assume_role", "--source-account", "admin",
        "--role-arn", "arn:aws:iam::111111111111:role/skyvault-tenant", "--external-id", "ext-1",
    )  # fmt: skip
    assert tenant.exit_code == 0, tenant.stderr
    data = tomllib.loads((workdir / "skyvault.toml").read_text())
    assert data["accounts"]["ci"]["access_key_id_env"] == "CI_KEY"
    # Only the names of the variables are stored, never a key.
    assert {k for k in data["accounts"]["ci"] if "key" in k} == {"access_key_id_env", "secret_access_key_env"}

    listed = cli("--json", "accounts", "list").json()
    assert [(a["name"], a["auth"]) for a in listed] == [
        ("admin", "default"),
        ("ci", "keys"),
        ("tenant-a", "assume_role"),
    ]
    assert listed[2]["account_id"] == "111111111111"

    refused = cli("accounts", "remove", "admin")
    assert refused.exit_code == 17 and "tenant-a" in refused.stderr
    assert cli("accounts", "remove", "tenant-a").exit_code == 0
    assert cli("accounts", "remove", "nobody").exit_code == 4


def test_invalid_account_is_refused_and_nothing_is_written(cli: Cli, workdir: Path) -> None:
    assert cli("accounts", "add", "admin").exit_code == 0
    before = (workdir / "skyvault.toml").read_bytes()
    bad = cli("accounts", "add", "t", "--auth", "assume_role", "--role-arn", "not-an-arn", "--source-account", "x")
    assert bad.exit_code == 3
    assert "role_arn" in bad.stderr
    unknown_source = cli(
        "accounts", "add", "t", "--auth", "assume_role", "--source-account", "ghost",
        "--role-arn", "arn:aws:iam::111111111111:role/r",
    )  # fmt: skip
    assert unknown_source.exit_code == 3 and "ghost" in unknown_source.stderr
    assert (workdir / "skyvault.toml").read_bytes() == before


def test_malformed_config_is_reported_with_file_and_field(cli: Cli, workdir: Path) -> None:
    (workdir / "skyvault.toml").write_text('[accounts.admin]\nregions = ["nowhere"]\n')
    result = cli("accounts", "list")
    assert result.exit_code == 3
    assert "skyvault.toml" in result.stderr and "accounts.admin.regions" in result.stderr


def test_convert_by_vmimport_needs_its_bucket(cli: Cli, workdir: Path) -> None:
    result = cli("convert", "disk.img", "--method", "vmimport")
    assert result.exit_code == 16 and "--bucket" in result.stderr


def test_dynamodb_export_needs_its_bucket(cli: Cli, workdir: Path) -> None:
    result = cli("backup", "dynamodb", "t", "--method", "export")
    assert result.exit_code == 2 and "--export-bucket" in result.stderr


def test_typer_exit_codes_reach_the_process(cli: Cli, workdir: Path) -> None:
    # 'init' twice is a ConflictError (17); '--version' is a typer.Exit(0); an unknown option is click's 2.
    assert cli("--version").exit_code == 0
    assert cli("accounts", "list", "--no-such-option").exit_code == 2


def test_config_comes_from_the_flag_then_the_env_var_then_the_current_folder(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "env").mkdir()
    (workdir / "flag").mkdir()
    assert cli("--config", str(workdir / "env" / "skyvault.toml"), "accounts", "add", "from-env").exit_code == 0
    assert cli("--config", str(workdir / "flag" / "skyvault.toml"), "accounts", "add", "from-flag").exit_code == 0
    assert cli("accounts", "add", "from-cwd").exit_code == 0

    def names(*args: str) -> list[str]:
        return [a["name"] for a in cli("--json", *args, "accounts", "list").json()]

    assert names() == ["from-cwd"]
    monkeypatch.setenv("SKYVAULT_CONFIG", str(workdir / "env" / "skyvault.toml"))
    assert names() == ["from-env"]
    assert names("--config", str(workdir / "flag" / "skyvault.toml")) == ["from-flag"]
