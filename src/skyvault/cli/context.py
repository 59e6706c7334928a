"""Shared CLI state: global options, config loading, the client factory, and output helpers.

Only the CLI layer prints; everything below returns data or raises ``SkyvaultError``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from skyvault.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.catalog import Catalog, Job, RecoveryPoint
    from skyvault.config import SkyvaultConfig

# skyvault.config (pydantic, ~0.1 s) is imported by the methods that read the config: the root callback builds an
# AppState for every command, including ``--help`` of a subcommand, which reads none.

# Piped or captured tables are read by tools and people alike: never cut IDs to an assumed 80 columns.
PIPED_WIDTH = 240

# Set by the test-suite (and CI) so that an undeclared AWS call fails instead of warning.
STRICT_GUARD_ENV = "SKYVAULT_STRICT_PERMISSIONS"

# The library passphrase (else a hidden prompt on a terminal); the root callback redacts it from every log record.
PASSPHRASE_ENV = "SKYVAULT_PASSPHRASE"


@dataclass
class AppState:
    config_option: str | None = None
    json_output: bool = False
    verbose: int = 0
    console: Console = field(default_factory=lambda: Console(stderr=False))
    err_console: Console = field(default_factory=lambda: Console(stderr=True))
    _config: SkyvaultConfig | None = None
    _factory: ClientFactory | None = None
    _catalog: Catalog | None = None

    @property
    def config_path(self) -> Path:
        from skyvault.config import config_path

        return config_path(self.config_option)

    def config(self, *, missing_ok: bool = False) -> SkyvaultConfig:
        if self._config is None:
            from skyvault.config import load_config

            self._config = load_config(self.config_path, missing_ok=missing_ok)
        return self._config

    def save(self, config: SkyvaultConfig) -> None:
        from skyvault.config import save_config

        save_config(config, self.config_path)
        self._config = config
        self._factory = None
        self._catalog = None

    @property
    def state_dir(self) -> Path:
        from skyvault.config import state_dir

        where = state_dir(self.config(missing_ok=True), self.config_path)
        if where.exists() and not where.is_dir():
            raise ConfigError(
                f"{self.config_path}: state_dir: {where} is not a directory", hint="point state_dir at a folder"
            )
        return where

    @property
    def catalog_url(self) -> str:
        from skyvault.config import catalog_url

        config = self.config(missing_ok=True)
        if config.catalog_url is None:
            _ = self.state_dir  # the default catalog lives there: a state_dir that is a file is named as such
        return catalog_url(config, self.config_path)

    def catalog(self) -> Catalog:
        """The configured catalog (``catalog_url``, else ``catalog.db`` in the state dir), opened once."""
        if self._catalog is None:
            from skyvault.catalog import Catalog  # lazily: commands without a catalog start faster

            self._catalog = Catalog(self.catalog_url)
        return self._catalog

    def catalog_if_any(self) -> Catalog | None:
        """The catalog, or None where its SQLite file does not exist yet: a command that only reads has nothing to
        find there, and must not create the catalog on its way to an error (a failed lookup writes nothing)."""
        url = self.catalog_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            return None
        return self.catalog()

    def recovery_point(self, point_id: str) -> RecoveryPoint:
        catalog = self.catalog_if_any()
        if catalog is None:
            raise NotFoundError(
                f"no recovery point {point_id!r} (no backups made here yet)", hint="skyvault backups list"
            )
        return catalog.recovery_point(point_id)

    def job(self, job_id: str) -> Job:
        catalog = self.catalog_if_any()
        if catalog is None:
            raise NotFoundError(f"no job {job_id!r} (no jobs run here yet)", hint="skyvault jobs list")
        return catalog.job(job_id)

    def factory(self) -> ClientFactory:
        if self._factory is None:
            from skyvault.aws.clients import ClientFactory  # boto3: imported by the commands that call AWS only

            self._factory = ClientFactory(
                self.config(),
                base_dir=self.config_path.resolve().parent,
                strict_guard=os.environ.get(STRICT_GUARD_ENV, "") not in ("", "0"),
            )
        return self._factory

    @property
    def table_console(self) -> Console:
        """The console for tables: the terminal's width, or ``PIPED_WIDTH`` columns when piped."""
        return self.console if self.console.is_terminal else Console(file=self.console.file, width=PIPED_WIDTH)

    def emit_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        sys.stdout.flush()

    def info(self, message: str) -> None:
        """Human progress/status text: to stderr with --json so stdout stays machine-readable."""
        (self.err_console if self.json_output else self.console).print(message)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


def default_account(st: AppState, account: str | None) -> str:
    """``--account``, else the only account, else the only one not reached through another (the admin)."""
    from skyvault.config import AuthMethod  # here: --help needs none of the config's models

    config = st.config()
    if account is not None:
        config.account(account)
        return account
    if len(config.accounts) == 1:
        return next(iter(config.accounts))
    direct = [name for name, a in config.accounts.items() if a.auth is not AuthMethod.ASSUME_ROLE]
    if len(direct) == 1:
        return direct[0]
    raise ConfigError("say which account with --account", hint="skyvault accounts list")
