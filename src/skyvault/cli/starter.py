"""``skyvault init``: write a commented starter configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from skyvault.cli.context import state
from skyvault.config import STARTER_CONFIG, write_config_text
from skyvault.errors import ConfigError, ConflictError


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        ctx: typer.Context,
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a commented starter skyvault.toml."""
        st = state(ctx)
        path = st.config_path
        try:
            exists = path.exists()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot use: {exc.strerror}") from None
        if exists and not force:
            raise ConflictError(f"{path} already exists", hint="use --force to overwrite it")
        write_config_text(STARTER_CONFIG, path)
        if st.json_output:
            st.emit_json({"config": str(path)})
        else:
            st.info(f"wrote {path}")
