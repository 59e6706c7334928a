"""``skyvault backup <service>`` and ``skyvault backups list|show``.

Each service adds its own ``backup`` subcommand in its own module (registered in ``cli/main.py``).
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Back up resources (one subcommand per service).", no_args_is_help=True)
backups_app = typer.Typer(help="Recovery points in the catalog.", no_args_is_help=True)
