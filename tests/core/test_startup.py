"""Start-up: ``skyvault --version`` and ``--help`` import no command module and none of the heavy libraries, the
help pages of commands and a disk image's backup into a local library import neither the AWS SDK nor (help pages)
SQLAlchemy, and the root help's table of commands says what the commands themselves say. No test asserts a time:
``benchmarks/startup.py`` measures them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import typer

from skyvault.cli.lazy import listed_help
from skyvault.cli.main import COMMANDS, app
from skyvault.jobs.context import JobContext
from skyvault.services.contract import JobEnvironment

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.catalog import Catalog
    from skyvault.library.repository import Repository

HEAVY = ("boto3", "botocore", "sqlalchemy", "pydantic", "moto")

_RUN = """
import json, sys
sys.argv = ["skyvault", *sys.argv[1:]]
from skyvault.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in sys.modules if m.split(".")[0] in {heavy}]
commands = [m for m in sys.modules if m.startswith("skyvault.cli.") and m not in {light}]
loaded = sorted(heavy + commands)
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def _start(*args: str) -> tuple[str, dict[str, object]]:
    light = {"skyvault.cli.main", "skyvault.cli.lazy"}
    code = _RUN.format(heavy=set(HEAVY), light=light)
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(("args", "expected"), [(("--version",), "skyvault 0.1.0"), (("--help",), "Usage: skyvault")])
def test_version_and_help_import_nothing_heavy(args: tuple[str, ...], expected: str) -> None:
    out, report = _start(*args)
    assert report["code"] == 0
    assert expected in out
    assert report["loaded"] == [], f"'skyvault {' '.join(args)}' imported {report['loaded']}"


def test_the_root_help_lists_every_command_with_its_own_help() -> None:
    group = typer.main.get_group(app)
    ctx = typer.Context(group)
    for name, entry in COMMANDS.items():
        command = group.get_command(ctx, name)  # imports the command's module
        assert command is not None, name
        assert listed_help(command) == entry.help, f"COMMANDS[{name!r}].help differs from the command's own help"
        assert not command.hidden and not getattr(command, "rich_help_panel", None), name


def test_the_table_names_every_command_its_modules_register() -> None:
    scratch = typer.Typer()
    installed: set[str] = set()
    for name, entry in COMMANDS.items():
        if entry.target not in installed:
            entry.install(name, scratch)
            installed.add(entry.target)
    group = typer.main.get_group(scratch)
    assert set(group.list_commands(typer.Context(group))) == set(COMMANDS)


# Help pages and commands that read nothing remote: none may import the AWS SDK or SQLAlchemy (each costs
# 0.15-0.25 s of a command's start-up). typer itself imports pydantic to coerce option values, so pydantic is allowed.
SDK_AND_CATALOG = ("boto3", "botocore", "sqlalchemy", "alembic")
CHEAP_COMMANDS = [
    ("--version",),
    ("--help",),
    ("backup", "--help"),
    ("backup", "image", "--help"),
    ("backups", "--help"),
    ("restore", "--help"),
    ("library", "--help"),
    ("library", "init", "--help"),
    ("jobs", "--help"),
    ("jobs", "list", "--help"),
    ("cleanup", "--help"),
    ("init", "--help"),
    ("accounts", "--help"),
    ("plans", "--help"),
    ("catalog", "--help"),
    ("lab", "--help"),
]

_RUN_AND_LIST = """
import json, sys
sys.argv = ["skyvault", *sys.argv[1:]]
from skyvault.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {watched})
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def _run_listing(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """Run ``skyvault ARGS`` in a fresh interpreter; its exit code and which of SDK_AND_CATALOG it imported."""
    code = _RUN_AND_LIST.format(watched=set(SDK_AND_CATALOG))
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )
    report: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    report["stdout"] = result.stdout
    return report


@pytest.mark.parametrize("args", CHEAP_COMMANDS, ids=" ".join)
def test_cheap_commands_import_neither_the_aws_sdk_nor_sqlalchemy(args: tuple[str, ...]) -> None:
    report = _run_listing(*args)
    assert report["code"] == 0, report
    assert report["stdout"].strip(), "the command printed nothing"
    top = sorted({name.split(".")[0] for name in report["loaded"]})
    assert top == [], f"'skyvault {' '.join(args)}' imported {top}"


def test_backup_image_into_a_local_library_never_imports_the_aws_sdk(tmp_path: Path) -> None:
    # The whole command, not only its modules: a job that makes no AWS call must not build the client factory.
    env = {
        **os.environ,
        "SKYVAULT_CONFIG": str(tmp_path / "skyvault.toml"),
        "SKYVAULT_PASSPHRASE": "start-up test",
    }
    assert _run_listing("library", "init", "--path", str(tmp_path / "lib"), env=env, cwd=tmp_path)["code"] == 0
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(4096) + bytes(4096))
    report = _run_listing("--json", "backup", "image", str(image), env=env, cwd=tmp_path)
    assert report["code"] == 0, report
    assert json.loads(report["stdout"])["stats"]["bytes_read"] == 8192
    sdk = sorted({name.split(".")[0] for name in report["loaded"]} & {"boto3", "botocore"})
    assert sdk == [], f"'skyvault backup image' on a local library imported {sdk}"
    # Nor the conversion code: its permission declarations and EC2/S3 helpers cost ~30 ms of every backup.
    conversion = sorted(set(report["loaded"]) & {"skyvault.services.image.vmimport", "skyvault.services.image.convert"})
    assert conversion == [], f"'skyvault backup image' imported {conversion}"


def test_a_job_environment_makes_its_client_factory_once_and_only_when_asked() -> None:
    made: list[object] = []
    barrier = threading.Barrier(4)

    def make() -> ClientFactory:
        made.append(object())
        return cast("ClientFactory", made[-1])

    env = JobEnvironment(catalog=cast("Catalog", None), factory=make, open_library=_no_library)
    context = JobContext("job-1", cast("Catalog", None), lambda: env.factory, steps={}, has_cleaner=lambda _t: False)
    assert made == []  # nothing asked yet: a disk-image job never does

    def ask() -> object:
        barrier.wait()
        return context.factory

    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(lambda _i: ask(), range(4)))
    assert len(made) == 1 and seen == [made[0]] * 4 and env.factory is made[0]


def _no_library(_name: str | None) -> Repository:
    raise AssertionError("no library here")


def test_disk_image_commands_do_not_load_the_aws_sdk() -> None:
    # `backup image` and `restore --to-file` on a local library make no AWS call: boto3 (~0.15 s) stays unloaded.
    code = (
        "import sys\n"
        "import skyvault.cli.main, skyvault.cli.backup_image, skyvault.cli.restore, skyvault.services.image.jobs\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_the_backup_group_lists_each_service_with_its_own_help() -> None:
    from skyvault.cli.backup import BACKUP_COMMANDS

    root = typer.main.get_group(app)
    backup = root.get_command(typer.Context(root), "backup")
    assert isinstance(backup, typer.core.TyperGroup)
    ctx = typer.Context(backup)
    names = backup.list_commands(ctx)
    assert names[: len(BACKUP_COMMANDS)] == list(BACKUP_COMMANDS) and {"dynamodb", "s3"} <= set(names)
    for name, entry in BACKUP_COMMANDS.items():
        command = backup.get_command(ctx, name)  # imports the service's command module
        assert command is not None, name
        assert listed_help(command) == entry.help, f"BACKUP_COMMANDS[{name!r}].help differs from the command's own"


def test_backup_image_loads_no_other_service_command() -> None:
    code = (
        "import sys, typer\n"
        "from skyvault.cli.main import app\n"
        "root = typer.main.get_group(app)\n"
        "backup = root.get_command(typer.Context(root), 'backup')\n"
        "backup.get_command(typer.Context(backup), 'image')\n"
        "print(sorted(m for m in ('skyvault.cli.backup_databases', 'skyvault.cli.backup_ec2', 'boto3') "
        "if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
