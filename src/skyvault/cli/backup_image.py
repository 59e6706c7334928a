"""``skyvault backup image PATH...``: back up raw disk images into the library (incremental per image).

Also registers the restorer for "image" recovery points (``skyvault restore RP --to-file PATH``), giving it
the CLI's way of opening a library (passphrase from the environment or a prompt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from skyvault.catalog import Catalog
from skyvault.cli.backup import app as backup_app
from skyvault.cli.context import AppState, state
from skyvault.cli.library import library_config, open_library, progress_bar
from skyvault.errors import NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services import image as image_service
from skyvault.services.image.backup import KIND, image_size


def _open_for_restore(context: Any, library: str | None) -> Repository:
    return open_library(context, library)


image_service.register(_open_for_restore, progress_bar)


def _parent(repo: Repository, catalog: Catalog, library: str, source: str) -> Manifest | None:
    """The previous recovery point of this image in this library (the catalog first, the library as fallback)."""
    points = [p for p in catalog.recovery_points(kind=KIND, resource_id=source) if p.library == library]
    for point in reversed(points):
        if point.library_snapshot:
            try:
                return repo.load_snapshot(point.library_snapshot)
            except NotFoundError:
                continue  # pruned from the library: fall back to an older one or to the library itself
    return repo.latest(KIND, source)


def _backup_one(st: AppState, repo: Repository, catalog: Catalog, library: str, path: Path) -> dict[str, Any]:
    source = str(path.resolve())
    size = image_size(path)
    parent = _parent(repo, catalog, library, source)
    with progress_bar(st, f"backing up {path.name}", size) as advance:
        result = image_service.backup_image(repo, path, parent=parent, progress=advance)
    manifest = result.manifest
    point = catalog.add_recovery_point(
        kind=KIND,
        resource_id=source,
        library=library,
        library_snapshot=manifest.id,
        captured_config={"size": size, "block_size": manifest.block_size, "path": source},
        stats=result.stats,
    )
    return {"recovery_point": point.id, "stats": result.stats}


@backup_app.command("image")
def backup_image_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Raw disk image file(s) (or block devices).")],
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """Back up raw disk images into the library, incrementally against each image's previous recovery point.

    With --json: {"recovery_point": ID, "stats": {...}} for one image, a list of those for several.
    """
    st = state(ctx)
    name, _cfg = library_config(st, library)
    catalog = st.catalog()
    repo = open_library(st, name)
    results = []
    try:
        with repo.lock(purpose="backup image"):
            for path in paths:
                results.append(_backup_one(st, repo, catalog, name, path))
    finally:
        repo.close()
    if st.json_output:
        st.emit_json(results[0] if len(results) == 1 else results)
        return
    for result in results:
        s = result["stats"]
        st.info(
            f"{result['recovery_point']}: {s['bytes_read']:,} bytes read, {s['bytes_stored']:,} stored "
            f"({s['blocks_new']} new, {s['blocks_unchanged']} unchanged, {s['blocks_zero']} zero blocks) "
            f"in {s['duration_s']} s ({s['mb_per_s']} MB/s)"
        )
