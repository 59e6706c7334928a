"""``skyvault catalog upgrade`` and the ``catalog_url`` setting, through the CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from skyvault.catalog import schema
from skyvault.config import SkyvaultConfig, catalog_url, parse_config
from skyvault.errors import ConfigError

Cli = Callable[..., CliResult]
V0Writer = Callable[[Path], Path]


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "skyvault.toml"
    path.write_text("version = 1\n" + text)
    return str(path)


def test_catalog_upgrade_migrates_the_configured_catalog(tmp_path: Path, cli: Cli, write_v0_catalog: V0Writer) -> None:
    write_v0_catalog(tmp_path / "data" / "team.db")
    config = _config(tmp_path, 'catalog_url = "sqlite:///data/team.db"\n')  # relative to the config file
    upgraded = cli("--config", config, "catalog", "upgrade", "--json")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert upgraded.json() == {
        "catalog": f"sqlite:///{tmp_path / 'data' / 'team.db'}",
        "from_revision": schema.UNVERSIONED,
        "to_revision": schema.head_revision(),
        "upgraded": True,
    }
    again = cli("--config", config, "--json", "catalog", "upgrade")
    assert again.json()["upgraded"] is False and again.json()["from_revision"] == schema.head_revision()
    human = cli("--config", config, "catalog", "upgrade")
    assert human.exit_code == 0 and f"already at {schema.head_revision()}" in human.stdout
    jobs = cli("--config", config, "--json", "jobs", "list")
    assert [job["id"] for job in jobs.json()] == ["job-0001", "job-0002"]
    assert not (tmp_path / ".skyvault" / "catalog.db").exists()  # the default file was never made


def test_the_default_catalog_is_in_the_state_dir(tmp_path: Path, cli: Cli) -> None:
    config = _config(tmp_path, 'state_dir = "state"\n')
    result = cli("--config", config, "--json", "catalog", "upgrade")
    assert result.json()["catalog"] == f"sqlite:///{tmp_path / 'state' / 'catalog.db'}"
    assert result.json()["from_revision"] is None and (tmp_path / "state" / "catalog.db").exists()


def test_a_bad_catalog_url_is_one_line_exit_3(tmp_path: Path, cli: Cli) -> None:
    result = cli("--config", _config(tmp_path, 'catalog_url = "nosuchdb://host/x"\n'), "jobs", "list")
    assert result.exit_code == 3
    assert "catalog_url: unknown database 'nosuchdb'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "catalog_url: not a database URL"),
        ("postgresql+psycopg://skyvault:hunter2@db/skyvault", "catalog_url: must not contain a password"),
        ("sqlite://", "catalog_url: an in-memory SQLite catalog would forget everything"),
        ("mysqlx://h/db", "catalog_url: unknown database 'mysqlx'"),
    ],
)
def test_catalog_url_is_validated(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"catalog_url": url}, "skyvault.toml")


def test_catalog_url_resolution(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "skyvault.toml"
    assert catalog_url(SkyvaultConfig(), config_file) == f"sqlite:///{tmp_path / 'conf' / '.skyvault' / 'catalog.db'}"
    absolute = SkyvaultConfig(catalog_url="sqlite:////srv/skyvault/catalog.db")
    assert catalog_url(absolute, config_file) == "sqlite:////srv/skyvault/catalog.db"
    postgres = SkyvaultConfig(catalog_url="postgresql+psycopg://skyvault@db.example.com/skyvault")
    assert catalog_url(postgres, config_file) == "postgresql+psycopg://skyvault@db.example.com/skyvault"
