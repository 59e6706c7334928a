"""``skyvault restore RECOVERY_POINT``: placeholder until a restore path lands."""

from __future__ import annotations

import typer

from skyvault.cli.unbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command("restore")
    def restore(recovery_point: str) -> None:
        """Restore a recovery point to a new resource (or over the original, with --yes)."""
        not_built("restore", 4)
