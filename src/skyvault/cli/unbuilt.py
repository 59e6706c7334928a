"""Commands of the CLI contract that are not built yet say so (exit 64) instead of pretending."""

from __future__ import annotations

from typing import NoReturn

from skyvault.errors import NotBuiltError


def not_built(command: str) -> NoReturn:
    raise NotBuiltError(
        f"'skyvault {command}' is part of the CLI contract but not built yet",
        hint="README.md, section 'Status', lists what is built",
    )
