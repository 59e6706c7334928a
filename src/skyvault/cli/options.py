"""Validation callbacks shared by CLI options: a bad value is a usage error (exit 2) before anything runs."""

from __future__ import annotations

import typer

from skyvault.config import is_region_name


def _check(names: list[str]) -> None:
    bad = [name for name in names if not is_region_name(name)]
    if bad:
        raise typer.BadParameter(f"not an AWS region name: {', '.join(bad)} (e.g. us-east-1, eu-west-1)")


def region(value: str | None) -> str | None:
    """Callback of a single ``--region``-like option."""
    if value is not None:
        _check([value])
    return value


def regions(value: list[str] | None) -> list[str] | None:
    """Callback of a repeatable ``--region`` option (each value may be ``a,b``)."""
    if value:
        _check([part.strip() for item in value for part in item.split(",") if part.strip()])
    return value
