"""Client factory: credentials per account, endpoint, retries, call guard, and error translation.

Every AWS client in skyvault comes from ``ClientFactory.client(account, region, service)``. The result is an
``AwsClient``: the boto3 client's methods with botocore errors translated into ``skyvault.errors`` at this one
boundary. Only the endpoint differs between the lab and real AWS (``endpoint_url`` per account, or
``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from skyvault.aws.guard import CallGuard
from skyvault.aws.translate import translate_botocore_error, translate_client_error
from skyvault.config import AccountConfig, AuthMethod, SkyvaultConfig
from skyvault.errors import AuthError, SkyvaultError
from skyvault.permissions.registry import Feature, declare

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

    Use it like the boto3 client (``client.describe_instances(...)``); ``paginate`` iterates pages and
    ``wait`` runs a waiter, both translated too. ``raw`` is the boto3 client itself.
    """

    def __init__(self, raw: Any, *, account: str, region: str, service: str) -> None:
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

    def __getattr__(self, method: str) -> Callable[..., Any]:
        target = getattr(self.raw, method)
        if not callable(target) or method.startswith("_") or method in ("get_paginator", "get_waiter"):
            return target  # type: ignore[no-any-return]
        operation = self._operation_name(method)

        def call(**params: Any) -> Any:
            try:
                return target(**params)
            except (ClientError, BotoCoreError) as exc:
                raise self._translate(exc, operation, params) from exc

        return call

    def paginate(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        operation = self._operation_name(method)
        try:
            yield from self.raw.get_paginator(method).paginate(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, operation, params) from exc

    def wait(self, waiter: str, *, delay: int = 5, max_attempts: int = 120, **params: Any) -> None:
        runner = self.raw.get_waiter(waiter)
        operation = str(runner.config.operation)
        try:
            runner.wait(WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}, **params)
        except WaiterError as exc:
            # A waiter stops on an AWS error (e.g. access denied to its Describe* call): translate that error,
            # so the user learns which action is missing rather than "gave up waiting".
            response = exc.last_response if isinstance(exc.last_response, dict) else {}
            if "Error" in response:
                raise self._translate(ClientError(response, operation), operation, params) from exc
            raise self._translate(exc, operation, params) from exc
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, operation, params) from exc


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
        self._environ = environ if environ is not None else dict(os.environ)
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], AwsClient] = {}
        self._account_ids: dict[str, str] = {}
        self._lock = threading.RLock()

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

        def fetch() -> dict[str, str]:
            sts = self.client(source, self.config.account(source).regions[0], "sts")
            params: dict[str, Any] = {
                "RoleArn": account.role_arn,
                "RoleSessionName": account.session_name,
                "DurationSeconds": account.session_duration_s,
            }
            if account.external_id:
                params["ExternalId"] = account.external_id
            try:
                creds = sts.assume_role(**params)["Credentials"]
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
        core._credentials = credentials  # the documented way to plug refreshable credentials into a session
        return boto3.Session(botocore_session=core, region_name=account.regions[0])

    # -- clients --------------------------------------------------------------------------------------
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
            try:
                raw = session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url(account), config=self._botocore_config
                )
            except BotoCoreError as exc:
                raise translate_botocore_error(
                    exc, service=service, operation="(create client)", account=account
                ) from exc
            raw.meta.events.register("before-call.*.*", self.guard)
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
