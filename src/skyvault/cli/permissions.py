"""``skyvault policy|permissions|check``: placeholder until the permissions issue lands."""

from __future__ import annotations

import typer

from skyvault.cli.unbuilt import not_built


def register(app: typer.Typer) -> None:
    @app.command("policy")
    def policy() -> None:
        """Render least-privilege IAM policies from the permission registry."""
        not_built("policy", 3)

    @app.command("permissions")
    def permissions() -> None:
        """The permission-usage table: each action, the steps that use it, and why."""
        not_built("permissions", 3)

    @app.command("check")
    def check() -> None:
        """Preflight: test an account's real credentials against the registry."""
        not_built("check", 3)
