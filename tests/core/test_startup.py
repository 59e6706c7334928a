"""Start-up: ``skyvault --version`` and ``--help`` import no command module and none of the heavy libraries, and
the root help's table of commands says what the commands themselves say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from skyvault.cli.lazy import listed_help
from skyvault.cli.main import COMMANDS, app

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
