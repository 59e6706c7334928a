"""Configuration: validation errors name the file, the field and the problem; nothing is written when invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyvault.config import (
    AccountConfig,
    AuthMethod,
    SkyvaultConfig,
    config_path,
    load_config,
    parse_config,
    save_config,
)
from skyvault.errors import ConfigError, NotFoundError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skyvault.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_with_all_auth_methods(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
version = 1
[accounts.admin]
auth = "default"
profile = "ops"
regions = ["us-east-1", "eu-west-1"]
[accounts.ci]
auth = "keys"
access_key_id_env = "CI_KEY"
secret_access_key_env = "CI_SECRET"
[accounts.tenant-a]
auth = "assume_role"
source_account = "admin"
role_arn = "arn:aws:iam::111111111111:role/skyvault-tenant"
external_id = "x-1"
""",
    )
    config = load_config(path)
    assert config.accounts["admin"].regions == ["us-east-1", "eu-west-1"]
    assert config.accounts["ci"].auth is AuthMethod.KEYS
    assert config.accounts["tenant-a"].role_account_id == "111111111111"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[accounts.a]\nauth = "magic"\n', "accounts.a.auth"),
        ('[accounts.a]\nregions = ["mars-north-9x"]\n', "not an AWS region name: mars-north-9x"),
        ('[accounts.a]\nauth = "keys"\n', "access_key_id_env and secret_access_key_env"),
        ('[accounts.a]\nauth = "assume_role"\nsource_account = "a"\n', "role_arn"),
        (
            '[accounts.t]\nauth = "assume_role"\nsource_account = "nobody"\n'
            'role_arn = "arn:aws:iam::111111111111:role/r"\n',
            "accounts.t.source_account: no account named 'nobody'",
        ),
        ('[accounts.a]\nendpoint_url = "localhost:5000"\n', "accounts.a.endpoint_url"),
        ("[accounts.a]\nbogus = 1\n", "accounts.a.bogus"),
        ('[accounts."Bad Name"]\n', "accounts.Bad Name"),
        ("version = 2\n", "version"),
        ('default_library = "x"\n', "default_library: no library named 'x'"),
        ('[libraries.l]\nkind = "s3"\nurl = "s3://b/p"\n', "an s3 library needs account"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.message
    assert expected in caught.value.message
    assert caught.value.exit_code == 3


def test_assume_role_loop_is_rejected() -> None:
    data = {
        "accounts": {
            "a": {"auth": "assume_role", "source_account": "b", "role_arn": "arn:aws:iam::111111111111:role/r"},
            "b": {"auth": "assume_role", "source_account": "a", "role_arn": "arn:aws:iam::222222222222:role/r"},
        }
    }
    with pytest.raises(ConfigError, match="loops"):
        parse_config(data, "test.toml")


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[accounts\n"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")
    assert load_config(tmp_path / "absent.toml", missing_ok=True) == SkyvaultConfig()


def test_save_round_trips_and_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "skyvault.toml"
    config = SkyvaultConfig(accounts={"admin": AccountConfig(regions=["eu-west-1"])})
    save_config(config, path)
    assert load_config(path) == config
    assert [p.name for p in tmp_path.iterdir()] == ["skyvault.toml"]


def test_unknown_account_lookup() -> None:
    with pytest.raises(NotFoundError, match="no account named 'x'"):
        SkyvaultConfig().account("x")


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path() == Path("skyvault.toml")
    # The env var is the CLI's business (test_cli_basics): this layer never reads it.
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "env.toml"))
    assert config_path() == Path("skyvault.toml")
    assert config_path(tmp_path / "flag.toml") == tmp_path / "flag.toml"
