"""The ``skyvault`` command: global options, command groups, and the error -> exit code mapping."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from skyvault import __version__
from skyvault.cli.lazy import LazyCommand, LazyGroup
from skyvault.errors import SkyvaultError

# Read here, by the CLI, and passed down as ``--config``: the layers below read no environment variables.
CONFIG_ENV = "SKYVAULT_CONFIG"

# Every top-level command, in the order ``skyvault --help`` lists them; a command's module is imported only when
# the command runs. tests/core/test_startup.py checks each help text against the module's own.
COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand("Write a commented starter skyvault.toml.", "skyvault.cli.starter:register"),
    "discover": LazyCommand(
        "Inventory of EC2, EBS, RDS, Aurora, Redshift, DocumentDB, DynamoDB and S3 across accounts and regions.",
        "skyvault.cli.discover:register",
    ),
    "policy": LazyCommand(
        "Render least-privilege IAM policies from the permission registry.", "skyvault.cli.permissions:register"
    ),
    "permissions": LazyCommand(
        "The permission-usage table: each action, the steps that use it, and why.",
        "skyvault.cli.permissions:register",
    ),
    "check": LazyCommand(
        "Preflight: test an account's real credentials against the registry.", "skyvault.cli.permissions:register"
    ),
    "restore": LazyCommand(
        "Restore a recovery point to a new resource, or over the original only with --yes.",
        "skyvault.cli.restore:register",
    ),
    "cleanup": LazyCommand(
        "Remove orphaned skyvault intermediates (snapshots, volumes, AMIs) by tag and age.",
        "skyvault.cli.jobs:register_cleanup",
    ),
    "convert": LazyCommand(
        "Convert a VM disk image into EC2 (EBS direct write or VM Import/Export).",
        "skyvault.cli.convert:register",
    ),
    "plans": LazyCommand("Backup plans: list, show what a plan selects now.", "skyvault.cli.plans:app"),
    "schedule": LazyCommand("Run backup plans on their schedule.", "skyvault.cli.schedule:app"),
    "report": LazyCommand("Protection report (table, json, html).", "skyvault.cli.report:register"),
    "lab": LazyCommand(
        "The local AWS lab: a moto server on 127.0.0.1 with skyvault's fidelity models.", "skyvault.cli.lab:app"
    ),
    "accounts": LazyCommand("AWS accounts: add, list, remove.", "skyvault.cli.accounts:app"),
    "library": LazyCommand(
        "The library: deduplicated, compressed, encrypted copies (local disk or S3).", "skyvault.cli.library:app"
    ),
    "backup": LazyCommand("Back up resources (one subcommand per service).", "skyvault.cli.backup:register"),
    "backups": LazyCommand(
        "Recovery points in the catalog: list, show, hold, release.", "skyvault.cli.backup:backups_app"
    ),
    "jobs": LazyCommand("Jobs: list, show, resume, cancel.", "skyvault.cli.jobs:app"),
    "catalog": LazyCommand("The catalog: schema upgrades.", "skyvault.cli.catalog:app"),
    "worker": LazyCommand("Run queued jobs: a Celery worker consuming region queues.", "skyvault.cli.worker:register"),
}


class RootGroup(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    cls=RootGroup,
    name="skyvault",
    help="Back up and restore AWS resources with least-privilege IAM permissions it generates, explains and proves.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"skyvault {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", envvar=CONFIG_ENV, help="Config file (default ./skyvault.toml)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv: debug).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    # Here, not at the top: --help and --version need none of these.
    import logging

    from skyvault.aws import redact
    from skyvault.cli.context import PASSPHRASE_ENV, AppState

    ctx.obj = AppState(config_option=config, json_output=json_output, verbose=verbose)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # At -vv botocore logs signed headers, signatures and AssumeRole responses: every handler redacts them.
    redactor = redact.install(logging.getLogger().handlers)
    redactor.add_secret(os.environ.get(PASSPHRASE_ENV))
    if verbose < 2:
        for noisy in ("botocore", "boto3", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


# Global flags users also type after the command (``skyvault backup ec2 i-1 --json``, as with restic and gh).
TRAILING_GLOBAL_FLAGS = ("--json",)


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move global flags typed after the command to the front, where the root callback parses them.

    Only flags that take no value are moved, and nothing after a ``--`` separator (arguments, not options).
    """
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if arg in TRAILING_GLOBAL_FLAGS]
    rest = [arg for arg in args[:end] if arg not in TRAILING_GLOBAL_FLAGS]
    return list(dict.fromkeys(flags)) + rest + args[end:]


def main() -> None:
    """Console entry point: run the app, turn skyvault errors into their documented exit codes."""
    try:
        # Without standalone mode click *returns* the code of a typer.Exit instead of exiting with it.
        outcome = app(args=hoist_global_flags(sys.argv[1:]), prog_name="skyvault", standalone_mode=False)
        if isinstance(outcome, int) and outcome != 0:
            sys.exit(outcome)
    except SkyvaultError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # The environment refused something no specific check foresaw (a full disk, a path the OS rejects):
        # one line naming the path, never a traceback (-vv logs it for a bug report).
        import logging  # not at the top: --version and --help need none of it

        logging.getLogger("skyvault").debug("unexpected OS error", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        typer.secho(f"error: {exc.strerror or exc}{where}", err=True, fg=typer.colors.RED)
        sys.exit(SkyvaultError.exit_code)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:
        # Usage errors (typer vendors click; its ClickException derives from TyperException): exit 2.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.secho(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
