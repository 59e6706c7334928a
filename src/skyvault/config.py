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


# -- backup plans ----------------------------------------------------------------------------------------------
# What each backup driver can do in a plan, by service (the ``discover --service`` names). The drivers declare the
# same in ``ServiceDriver.plan_backups``; tests/engine/test_plans.py checks that this table matches them (this layer
# cannot import the drivers). "native": the service's own snapshots/backups; "library": skyvault's copy (native
# recovery points kept only as the next incremental base); "both": native recovery points kept and a library copy
# (no driver offers it yet: EC2 retires the older base snapshots once they are copied).
PLAN_MODES: dict[str, tuple[str, ...]] = {
    "ec2": ("native", "library"),
    "rds": ("native",),
    "aurora": ("native",),
    "docdb": ("native",),
    "redshift": ("native",),
    "s3": ("library",),  # S3 (issue 13): objects into the library; S3 has no native snapshot
    "dynamodb": ("native", "library"),  # native: CreateBackup; library: a parallel Scan into the library
}
# Services whose drivers take the plan's extra copies (cross-region, vault account).
PLAN_COPIES: frozenset[str] = frozenset({"rds", "aurora", "docdb", "redshift"})
_DISCOVERABLE = ("ec2", "ebs", "rds", "aurora", "redshift", "docdb", "dynamodb", "s3")
_TAG_SELECTOR = re.compile(r"^[^=]{1,128}(=.{0,256})?$")


def parse_tag_selector(selector: str) -> tuple[str, str | None]:
    """``key=value`` (that value), ``key`` (the key with any value): ``(key, value or None)``."""
    key, sep, value = selector.partition("=")
    return key.strip(), (value.strip() if sep else None)


def _check_selectors(value: list[str]) -> list[str]:
    bad = [s for s in value if not _TAG_SELECTOR.match(s) or not parse_tag_selector(s)[0]]
    if bad:
        raise ValueError(f"not a tag selector (key=value or key): {', '.join(map(repr, bad))}")
    return value


def check_cron(expression: str) -> str:
    """A 5-field cron expression croniter accepts (minute hour day-of-month month day-of-week)."""
    from croniter import croniter  # lazily: loading a config must not load the scheduler's parser

    if len(expression.split()) != 5:
        raise ValueError(
            f"{expression!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week), "
            "e.g. '0 3 * * *'"
        )
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression, e.g. '0 3 * * *' or '*/30 * * * 1-5'")
    return expression


def check_timezone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'UTC' or 'Europe/Paris')") from None
    return name


class RetentionConfig(_Strict):
    """How long a plan keeps recovery points: the union of every rule keeps a point (restic's ``forget`` rules).

    ``keep_last`` newest points; the newest point of each of the last ``daily`` days, ``weekly`` ISO weeks,
    ``monthly`` months and ``yearly`` years that have one (in the plan's time zone); nothing younger than
    ``min_age_days``. No rule at all keeps everything."""

    keep_last: Annotated[int, Field(ge=0)] = 0
    daily: Annotated[int, Field(ge=0)] = 0
    weekly: Annotated[int, Field(ge=0)] = 0
    monthly: Annotated[int, Field(ge=0)] = 0
    yearly: Annotated[int, Field(ge=0)] = 0
    min_age_days: Annotated[float, Field(ge=0)] = 0.0

    @property
    def keeps_everything(self) -> bool:
        return not (self.keep_last or self.daily or self.weekly or self.monthly or self.yearly)


class CopiesConfig(_Strict):
    """Extra copies of each native recovery point, passed to the drivers' own copy options."""

    region: str | None = None  # also keep a copy in this region (backup ... --copy-to-region)
    account: str | None = None  # also keep a copy in this configured vault account (--copy-to-account)

    @field_validator("region")
    @classmethod
    def _region_valid(cls, value: str | None) -> str | None:
        if value is not None and not is_region_name(value):
            raise ValueError(f"not an AWS region name: {value}")
        return value


class PlanConfig(_Strict):
    """A backup plan: what to protect, how, when, for how long, and where extra copies go."""

    services: list[str] = Field(min_length=1)
    accounts: list[str] = Field(default_factory=list)  # empty: every configured account
    regions: list[str] = Field(default_factory=list)  # empty: each account's configured regions
    tags: list[str] = Field(default_factory=list)  # all must match: "backup=daily", "team" (any value)
    ids: list[str] = Field(default_factory=list)  # selected whatever their tags
    exclude_ids: list[str] = Field(default_factory=list)
    exclude_tags: list[str] = Field(default_factory=list)  # any match excludes
    modes: dict[str, str] = Field(default_factory=dict)  # service -> native | library | both (default native)
    library: str | None = None  # for library/both modes; default: default_library
    schedule: str | None = None  # cron expression; None: run only with 'backup --plan'
    timezone: str = "UTC"
    catch_up: Literal["once", "skip"] = "once"  # after downtime: run the latest missed slot once, or skip it
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    copies: CopiesConfig = Field(default_factory=CopiesConfig)
    max_parallel_per_account: Annotated[int, Field(ge=1, le=64)] = 4

    @field_validator("services")
    @classmethod
    def _services_valid(cls, value: list[str]) -> list[str]:
        for service in value:
            if service not in _DISCOVERABLE:
                raise ValueError(f"unknown service {service!r} (services: {', '.join(_DISCOVERABLE)})")
            if service not in PLAN_MODES:
                raise ValueError(
                    f"service {service!r} has no backup driver yet (plans can back up: {', '.join(PLAN_MODES)})"
                )
        if len(set(value)) != len(value):
            raise ValueError("services are listed more than once")
        return value

    @field_validator("regions")
    @classmethod
    def _regions_valid(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not is_region_name(r)]
        if bad:
            raise ValueError(f"not an AWS region name: {', '.join(bad)}")
        return value

    @field_validator("tags", "exclude_tags")
    @classmethod
    def _tags_valid(cls, value: list[str]) -> list[str]:
        return _check_selectors(value)

    @field_validator("schedule")
    @classmethod
    def _schedule_valid(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone_valid(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _modes_valid(self) -> PlanConfig:
        for service, mode in self.modes.items():
            if service not in self.services:
                raise ValueError(f"modes.{service}: the plan does not select service {service!r}")
            if mode not in PLAN_MODES[service]:
                raise ValueError(
                    f"modes.{service}: {mode!r} is not supported by the {service} driver "
                    f"(supported: {', '.join(PLAN_MODES[service])})"
                )
        if self.copies.region or self.copies.account:
            without = [s for s in self.services if s not in PLAN_COPIES]
            if without:
                raise ValueError(
                    f"copies: the {', '.join(without)} driver takes no extra copies (its library copy is the "
                    f"off-site copy); put {', '.join(without)} in a plan of its own"
                )
        overlap = sorted(set(self.ids) & set(self.exclude_ids))
        if overlap:
            raise ValueError(f"ids and exclude_ids both name {', '.join(overlap)}")
        return self

    def mode(self, service: str) -> str:
        """The configured mode, else the driver's first (``native`` where it has one; ``library`` for S3)."""
        return self.modes.get(service, PLAN_MODES.get(service, ("native",))[0])

    @property
    def uses_library(self) -> bool:
        return any(self.mode(s) in ("library", "both") for s in self.services)


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


# -- scale-out: Celery workers and shared rate limits (issue 15) ------------------------------------------------
_QUEUE = re.compile(r"^(default|[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d)$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_API_FAMILY = r"^[a-z0-9][a-z0-9-]{0,62}$"


def is_queue_name(name: str) -> bool:
    """A worker queue: an AWS region name (jobs run in the region they back up) or ``default``."""
    return bool(_QUEUE.match(name))


def _check_redis_like_url(value: str, schemes: tuple[str, ...]) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"must be a {' or '.join(s + '://host' for s in schemes)} URL, e.g. redis://127.0.0.1:6379/0")
    if parts.password is not None:
        raise ValueError("must not contain a password: name an environment variable in password_env instead")
    return value


def url_with_password(url: str, password: str) -> str:
    """``url`` (a broker or Redis URL) with ``password`` in it: done at run time, never written to the config."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = f"{quote(parts.username or '', safe='')}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


class WorkersConfig(_Strict):
    """Celery workers (``skyvault worker``): the broker, and the lease and sweep timing of the jobs they run."""

    broker_url: str
    # The name of an environment variable holding the broker's password (never the password itself).
    password_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    # A worker renews its job's lease every lease_s / 4; another worker resumes the job once it has expired.
    lease_s: Annotated[float, Field(ge=1, le=86400)] = 120.0
    # How often each worker looks for jobs of its queues whose lease expired (their worker died) and re-queues them.
    sweep_interval_s: Annotated[float, Field(ge=0.1, le=3600)] = 30.0
    # A job still queued this long after it was submitted has its message sent again (a lost or never-sent message).
    requeue_queued_after_s: Annotated[float, Field(ge=1)] = 900.0
    # Redis broker: an unacknowledged message (its worker was killed) is delivered again after this long.
    visibility_timeout_s: Annotated[int, Field(ge=10)] = 3600

    @field_validator("broker_url")
    @classmethod
    def _broker_valid(cls, value: str) -> str:
        return _check_redis_like_url(value, ("redis", "rediss", "amqp", "amqps"))


class RateLimit(_Strict):
    """Calls per second per account for one API family, shared by every process using the same Redis."""

    rate: Annotated[float, Field(gt=0, le=100000)]
    burst: Annotated[int, Field(ge=1, le=1000000)] | None = None

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, int(self.rate))


class RateLimitsConfig(_Strict):
    """Token buckets in Redis, one per (account, API family): the AWS service name (ec2, ebs, rds...)."""

    redis_url: str | None = None  # default: [workers] broker_url when that is a Redis URL
    password_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    per_account: dict[Annotated[str, Field(pattern=_API_FAMILY)], RateLimit] = Field(default_factory=dict)

    @field_validator("redis_url")
    @classmethod
    def _redis_valid(cls, value: str | None) -> str | None:
        return None if value is None else _check_redis_like_url(value, ("redis", "rediss"))


class SkyvaultConfig(_Strict):
    version: Literal[1] = 1
    state_dir: Annotated[str, Field(min_length=1)] = ".skyvault"
    # None: the SQLite file catalog.db in state_dir.
    catalog_url: str | None = None
    accounts: dict[Annotated[str, Field(pattern=_NAME)], AccountConfig] = Field(default_factory=dict)
    libraries: dict[Annotated[str, Field(pattern=_NAME)], LibraryConfig] = Field(default_factory=dict)
    default_library: str | None = None
    plans: dict[Annotated[str, Field(pattern=_NAME)], PlanConfig] = Field(default_factory=dict)
    workers: WorkersConfig | None = None
    rate_limits: RateLimitsConfig | None = None

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
        for name, plan in self.plans.items():
            self._plan_references(name, plan)
        if self.rate_limits is not None and self.rate_limits.redis_url is None:
            broker = self.workers.broker_url if self.workers else ""
            if not broker.startswith(("redis://", "rediss://")):
                raise ValueError("rate_limits.redis_url: needed (the shared buckets live in Redis)")
        return self

    def _plan_references(self, name: str, plan: PlanConfig) -> None:
        where = f"plans.{name}"
        for account in plan.accounts:
            if account not in self.accounts:
                raise ValueError(f"{where}.accounts: no account named {account!r}")
        chosen = plan.accounts or list(self.accounts)
        covered = {r for a in chosen for r in self.accounts[a].regions}
        missing = [r for r in plan.regions if r not in covered]
        if missing:
            raise ValueError(f"{where}.regions: {', '.join(missing)} is not configured for the plan's accounts")
        if plan.copies.account is not None and plan.copies.account not in self.accounts:
            raise ValueError(f"{where}.copies.account: no account named {plan.copies.account!r}")
        if plan.uses_library:
            library = plan.library or self.default_library
            if library is None:
                raise ValueError(f"{where}: modes library/both need a library (plan library or default_library)")
            if library not in self.libraries:
                raise ValueError(f"{where}.library: no library named {library!r}")
        elif plan.library is not None and plan.library not in self.libraries:
            raise ValueError(f"{where}.library: no library named {plan.library!r}")

    def plan(self, name: str) -> PlanConfig:
        from skyvault.errors import NotFoundError

        try:
            return self.plans[name]
        except KeyError:
            known = ", ".join(sorted(self.plans)) or "none configured"
            raise NotFoundError(f"no plan named {name!r} (known: {known})", hint="skyvault plans list") from None

    @property
    def rate_limit_redis_url(self) -> str | None:
        """Where the shared rate limits live: ``rate_limits.redis_url``, else the Redis broker's URL."""
        if self.rate_limits is None:
            return None
        if self.rate_limits.redis_url is not None:
            return self.rate_limits.redis_url
        return self.workers.broker_url if self.workers else None

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

# Backup plans (docs/plans.md): what to protect, how, when, how long. 'skyvault plans show daily' lists what it
# selects; 'skyvault schedule run' runs it on its schedule.
# [plans.daily]
# services = ["ec2", "rds"]
# tags = ["backup=daily"]            # all must match; ids = [...], exclude_ids, exclude_tags too
# schedule = "0 3 * * *"             # cron, in timezone
# timezone = "UTC"
# [plans.daily.retention]
# keep_last = 3
# daily = 7
# weekly = 4
# monthly = 12

# Scale-out (docs/scaleout.md): jobs run on 'skyvault worker' processes fed by a broker, with a shared catalog.
# [workers]
# broker_url = "redis://127.0.0.1:6379/0"
# lease_s = 120
# [rate_limits.per_account.ec2]      # requests/s per account, shared by every worker (in the broker's Redis)
# rate = 20
# burst = 40
"""
