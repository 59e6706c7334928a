"""Discovery fan-out: every selected account x region x service, concurrently, on a bounded thread pool.

First each account's identity is resolved (for tenants this is where the role is assumed), then one task runs
per (account, region, service); S3 runs once per account because its namespace is global. The discovery
functions come from the drivers (``services.registry``: each driver's ``discoverers`` and ``account_discoverers``).
A failure is kept with where it happened and never hides the other results: an account that cannot be reached
is reported once, not once per region and service. ``DiscoveryResult.exit_code`` is the exit code of the worst
failure class.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.config import SkyvaultConfig
from skyvault.errors import (
    AccessDeniedError,
    AuthError,
    AwsError,
    ConfigError,
    NotFoundError,
    SkyvaultError,
    ThrottledError,
)
from skyvault.services import registry
from skyvault.services.base import SERVICES, Resource, Target

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8

# Worst first. An account that cannot be reached hides the most; a policy gap needs a fix; a service error may
# need a look; throttling passes with time. Unexpected errors (bugs) come last: their exit code is 1.
SEVERITY: tuple[type[SkyvaultError], ...] = (
    AuthError,
    AccessDeniedError,
    ConfigError,
    ThrottledError,
    AwsError,
    NotFoundError,
    SkyvaultError,
)


class InternalError(SkyvaultError):
    """A bug met while discovering one account/region/service (kept, logged with its traceback, reported)."""

    exit_code = 1


@dataclass(frozen=True)
class Failure:
    """What failed where: ``region``/``service`` are None when the whole account could not be reached."""

    account: str
    region: str | None
    service: str | None
    error: SkyvaultError

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "account": self.account,
            "region": self.region,
            "service": self.service,
            "error": type(self.error).__name__,
            "exit_code": self.error.exit_code,
            "message": self.error.message,
            "hint": self.error.hint,
        }
        if isinstance(self.error, AccessDeniedError):
            data["actions"] = list(self.error.actions)
        return data


def _rank(error: SkyvaultError) -> int:
    return next(i for i, cls in enumerate(SEVERITY) if isinstance(error, cls))


@dataclass
class DiscoveryResult:
    resources: list[Resource] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    tasks: int = 0
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when everything was discovered, else the exit code of the worst failure's class."""
        if not self.failures:
            return 0
        return min((f.error for f in self.failures), key=_rank).exit_code

    def known_bytes(self) -> int:
        """Total known size, counting each EBS volume once (an instance's size is the sum of its volumes')."""
        volumes = {r.id for r in self.resources if r.service == "ebs"}
        total = 0
        for r in self.resources:
            if r.service != "ec2":
                total += r.size_bytes or 0
                continue
            for volume in r.details.get("volumes", []):
                if volume.get("volume_id") not in volumes:
                    total += volume.get("size_bytes") or 0
        return total

    def totals(self) -> dict[str, dict[str, tuple[int, int]]]:
        """account -> service -> (resource count, known bytes), services in report order."""
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for resource in self.resources:
            count, size = out.setdefault(resource.account, {}).get(resource.service, (0, 0))
            out[resource.account][resource.service] = (count + 1, size + (resource.size_bytes or 0))
        order = {name: i for i, name in enumerate(SERVICES)}
        return {a: dict(sorted(s.items(), key=lambda kv: order[kv[0]])) for a, s in out.items()}


@dataclass(frozen=True)
class Scope:
    """The selected accounts (config order), the regions to look in for each, and the services."""

    regions: dict[str, tuple[str, ...]]
    services: tuple[str, ...]


def _selected(requested: Iterable[str] | None, known: Sequence[str], what: str, hint: str) -> list[str]:
    if not requested:
        return list(known)
    wanted = list(dict.fromkeys(requested))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise NotFoundError(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known) or 'none'})", hint=hint)
    return [name for name in known if name in wanted]


def plan_scope(
    config: SkyvaultConfig,
    *,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    services: Iterable[str] | None = None,
) -> Scope:
    """Validate the filters against the configuration. Regions narrow each account's configured regions."""
    if not config.accounts:
        raise ConfigError("no accounts are configured", hint="skyvault accounts add, or skyvault lab seed")
    chosen_accounts = _selected(accounts, list(config.accounts), "account", "skyvault accounts list")
    chosen_services = _selected(services, SERVICES, "service", "services are: " + ", ".join(SERVICES))
    wanted_regions = set(regions or ())
    per_account: dict[str, tuple[str, ...]] = {}
    for name in chosen_accounts:
        configured = config.accounts[name].regions
        per_account[name] = tuple(r for r in configured if not wanted_regions or r in wanted_regions)
    covered = {r for rs in per_account.values() for r in rs}
    missing = sorted(wanted_regions - covered)
    if missing:
        raise NotFoundError(
            f"region {', '.join(missing)} is not configured for the selected accounts",
            hint="add it to the account's regions in skyvault.toml",
        )
    return Scope(regions={a: rs for a, rs in per_account.items() if rs}, services=tuple(chosen_services))


def _guarded(account: str, region: str | None, service: str | None, run: Callable[[], Any]) -> Any:
    """Run one unit; turn any error into a Failure so that it cannot hide the others."""
    try:
        return run()
    except SkyvaultError as exc:
        return Failure(account, region, service, exc)
    except Exception as exc:
        log.exception("discovery of %s in account %r, %s failed unexpectedly", service, account, region)
        return Failure(account, region, service, InternalError(f"unexpected {type(exc).__name__}: {exc}"))


def discover(
    factory: ClientFactory,
    *,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    services: Iterable[str] | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> DiscoveryResult:
    """Inventory of the selected scope. Raises only for invalid filters; AWS errors land in ``failures``."""
    scope = plan_scope(factory.config, accounts=accounts, regions=regions, services=services)
    regional = registry.discoverers()
    per_account = registry.account_discoverers()
    started = time.monotonic()
    result = DiscoveryResult()
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="discover") as pool:
        identities = {
            pool.submit(_guarded, account, None, None, partial(factory.account_id, account)): account
            for account in scope.regions
        }
        pending: list[Future[Any]] = []
        # As each identity resolves, not in config order: one slow account must not hold back the others' lookups.
        for identity in as_completed(identities):
            account = identities[identity]
            account_id = identity.result()
            if isinstance(account_id, Failure):
                result.failures.append(account_id)
                continue
            account_regions = scope.regions[account]
            for region in account_regions:
                target = Target(account=account, region=region, account_id=account_id)
                pending.extend(
                    pool.submit(_guarded, account, region, service, partial(regional[service], factory, target))
                    for service in scope.services
                    if service in regional
                )
            for service in scope.services:
                if service in per_account:
                    whole = partial(
                        per_account[service], factory, account=account, list_region=account_regions[0],
                        regions=account_regions,
                    )  # fmt: skip
                    pending.append(pool.submit(_guarded, account, None, service, whole))
        for task in pending:
            outcome = task.result()
            if isinstance(outcome, Failure):
                result.failures.append(outcome)
            else:
                result.resources.extend(outcome)
        result.tasks = len(identities) + len(pending)
    result.elapsed_s = time.monotonic() - started
    result.resources.sort(key=_sort_key(scope))
    result.failures.sort(key=lambda f: (list(scope.regions).index(f.account), f.region or "", f.service or ""))
    return result


def _sort_key(scope: Scope) -> Callable[[Resource], tuple[int, str, int, str]]:
    accounts = {name: i for i, name in enumerate(scope.regions)}
    services = {name: i for i, name in enumerate(SERVICES)}
    return lambda r: (accounts[r.account], r.region, services[r.service], r.id)
