"""Careless paths and values: every mistake is one line with its documented exit code, and writes nothing."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
USAGE = 2
CONFIG = 3
LIBRARY = 9
CONFLICT = 17
UNEXPECTED = 1


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(tmp_path / "skyvault.toml"))
    monkeypatch.setenv("SKYVAULT_PASSPHRASE", "hostile")
    return tmp_path


def _one_line_error(result: Any, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr


def _files(where: Path) -> set[str]:
    return {str(p.relative_to(where)) for p in where.rglob("*")}


@pytest.mark.parametrize(
    "args",
    [
        ("backup", "ec2", "i-0123456789abcdef0", "--region", "mars-1"),
        ("backup", "rds", "db-1", "--region", "mars-1"),
        ("backup", "aurora", "cluster-1", "--copy-to-region", "mars-1"),
        ("restore", "rp-1", "--region", "mars-1"),
        ("discover", "--region", "us-east-1,mars-1"),
        ("cleanup", "--region", "mars-1"),
        ("cleanup", "--older-than", "99999999999999999999999"),
        ("policy", "nosuchrow"),
        ("permissions", "nosuchrow"),
        ("policy", "ec2", "--region", "mars-1"),
    ],
)
def test_bad_argument_values_are_usage_errors(cli: Cli, workdir: Path, args: tuple[str, ...]) -> None:
    before = _files(workdir)
    result = cli(*args)
    _one_line_error(result, USAGE)
    assert _files(workdir) == before


def test_a_state_dir_that_is_a_file_is_a_config_error(cli: Cli, workdir: Path) -> None:
    (workdir / "afile").write_text("not a folder")
    (workdir / "skyvault.toml").write_text('version = 1\nstate_dir = "afile"\n')
    for args in (("backups", "list"), ("jobs", "list"), ("cleanup", "--dry-run")):
        result = cli(*args)
        _one_line_error(result, CONFIG)
        assert "state_dir" in result.stderr and "not a directory" in result.stderr


@pytest.mark.parametrize(
    ("where", "code"),
    [("afile", LIBRARY), ("/proc/xyz", LIBRARY), ("é" * 300, LIBRARY), ("unrelated", CONFLICT)],
)
def test_library_init_on_a_path_it_cannot_use_writes_nothing(cli: Cli, workdir: Path, where: str, code: int) -> None:
    (workdir / "afile").write_text("precious")
    (workdir / "unrelated").mkdir()
    (workdir / "unrelated" / "notes.txt").write_text("mine")
    before = _files(workdir)
    result = cli("library", "init", "--path", where)
    _one_line_error(result, code)
    assert _files(workdir) == before  # no config, no key file, no folder


def test_library_init_with_a_bad_name_writes_nothing(cli: Cli, workdir: Path) -> None:
    result = cli("library", "init", "--name", "Bad Name", "--path", "lib")
    _one_line_error(result, CONFIG)
    assert "Bad Name" in result.stderr
    assert _files(workdir) == set()


@pytest.mark.parametrize("what", ["directory", "fifo", "proc"])
def test_backup_image_refuses_what_is_not_a_disk_image(cli: Cli, workdir: Path, what: str) -> None:
    assert cli("library", "init", "--path", "lib").exit_code == 0
    if what == "directory":
        source = workdir / "a-folder"
        source.mkdir()
    elif what == "fifo":
        source = workdir / "a-fifo"
        os.mkfifo(source)  # reading it would wait for a writer forever
    else:
        source = Path("/proc/self/status")
    result = cli("backup", "image", str(source))
    _one_line_error(result, CONFLICT)
    assert str(source.name) in result.stderr
    assert cli("--json", "backups", "list").json() == []


def test_an_os_error_nothing_foresaw_is_one_line_with_exit_1(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skyvault import config  # the CLI's AppState imports load_config from it when it first reads the file

    def failing_load(path: Path, *, missing_ok: bool = False) -> Any:
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(config, "load_config", failing_load)
    result = cli("backups", "list")
    _one_line_error(result, UNEXPECTED)
    assert result.stderr.strip() == f"error: Input/output error: {workdir / 'skyvault.toml'}"


def test_the_cli_trusts_only_the_configured_kms_key() -> None:
    """A key file naming another KMS key (a storage writer's) is never opened: docs/library-format.md section 1."""
    from skyvault.cli.context import AppState
    from skyvault.cli.library import _kms_opener
    from skyvault.config import AccountConfig, LibraryConfig, SkyvaultConfig

    library = LibraryConfig(kind="local", path="/x", account="admin", kms_key="alias/mine")
    config = SkyvaultConfig(accounts={"admin": AccountConfig()}, libraries={"main": library})
    opener = _kms_opener(AppState(_config=config), library)
    assert opener is not None
    assert opener("alias/theirs") is None
    mine = opener("alias/mine")
    assert mine is not None and mine.key_id == "alias/mine"


@pytest.mark.parametrize("where", ["adir", "afifo", "afile/x.toml", "/proc/xyz/skyvault.toml", "é" * 300])
@pytest.mark.parametrize("args", [("init", "--force"), ("accounts", "add", "a"), ("accounts", "list")])
def test_a_config_path_the_os_refuses_is_a_config_error(
    cli: Cli, workdir: Path, where: str, args: tuple[str, ...]
) -> None:
    (workdir / "adir").mkdir()
    (workdir / "afile").write_text("a file")
    os.mkfifo(workdir / "afifo")  # reading it would wait for a writer forever
    before = _files(workdir)
    result = cli("--config", where, *args)
    _one_line_error(result, CONFIG)
    assert _files(workdir) == before
