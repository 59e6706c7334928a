"""``skyvault library``: placeholder until its issue lands."""

from __future__ import annotations

import typer

from skyvault.cli.unbuilt import not_built

app = typer.Typer(help="(not built yet)", no_args_is_help=True)


@app.command("status")
def _placeholder() -> None:
    not_built("library", 2)
