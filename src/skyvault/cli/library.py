"""``skyvault library init|check|stats|prune|snapshots``: the deduplicated, encrypted repository.

The passphrase is read here (CLI layer only): ``SKYVAULT_PASSPHRASE``, else a hidden prompt on a terminal.
A library configured with ``kms_key`` opens through AWS KMS with the library's account instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from skyvault.aws import redact
from skyvault.cli import options
from skyvault.cli.context import PASSPHRASE_ENV, AppState, state
from skyvault.config import LibraryConfig, validate_config
from skyvault.errors import ConfigError, LibraryCorruptError, LibraryError, NotFoundError
from skyvault.library.backends import open_backend
from skyvault.library.crypto import KeyWrapper
from skyvault.library.kms import KmsKeyWrapper
from skyvault.library.repository import Repository, default_threads

# check, prune and stats (and rich's progress bar and tables) are imported by the commands that use them: backup
# and restore commands import this module for ``open_library`` and pay for neither (fastcdc, through the trees
# ``check`` reads, imports click).

app = typer.Typer(
    help="The library: deduplicated, compressed, encrypted copies (local disk or S3).", no_args_is_help=True
)


# -- helpers shared with other commands (backup image, restore) -------------------------------------------------
def read_passphrase(*, confirm: bool = False) -> str | None:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if sys.stdin.isatty():
        text: str = typer.prompt("library passphrase", hide_input=True, confirmation_prompt=confirm)
        redact.PROCESS_REDACTOR.add_secret(text)  # never in a log record, whatever logs it
        return text
    return None


def library_config(st: AppState, name: str | None) -> tuple[str, LibraryConfig]:
    config = st.config()
    chosen = name or config.default_library
    if not chosen:
        raise ConfigError("no library given and no default library", hint="skyvault library init --path DIR")
    if chosen not in config.libraries:
        known = ", ".join(sorted(config.libraries)) or "none configured"
        raise NotFoundError(f"no library named {chosen!r} (known: {known})")
    return chosen, config.libraries[chosen]


def _kms_opener(st: AppState, cfg: LibraryConfig) -> Callable[[str], KeyWrapper | None] | None:
    if not cfg.kms_key:
        return None
    if not cfg.account:
        raise ConfigError("a library with kms_key needs account (the account whose KMS key wraps it)")
    region = cfg.region or st.config().account(cfg.account).regions[0]
    account = cfg.account
    trusted = cfg.kms_key
    # Only the configured key: a key file naming another KMS key may have been added by a storage writer.
    return lambda key_id: KmsKeyWrapper(st.factory(), account, region, key_id) if key_id == trusted else None


def open_library(st: AppState, name: str | None, *, asked: dict[str, str | None] | None = None) -> Repository:
    """Open a configured library; ``asked`` remembers passphrases already read (one prompt per library when
    a command runs several jobs)."""
    chosen, cfg = library_config(st, name)
    backend = open_backend(cfg, st.factory() if cfg.kind == "s3" else None)
    kms = _kms_opener(st, cfg)
    passphrase = None
    if kms is None or os.environ.get(PASSPHRASE_ENV):
        if asked is not None and chosen in asked:
            passphrase = asked[chosen]
        else:
            passphrase = read_passphrase()
            if asked is not None:
                asked[chosen] = passphrase
    return Repository.open(
        backend, passphrase=passphrase, kms=kms, compression_level=cfg.compression_level, threads=default_threads()
    )


@contextmanager
def progress_bar(st: AppState, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; silent with --json or when stderr is not a terminal."""
    if st.json_output or not st.err_console.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=st.err_console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


# -- commands -------------------------------------------------------------------------------------------------
@app.command("init")
def init_command(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Option("--path", help="A local directory for the library.")] = None,
    s3: Annotated[str | None, typer.Option("--s3", help="s3://BUCKET/PREFIX")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Configured account for S3 / KMS.")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region of the bucket / KMS key.", callback=options.region)
    ] = None,
    role_arn: Annotated[str | None, typer.Option("--role-arn", help="Assume this role (from --account).")] = None,
    object_lock_days: Annotated[
        int | None, typer.Option("--object-lock-days", min=1, help="S3 Object Lock retention (immutability).")
    ] = None,
    storage_class: Annotated[str | None, typer.Option("--storage-class", help="S3 storage class for packs.")] = None,
    kms_key: Annotated[str | None, typer.Option("--kms-key", help="Wrap the master key with this KMS key.")] = None,
    name: Annotated[str, typer.Option("--name", help="Name of the library in the config.")] = "main",
    compression_level: Annotated[
        int, typer.Option("--compression-level", min=-7, max=22, help="zstd level (1: fast; 3+: smaller).")
    ] = 1,
) -> None:
    """Create a library and make it the default."""
    st = state(ctx)
    if (path is None) == (s3 is None):
        raise LibraryError("give exactly one of --path DIR or --s3 s3://BUCKET/PREFIX")
    if s3 is not None and not account:
        raise LibraryError("an S3 library needs --account (a configured account)")
    if kms_key and not account:
        raise LibraryError("--kms-key needs --account (the account whose KMS holds the key)")
    config = st.config(missing_ok=True)
    if name in config.libraries:
        raise ConfigError(f"a library named {name!r} is already configured", hint="choose another --name")
    try:
        cfg = LibraryConfig(
            kind="local" if path is not None else "s3",
            path=str(path.resolve()) if path is not None else None,
            url=s3,
            account=account,
            region=region,
            role_arn=role_arn,
            storage_class=storage_class,
            object_lock_days=object_lock_days,
            kms_key=kms_key,
            compression_level=compression_level,
        )
    except ValueError as exc:
        raise ConfigError(f"library {name!r}: {exc}") from None
    if account and account not in config.accounts:
        raise NotFoundError(f"no account named {account!r}", hint="skyvault accounts add")
    # Validate the whole resulting config before anything is written (a bad --name must leave no library).
    updated = config.model_copy(update={"libraries": {**config.libraries, name: cfg}, "default_library": name})
    validate_config(updated, st.config_path)
    backend = open_backend(cfg, st.factory() if (s3 or kms_key) else None)
    if s3:
        from skyvault.library.backends.s3 import S3Backend  # boto3: only for an S3 library

        assert isinstance(backend, S3Backend)
        backend.verify_bucket()
    backend.prepare_new()
    kms = None
    if kms_key:
        assert account
        kms = KmsKeyWrapper(st.factory(), account, region or config.account(account).regions[0], kms_key)
    passphrase = read_passphrase(confirm=True) if kms is None else os.environ.get(PASSPHRASE_ENV)
    if kms is None and not passphrase:
        raise LibraryError(
            "a library needs a passphrase: set SKYVAULT_PASSPHRASE or run on a terminal", hint="or use --kms-key"
        )
    repo = Repository.init(backend, passphrase=passphrase, kms=kms, compression_level=compression_level)
    backend.close()
    st.save(updated)
    result = {"library": name, "location": backend.location, "id": repo.config.id, "default": True}
    if st.json_output:
        st.emit_json(result)
    else:
        st.info(f"created library {name!r} at {backend.location} (id {repo.config.id}); it is now the default")


@app.command("check")
def check_command(
    ctx: typer.Context,
    read_data: Annotated[bool, typer.Option("--read-data", help="Read and verify every byte.")] = False,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """Verify the library's structure, and with --read-data every byte."""
    from skyvault.library.check import check

    st = state(ctx)
    repo = open_library(st, library)
    try:
        with repo.lock(purpose="check"):
            total = sum(size for _, size in repo.backend.list("data")) if read_data else 0
            with progress_bar(st, "reading packs", total) as advance:
                report = check(repo, read_data=read_data, progress=advance)
    finally:
        repo.close()
    if st.json_output:
        st.emit_json(report.to_dict())
    else:
        for warning in report.warnings:
            st.info(f"[yellow]warning[/yellow]: {warning}")
        for error in report.errors:
            st.info(f"[red]error[/red]: {error}")
        st.info(
            f"{report.snapshots} snapshots, {report.packs} packs, {report.index_files} index files, "
            f"{report.blobs} blobs" + (f", {report.bytes_read} bytes read" if read_data else "")
        )
    if not report.ok:
        raise LibraryCorruptError(f"library check found {len(report.errors)} problem(s); first: {report.errors[0]}")
    if not st.json_output:
        st.info("[green]no errors[/green]")


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """Logical vs stored bytes and the deduplication ratio."""
    from rich.table import Table

    from skyvault.library.stats import library_stats

    st = state(ctx)
    repo = open_library(st, library)
    try:
        with repo.lock(purpose="stats"):  # shared: a prune cannot change the library while it is counted
            stats = library_stats(repo)
    finally:
        repo.close()
    if st.json_output:
        st.emit_json(stats)
        return
    table = Table(title=f"library {stats['location']}")
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    st.console.print(table)


@app.command("prune")
def prune_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be removed.")] = False,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """Remove data no snapshot references (takes the exclusive lock: never while a backup runs)."""
    from skyvault.library.prune import prune

    st = state(ctx)
    repo = open_library(st, library)
    try:
        with repo.lock(exclusive=True, purpose="prune"):
            report = prune(repo, dry_run=dry_run)
    finally:
        repo.close()
    if st.json_output:
        st.emit_json(report.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    st.info(
        f"{report.snapshots} snapshots kept; {verb} {report.packs_deleted} of {report.packs_before} packs "
        f"({report.bytes_freed:,} bytes freed), repacked {report.packs_repacked}"
    )


@app.command("snapshots")
def snapshots_command(
    ctx: typer.Context,
    library: Annotated[str | None, typer.Option("--library", "-l", help="Library name (default: the default).")] = None,
) -> None:
    """List the snapshots (manifests) in the library."""
    from rich.table import Table

    st = state(ctx)
    repo = open_library(st, library)
    try:
        manifests = repo.snapshots()
    finally:
        repo.close()
    rows: list[dict[str, Any]] = [
        {
            "id": m.id,
            "kind": m.kind,
            "source": m.source,
            "time": m.time,
            "size": m.size,
            "parent": m.parent,
            "type": m.content_type,  # "block_map" (disks) or "tree" (objects, items)
            "entries": m.content.get("entries") if m.content_type == "tree" else None,
        }
        for m in manifests
    ]
    if st.json_output:
        st.emit_json(rows)
        return
    table = Table(title="library snapshots")
    for column in ("id", "kind", "source", "time", "size", "entries"):
        table.add_column(column)
    for row in rows:
        entries = "" if row["entries"] is None else f"{row['entries']:,}"
        table.add_row(row["id"][:16], row["kind"], row["source"], row["time"], f"{row['size']:,}", entries)
    st.console.print(table)
