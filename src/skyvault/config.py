"""The ``skyvault.toml`` configuration: models, loading with precise errors, and atomic saving.

An invalid file raises ``ConfigError`` naming the file, the field and what is wrong; nothing is ever written
when the configuration does not validate (``save_config`` validates first and writes atomically).
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skyvault.errors import ConfigError

DEFAULT_CONFIG_NAME = "skyvault.toml"

_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


def is_region_name(name: str) -> bool:
    """An AWS region name as the config accepts it (``us-east-1``, ``us-gov-west-1``): one rule for the config
    file and for every ``--region`` option, so a typo never reaches botocore."""
    return bool(_REGION.match(name))


class AuthMethod(StrEnum):
    DEFAULT = "default"
    KEYS = "keys"
    ASSUME_ROLE = "assume_role"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Strict):
    """One AWS account and how to authenticate to it. Secrets are never stored here."""

    auth: AuthMethod = AuthMethod.DEFAULT
    account_id: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"], min_length=1)
    endpoint_url: str | None = None
    # default / keys
    profile: str | None = None
    credentials_file: str | None = None
    # keys: names of environment variables holding the key pair (the values are read at run time only)
    access_key_id_env: str | None = None
    secret_access_key_env: str | None = None
    session_token_env: str | None = None
    # assume_role
    role_arn: str | None = None
    external_id: str | None = None
    source_account: str | None = None
    session_name: str = "skyvault"
    # AWS accepts up to the role's MaxSessionDuration (3600 unless raised, at most 43200) and 3600 under role chaining
    # (the source account's credentials are themselves a role's); beyond that the client warns and uses 3600
    # (skyvault.aws.session_duration).
    session_duration_s: Annotated[int, Field(ge=900, le=43200)] = 3600

    @field_validator("regions")
    @classmethod
    def _regions_valid(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not is_region_name(r)]
        if bad:
            raise ValueError(f"not an AWS region name: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("regions are listed more than once")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_valid(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:5000")
        return value

    @model_validator(mode="after")
    def _auth_fields(self) -> AccountConfig:
        if self.auth is AuthMethod.KEYS:
            env_pair = self.access_key_id_env and self.secret_access_key_env
            if not env_pair and not self.profile:
                raise ValueError(
                    "auth 'keys' needs access_key_id_env and secret_access_key_env (names of environment "
                    "variables) or a profile"
                )
            if bool(self.access_key_id_env) != bool(self.secret_access_key_env):
                raise ValueError("access_key_id_env and secret_access_key_env go together")
        if self.auth is AuthMethod.ASSUME_ROLE:
            if not self.role_arn or not _ROLE_ARN.match(self.role_arn):
                raise ValueError("auth 'assume_role' needs role_arn = 'arn:aws:iam::<12 digits>:role/<name>'")
            if not self.source_account:
                raise ValueError("auth 'assume_role' needs source_account (the admin account to assume from)")
        elif self.role_arn or self.external_id or self.source_account:
            raise ValueError("role_arn, external_id and source_account are only for auth 'assume_role'")
        return self

    @property
    def role_account_id(self) -> str | None:
        return self.role_arn.split(":")[4] if self.role_arn else None


class LibraryConfig(_Strict):
    """Where copies go: a local directory or ``s3://bucket/prefix`` reached with a configured account."""

    kind: Literal["local", "s3"]
    path: str | None = None
    url: str | None = None
    account: str | None = None
    region: str | None = None
    role_arn: str | None = None
    storage_class: str | None = None
    object_lock_days: Annotated[int, Field(ge=1)] | None = None
    kms_key: str | None = None
    compression_level: Annotated[int, Field(ge=-7, le=22)] = 3

    @field_validator("region")
    @classmethod
    def _region_valid(cls, value: str | None) -> str | None:
        if value is not None and not is_region_name(value):
            raise ValueError(f"not an AWS region name: {value}")
        return value

    @model_validator(mode="after")
    def _where(self) -> LibraryConfig:
        if self.kind == "local" and not self.path:
            raise ValueError("a local library needs path")
        if self.kind == "s3":
            if not self.url or not self.url.startswith("s3://") or len(self.url) <= 5:
                raise ValueError("an s3 library needs url = 's3://bucket/prefix'")
            if not self.account:
                raise ValueError("an s3 library needs account (a configured account name)")
        return self


def _check_catalog_url(value: str) -> str:
    """A SQLAlchemy URL of a database SQLAlchemy knows, holding no password (secrets are never stored here)."""
    from sqlalchemy.engine import make_url  # lazily: loading a config must not load SQLAlchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            "not a database URL: use a SQLAlchemy URL such as sqlite:///catalog.db or "
            "postgresql+psycopg://skyvault@db.example.com/skyvault"
        ) from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"unknown database {url.drivername!r} (SQLAlchemy has no such dialect)") from None
    if url.password is not None:
        raise ValueError("must not contain a password: use the database's own means (for PostgreSQL ~/.pgpass)")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite catalog would forget everything: name a file (sqlite:///catalog.db)")
    return value


class SkyvaultConfig(_Strict):
    version: Literal[1] = 1
    state_dir: Annotated[str, Field(min_length=1)] = ".skyvault"
    # None: the SQLite file catalog.db in state_dir.
    catalog_url: str | None = None
    accounts: dict[Annotated[str, Field(pattern=_NAME)], AccountConfig] = Field(default_factory=dict)
    libraries: dict[Annotated[str, Field(pattern=_NAME)], LibraryConfig] = Field(default_factory=dict)
    default_library: str | None = None

    @model_validator(mode="after")
    def _references(self) -> SkyvaultConfig:
        for name, account in self.accounts.items():
            if account.auth is AuthMethod.ASSUME_ROLE:
                source = account.source_account
                if source not in self.accounts:
                    raise ValueError(f"accounts.{name}.source_account: no account named {source!r}")
                if source == name:
                    raise ValueError(f"accounts.{name}.source_account: an account cannot assume from itself")
                seen = {name}
                while source is not None and self.accounts[source].auth is AuthMethod.ASSUME_ROLE:
                    if source in seen:
                        raise ValueError(f"accounts.{name}: assume-role chain loops through {source!r}")
                    seen.add(source)
                    source = self.accounts[source].source_account
        for name, library in self.libraries.items():
            if library.account and library.account not in self.accounts:
                raise ValueError(f"libraries.{name}.account: no account named {library.account!r}")
        if self.default_library and self.default_library not in self.libraries:
            raise ValueError(f"default_library: no library named {self.default_library!r}")
        return self

    @field_validator("catalog_url")
    @classmethod
    def _catalog_url_valid(cls, value: str | None) -> str | None:
        return None if value is None else _check_catalog_url(value)

    def account(self, name: str) -> AccountConfig:
        from skyvault.errors import NotFoundError

        try:
            return self.accounts[name]
        except KeyError:
            known = ", ".join(sorted(self.accounts)) or "none configured"
            raise NotFoundError(f"no account named {name!r} (known: {known})", hint="skyvault accounts list") from None


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config path: the one given, else ``./skyvault.toml``.

    The CLI passes ``--config`` or, failing that, ``$SKYVAULT_CONFIG`` (``skyvault.cli.main.CONFIG_ENV``): this
    layer reads no env."""
    return Path(explicit) if explicit else Path(DEFAULT_CONFIG_NAME)


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def parse_config(data: dict[str, Any], source: str) -> SkyvaultConfig:
    try:
        return SkyvaultConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def load_config(path: Path, *, missing_ok: bool = False) -> SkyvaultConfig:
    """Read and validate ``path``. A missing file is an error unless ``missing_ok`` (then: empty config)."""
    try:
        if path.exists() and not path.is_file():  # a FIFO would block the read forever, a folder cannot be read
            raise ConfigError(f"{path}: not a regular file")
        raw = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return SkyvaultConfig()
        raise ConfigError(
            f"{path}: no such configuration file", hint="run 'skyvault init' or 'skyvault lab seed'"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def dump_config(config: SkyvaultConfig) -> str:
    data = config.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    return tomli_w.dumps(data)


def validate_config(config: SkyvaultConfig, path: Path) -> str:
    """Validate a configuration built in code (``model_copy`` does not validate) as if it were read from
    ``path``; returns its TOML text. Commands call it before any side effect, so invalid input writes nothing."""
    text = dump_config(config)
    parse_config(tomllib.loads(text), str(path))
    return text


def save_config(config: SkyvaultConfig, path: Path) -> None:
    """Re-validate, then write atomically (temp file + rename) so a failed save never truncates the file."""
    write_config_text(validate_config(config, path), path)


def write_config_text(text: str, path: Path) -> None:
    """Atomically replace ``path`` with ``text`` (temp file + rename); a path the OS refuses is a ConfigError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: not a regular file; a configuration file is never written over it")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
        raise


def state_dir(config: SkyvaultConfig, path: Path) -> Path:
    """Where jobs, the catalog and lab state live: relative to the config file's folder."""
    base = Path(config.state_dir)
    return base if base.is_absolute() else path.resolve().parent / base


def catalog_url(config: SkyvaultConfig, path: Path) -> str:
    """The catalog's SQLAlchemy URL: ``catalog_url`` (a relative SQLite file is relative to the config file's
    folder, like ``state_dir``), else the SQLite file ``catalog.db`` in the state dir."""
    if config.catalog_url is None:
        return f"sqlite:///{state_dir(config, path) / 'catalog.db'}"
    from sqlalchemy.engine import make_url

    url = make_url(config.catalog_url)
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith("file:"):
        database = Path(url.database)
        if not database.is_absolute():
            return url.set(database=str(path.resolve().parent / database)).render_as_string(hide_password=False)
    return config.catalog_url


STARTER_CONFIG = """\
# skyvault configuration. Docs: README.md ("Configuration").
# Secrets are never written here: key pairs are read from environment variables or AWS profiles.
version = 1

# Where skyvault keeps its catalog, job state and locks (relative to this file).
state_dir = ".skyvault"
# The catalog (jobs, recovery points): any SQLAlchemy URL; default: the SQLite file catalog.db in state_dir.
# catalog_url = "postgresql+psycopg://skyvault@db.example.com/skyvault"   # then: skyvault catalog upgrade

# One table per AWS account. auth is one of:
#   "default"      boto3's credential chain: env vars, ~/.aws profiles (profile = "..."), instance role.
#   "keys"         an access key pair read from the named environment variables (or a profile).
#   "assume_role"  sts:AssumeRole into role_arn with external_id, from source_account (the admin account).
#
# [accounts.admin]
# auth = "default"
# profile = "backup-admin"          # optional
# regions = ["us-east-1", "eu-west-1"]
# endpoint_url = "http://127.0.0.1:5000"   # optional: the local lab or LocalStack; AWS_ENDPOINT_URL works too
#
# [accounts.ci]
# auth = "keys"
# access_key_id_env = "SKYVAULT_CI_ACCESS_KEY_ID"
# secret_access_key_env = "SKYVAULT_CI_SECRET_ACCESS_KEY"
# regions = ["us-east-1"]
#
# [accounts.tenant-a]
# auth = "assume_role"
# source_account = "admin"
# role_arn = "arn:aws:iam::111111111111:role/skyvault-tenant"
# external_id = "tenant-a-7c1e"      # one external ID per tenant
# regions = ["us-east-1"]

# Libraries hold skyvault's own deduplicated, encrypted copies ('skyvault library init' adds one).
# [libraries.main]
# kind = "local"
# path = "/var/backups/skyvault"
# default_library = "main"
"""
