"""Commands of the CLI contract that are not built yet say so (exit 64) instead of pretending."""

from __future__ import annotations

from typing import NoReturn

from skyvault.errors import NotBuiltError


def not_built(command: str, issue: int) -> NoReturn:
    raise NotBuiltError(f"'skyvault {command}' is not built yet (tracked in issue #{issue})")
