"""Client factory: credentials per account, endpoint, retries, call guard, and error translation.

Every AWS client in skyvault comes from ``ClientFactory.client(account, region, service)``. The result is an
``AwsClient``: the boto3 client's methods with botocore errors translated into ``skyvault.errors`` at this one
boundary. Only the endpoint differs between the lab and real AWS (``endpoint_url`` per account, or
``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from skyvault.aws.guard import CallGuard
from skyvault.aws.session_duration import SessionLength
from skyvault.aws.timestamps import install as install_timestamp_parser
from skyvault.aws.translate import translate_botocore_error, translate_client_error
from skyvault.config import AccountConfig, AuthMethod, SkyvaultConfig, url_with_password
from skyvault.errors import AuthError, ConfigError, SkyvaultError
from skyvault.permissions.registry import Feature, declare

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from types_boto3_docdb.client import DocDBClient as _DocDBClient
    from types_boto3_dynamodb.client import DynamoDBClient as _DynamoDBClient
    from types_boto3_ebs.client import EBSClient as _EBSClient
    from types_boto3_ec2.client import EC2Client as _EC2Client
    from types_boto3_iam.client import IAMClient as _IAMClient
    from types_boto3_kms.client import KMSClient as _KMSClient
    from types_boto3_rds.client import RDSClient as _RDSClient
    from types_boto3_redshift.client import RedshiftClient as _RedshiftClient
    from types_boto3_s3.client import S3Client as _S3Client
    from types_boto3_s3control.client import S3ControlClient as _S3ControlClient
    from types_boto3_s3outposts.client import S3OutpostsClient as _S3OutpostsClient
    from types_boto3_ssm.client import SSMClient as _SSMClient
    from types_boto3_sts.client import STSClient as _STSClient

    from skyvault.aws.ratelimit import RedisRateLimiter

ASSUME_ROLE = declare(
    policy="admin",
    service="sts",
    operation="AssumeRole",
    feature=Feature.AUTH,
    step="assume tenant role",
    purpose="Reach a tenant account from the admin account through its skyvault role, with the external ID.",
    resources=("arn:${Partition}:iam::*:role/skyvault-*",),
)
GET_CALLER_IDENTITY = declare(
    policy="admin",
    service="sts",
    operation="GetCallerIdentity",
    feature=Feature.AUTH,
    step="identify account",
    purpose="Learn the account ID behind the credentials (needs no permission; always allowed).",
)

DEFAULT_MAX_ATTEMPTS = 8
# Connections a service's client keeps open. The EBS direct block paths keep ~100 requests in flight per volume
# (services/ec2/ebs_direct.py DEFAULT_IN_FLIGHT), up to 4 volumes at once: a smaller pool would open and discard a
# connection per request beyond it (a TCP and TLS handshake each time).
POOL_BY_SERVICE = {"ebs": 512, "s3": 256}  # S3: up to 256 requests in flight (backup s3 --workers)
# botocore attempts per request, where fewer than DEFAULT_MAX_ATTEMPTS serve better: EBS direct block requests are
# paced by skyvault's adaptive rates (ebs_direct.BlockFlow), which retry a throttled block at the reduced rate;
# botocore's own backoff (up to 20 s a retry) would hold a worker idle while the flow's rate already dropped.
ATTEMPTS_BY_SERVICE = {"ebs": 3}


def _retry_config(max_attempts: int, pool: int) -> Config:
    # botocore's "standard" retry mode: exponential backoff with full jitter on throttling and transient
    # errors, plus a retry quota: the field's own implementation, rather than one of ours.
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=60,
    )


class AwsClient:
    """A boto3 client whose calls are guarded and whose errors are skyvault errors.

    Use it like the boto3 client (``client.describe_instances(...)``, ``client.get_paginator(...).paginate(...)``,
    ``client.get_waiter(...).wait(...)``): every method, page and waiter is forwarded with botocore errors
    translated. ``raw`` is the boto3 client itself. ``ClientFactory.client`` types it as the boto3 stubs' client
    of its service (``EC2Client`` below and its siblings), so mypy checks every request's parameters.
    """

    def __init__(self, raw: BaseClient, *, account: str, region: str, service: str) -> None:
        self.raw = raw
        self.account = account
        self.region = region
        self.service = service

    def _translate(self, exc: Exception, operation: str, params: dict[str, Any]) -> SkyvaultError:
        if isinstance(exc, ClientError):
            return translate_client_error(
                exc, service=self.service, operation=operation, params=params, account=self.account, region=self.region
            )
        assert isinstance(exc, BotoCoreError)
        return translate_botocore_error(exc, service=self.service, operation=operation, account=self.account)

    def _operation_name(self, method: str) -> str:
        names: dict[str, str] = self.raw.meta.method_to_api_mapping
        return names.get(method, method)

    def _guarded(self, target: Callable[..., Any], operation: str) -> Callable[..., Any]:
        def call(*args: Any, **params: Any) -> Any:
            try:
                return target(*args, **params)
            except (ClientError, BotoCoreError) as exc:
                raise self._translate(exc, operation, params) from exc

        return call

    if not TYPE_CHECKING:
        # Hidden from mypy on purpose: to mypy the client is its service's stub client (with its typed methods),
        # and an unknown method must be an error there, not ``Any``.
        def __getattr__(self, method: str) -> Any:
            if method == "get_paginator":
                return lambda name: _GuardedPaginator(self, name)
            if method == "get_waiter":
                return lambda name: _GuardedWaiter(self, name)
            target = getattr(self.raw, method)
            if not callable(target) or method.startswith("_"):
                return target
            guarded = self._guarded(target, self._operation_name(method))
            # Kept: the next call finds it without __getattr__ (block paths call one method thousands of times).
            self.__dict__[method] = guarded
            return guarded


class _GuardedPaginator:
    """A botocore paginator whose pages are fetched with errors translated."""

    def __init__(self, client: AwsClient, method: str) -> None:
        self._client = client
        self._raw = client.raw.get_paginator(method)
        self._operation = client._operation_name(method)

    def paginate(self, **params: Any) -> _GuardedPages:
        return _GuardedPages(self._client, self._raw.paginate(**params), self._operation, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)  # result_keys: data, no AWS call


class _GuardedPages:
    """botocore's PageIterator, translated: iterating, ``search`` and ``build_full_result`` call AWS lazily."""

    def __init__(self, client: AwsClient, pages: Any, operation: str, params: dict[str, Any]) -> None:
        self._client = client
        self._pages = pages
        self._operation = operation
        self._params = params

    def _translated(self, items: Iterable[Any]) -> Iterator[Any]:
        try:
            yield from items
        except (ClientError, BotoCoreError) as exc:
            raise self._client._translate(exc, self._operation, self._params) from exc

    def __iter__(self) -> Iterator[Any]:
        return self._translated(self._pages)

    def search(self, expression: str) -> Iterator[Any]:
        return self._translated(self._pages.search(expression))

    def result_key_iters(self) -> list[Iterator[Any]]:
        return [self._translated(keys) for keys in self._pages.result_key_iters()]

    def build_full_result(self) -> dict[str, Any]:
        try:
            return dict(self._pages.build_full_result())
        except (ClientError, BotoCoreError) as exc:
            raise self._client._translate(exc, self._operation, self._params) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pages, name)  # resume_token, result_keys, non_aggregate_part: data, no AWS call


class _GuardedWaiter:
    """A botocore waiter whose stop on an AWS error names that error (e.g. the action that was denied)."""

    def __init__(self, client: AwsClient, name: str) -> None:
        self._client = client
        # Any: botocore's Waiter.config is a SingleWaiterConfig (with .operation); the stubs say dict.
        self._raw: Any = client.raw.get_waiter(name)

    def wait(self, **params: Any) -> None:
        operation = str(self._raw.config.operation)
        request = {k: v for k, v in params.items() if k != "WaiterConfig"}
        try:
            self._raw.wait(**params)
        except WaiterError as exc:
            # A waiter stops on an AWS error (e.g. access denied to its Describe* call): translate that error,
            # so the user learns which action is missing rather than "gave up waiting".
            response = exc.last_response if isinstance(exc.last_response, dict) else {}
            if "Error" in response:
                raise self._client._translate(ClientError(response, operation), operation, request) from exc
            raise self._client._translate(exc, operation, request) from exc
        except (ClientError, BotoCoreError) as exc:
            raise self._client._translate(exc, operation, request) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)  # name, config: data, no AWS call


if TYPE_CHECKING:
    # What ``ClientFactory.client`` returns, as mypy sees it: the boto3 stubs' client of the service (every
    # operation with its typed parameters, paginators and waiters) plus AwsClient's attributes. At run time it is
    # an AwsClient, which forwards each of those methods to the boto3 client with errors translated, so the
    # claim holds; these classes exist only for the type checker (no run-time dependency on the stubs).
    class EC2Client(_EC2Client, AwsClient): ...

    class EBSClient(_EBSClient, AwsClient): ...

    class RDSClient(_RDSClient, AwsClient): ...

    class DocDBClient(_DocDBClient, AwsClient): ...

    class RedshiftClient(_RedshiftClient, AwsClient): ...

    class DynamoDBClient(_DynamoDBClient, AwsClient): ...

    class S3Client(_S3Client, AwsClient): ...

    class S3ControlClient(_S3ControlClient, AwsClient): ...

    class S3OutpostsClient(_S3OutpostsClient, AwsClient): ...

    class STSClient(_STSClient, AwsClient): ...

    class IAMClient(_IAMClient, AwsClient): ...

    class KMSClient(_KMSClient, AwsClient): ...

    class SSMClient(_SSMClient, AwsClient): ...


class ClientFactory:
    """Creates guarded clients for the configured accounts; caches sessions and clients (thread-safe)."""

    def __init__(
        self,
        config: SkyvaultConfig,
        *,
        base_dir: Path | None = None,
        strict_guard: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_pool_connections: int = 32,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        self.guard = CallGuard(strict=strict_guard)
        self._botocore_config = _retry_config(max_attempts, max_pool_connections)
        self._max_attempts = max_attempts
        self._environ = environ if environ is not None else dict(os.environ)
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], AwsClient] = {}
        self._account_ids: dict[str, str] = {}
        self._lock = threading.RLock()
        self.rate_limiter = self._rate_limiter(config)

    def _rate_limiter(self, config: SkyvaultConfig) -> RedisRateLimiter | None:
        """The shared token buckets of ``[rate_limits]`` (skyvault.aws.ratelimit), or None."""
        url = config.rate_limit_redis_url
        if config.rate_limits is None or url is None:
            return None
        # The broker's password when the buckets share its Redis; else the one rate_limits names.
        password_env = config.rate_limits.password_env
        if password_env is None and config.rate_limits.redis_url is None and config.workers is not None:
            password_env = config.workers.password_env
        if password_env is not None:
            password = self._environ.get(password_env)
            if not password:
                raise ConfigError(f"rate_limits: environment variable {password_env} (the Redis password) is not set")
            url = url_with_password(url, password)
        from skyvault.aws.ratelimit import RedisRateLimiter  # redis-py: only when limits are configured

        return RedisRateLimiter(url, config.rate_limits.per_account)

    def rate_limit_account(self, account: str) -> str:
        """The bucket's account key: the 12-digit ID when the config knows it (two names of one account share
        it), else the account's name."""
        configured = self.config.account(account)
        return configured.account_id or configured.role_account_id or account

    # -- sessions -------------------------------------------------------------------------------------
    def endpoint_url(self, account: str) -> str | None:
        return self.config.account(account).endpoint_url or self._environ.get("AWS_ENDPOINT_URL") or None

    def session(self, account: str) -> boto3.Session:
        with self._lock:
            if account not in self._sessions:
                self._sessions[account] = self._make_session(account, self.config.account(account))
            return self._sessions[account]

    def _make_session(self, name: str, account: AccountConfig) -> boto3.Session:
        region = account.regions[0]
        if account.auth is AuthMethod.ASSUME_ROLE:
            return self._assume_role_session(name, account)
        core = botocore.session.Session(profile=account.profile) if account.profile else botocore.session.Session()
        install_timestamp_parser(core)  # every LastModified of a listing: ~2 µs instead of dateutil's ~40
        if account.credentials_file:
            path = Path(account.credentials_file)
            core.set_config_variable("credentials_file", str(path if path.is_absolute() else self.base_dir / path))
        if account.auth is AuthMethod.KEYS and account.access_key_id_env and account.secret_access_key_env:
            missing = [
                var for var in (account.access_key_id_env, account.secret_access_key_env) if not self._environ.get(var)
            ]
            if missing:
                raise AuthError(
                    f"account {name!r}: environment variable {' and '.join(missing)} is not set",
                    hint="auth 'keys' reads the key pair from the environment at run time",
                )
            token = self._environ.get(account.session_token_env) if account.session_token_env else None
            core.set_credentials(
                self._environ[account.access_key_id_env], self._environ[account.secret_access_key_env], token
            )
        try:
            return boto3.Session(botocore_session=core, region_name=region)
        except BotoCoreError as exc:
            raise AuthError(f"account {name!r}: {exc}") from exc

    def _assume_role_session(self, name: str, account: AccountConfig) -> boto3.Session:
        assert account.source_account and account.role_arn
        source = account.source_account
        length = SessionLength(name, account.role_arn, account.session_duration_s)

        def fetch() -> dict[str, str]:
            sts = self.client(source, self.config.account(source).regions[0], "sts")
            params: dict[str, Any] = {"RoleArn": account.role_arn, "RoleSessionName": account.session_name}
            if account.external_id:
                params["ExternalId"] = account.external_id
            try:
                creds = length.assume(lambda seconds: sts.assume_role(**params, DurationSeconds=seconds))["Credentials"]
            except SkyvaultError as exc:
                raise AuthError(
                    f"account {name!r}: cannot assume {account.role_arn} from account {source!r}: {exc.message}",
                    hint="check the role's trust policy and external ID ('skyvault policy trust')",
                ) from exc
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        # RefreshableCredentials re-assumes the role shortly before expiry: jobs outlive one session.
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        core = botocore.session.Session()
        install_timestamp_parser(core)
        # The documented way to plug refreshable credentials into a session; the stubs do not declare it.
        core._credentials = credentials  # type: ignore[attr-defined]
        return boto3.Session(botocore_session=core, region_name=account.regions[0])

    # -- clients --------------------------------------------------------------------------------------
    # The overloads type each service's client as its boto3 stub (see EC2Client above: sound because AwsClient
    # forwards every method with translation); another service name gets an AwsClient with no typed methods.
    @overload
    def client(self, account: str, region: str, service: Literal["ec2"]) -> EC2Client: ...
    @overload
    def client(self, account: str, region: str, service: Literal["ebs"]) -> EBSClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["rds"]) -> RDSClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["docdb"]) -> DocDBClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["redshift"]) -> RedshiftClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, account: str, region: str, service: Literal["s3control"]) -> S3ControlClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["s3outposts"]) -> S3OutpostsClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["sts"]) -> STSClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["iam"]) -> IAMClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["kms"]) -> KMSClient: ...
    @overload
    def client(self, account: str, region: str, service: Literal["ssm"]) -> SSMClient: ...
    @overload  # a database family's client (services/rds: DocumentDB speaks RDS's cluster API)
    def client(self, account: str, region: str, service: Literal["rds", "docdb"]) -> RDSClient | DocDBClient: ...
    @overload
    def client(self, account: str, region: str, service: str) -> AwsClient: ...
    def client(self, account: str, region: str, service: str) -> AwsClient:
        key = (account, region, service)
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None:
                return cached
        session = self.session(account)
        # boto3 sessions are not thread-safe: two clients created from one session at once can fail with
        # KeyError 'credential_provider' (boto/boto3#1592). Create under the lock; the clients are thread-safe.
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None:
                return cached
            config = self._botocore_config
            if service in POOL_BY_SERVICE:
                config = config.merge(Config(max_pool_connections=POOL_BY_SERVICE[service]))
            if service in ATTEMPTS_BY_SERVICE:
                attempts = min(self._max_attempts, ATTEMPTS_BY_SERVICE[service])
                config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": attempts}))
            try:
                raw = session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url(account), config=config
                )
            except BotoCoreError as exc:
                raise translate_botocore_error(
                    exc, service=service, operation="(create client)", account=account
                ) from exc
            raw.meta.events.register("before-call.*.*", self.guard)
            if self.rate_limiter is not None:
                limit = self.rate_limiter.hook(self.rate_limit_account(account), service)
                raw.meta.events.register("before-send", limit)
            wrapped = AwsClient(raw, account=account, region=region, service=service)
            self._clients[key] = wrapped
            return wrapped

    def account_id(self, account: str) -> str:
        """The 12-digit ID behind an account's credentials (asked once, then cached)."""
        with self._lock:
            if account in self._account_ids:
                return self._account_ids[account]
        configured = self.config.account(account)
        sts = self.client(account, configured.regions[0], "sts")
        account_id = str(sts.get_caller_identity()["Account"])
        if configured.account_id and configured.account_id != account_id:
            raise AuthError(
                f"account {account!r}: credentials belong to {account_id}, config says {configured.account_id}"
            )
        with self._lock:
            self._account_ids[account] = account_id
        return account_id
