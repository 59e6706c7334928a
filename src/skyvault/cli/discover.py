"""``skyvault discover``: placeholder until the discovery work lands."""

from __future__ import annotations

import typer

from skyvault.cli.unbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command("discover")
    def discover() -> None:
        """Inventory of protectable resources across accounts and regions."""
        not_built("discover", 2)
