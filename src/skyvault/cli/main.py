"""The ``skyvault`` command: global options, command groups, and the error -> exit code mapping."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from skyvault import __version__
from skyvault.aws import redact
from skyvault.cli import accounts, backup, discover, jobs, lab, library, permissions, restore, starter
from skyvault.cli import backup_databases as _backup_databases  # noqa: F401 (rds/aurora/docdb/redshift)
from skyvault.cli import backup_ec2 as _backup_ec2  # noqa: F401 (registers backup ec2 + ec2 restorer)
from skyvault.cli import backup_image as _backup_image  # noqa: F401 (registers backup image + image restorer)
from skyvault.cli.context import AppState
from skyvault.cli.library import PASSPHRASE_ENV
from skyvault.config import CONFIG_ENV
from skyvault.errors import SkyvaultError

app = typer.Typer(
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
    ctx.obj = AppState(config_option=config, json_output=json_output, verbose=verbose)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # At -vv botocore logs signed headers, signatures and AssumeRole responses: every handler redacts them.
    redactor = redact.install(logging.getLogger().handlers)
    redactor.add_secret(os.environ.get(PASSPHRASE_ENV))
    if verbose < 2:
        for noisy in ("botocore", "boto3", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


starter.register(app)
app.add_typer(lab.app, name="lab")
app.add_typer(accounts.app, name="accounts")
app.add_typer(library.app, name="library")
discover.register(app)
permissions.register(app)
app.add_typer(backup.app, name="backup")
app.add_typer(backup.backups_app, name="backups")
restore.register(app)
app.add_typer(jobs.app, name="jobs")
jobs.register_unbuilt(app)


def main() -> None:
    """Console entry point: run the app, turn skyvault errors into their documented exit codes."""
    try:
        # Without standalone mode click *returns* the code of a typer.Exit instead of exiting with it.
        outcome = app(standalone_mode=False)
        if isinstance(outcome, int) and outcome != 0:
            sys.exit(outcome)
    except SkyvaultError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
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
