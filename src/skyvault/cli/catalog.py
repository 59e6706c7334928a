"""``skyvault catalog upgrade``: migrate the catalog's schema to the one this skyvault needs.

SQLite catalogs are upgraded whenever they are opened; a shared database (``catalog_url``) moves only when
someone runs this command, after installing a new skyvault."""

from __future__ import annotations

from typing import Annotated

import typer

from skyvault.cli.context import state

app = typer.Typer(help="The catalog: schema upgrades.", no_args_is_help=True)


@app.command("upgrade")
def catalog_upgrade(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
) -> None:
    """Upgrade the catalog's schema to this skyvault's (idempotent; one transaction where the database allows)."""
    from skyvault.catalog import Catalog
    from skyvault.catalog.engine import safe_url

    st = state(ctx)
    url = st.catalog_url
    result = Catalog.upgrade(url)
    if st.json_output or json_output:
        st.emit_json({"catalog": safe_url(url), **result.to_dict()})
    elif result.changed:
        st.info(f"catalog {safe_url(url)}: upgraded from {result.from_revision or 'empty'} to {result.to_revision}")
    else:
        st.info(f"catalog {safe_url(url)}: already at {result.to_revision}")
