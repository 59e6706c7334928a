"""Every service driver, listed explicitly: the one place the engine, the CLI, workers and ``cleanup`` look.

Like cloud-custodian's ``resource_map``: names map to ``"module:attribute"`` strings, and a driver's module is
imported only when its name is used: importing the registry imports no driver. Adding a driver is one package
under ``services/`` and one line in ``DRIVERS`` (plus its kinds in ``POINT_KINDS``, the table that says which
driver owns a recovery-point kind, and so a job kind, without importing the others). Intermediate types are the
keys of the drivers' ``cleaners`` (``cleaner_for`` looks through every driver). ``tests/services/test_registry.py``
checks the tables against the drivers' own declarations, so a table cannot drift from the code.
"""

from __future__ import annotations

import importlib
from functools import cache

from skyvault.errors import NotFoundError, SkyvaultError
from skyvault.services.contract import AccountDiscoverer, Cleaner, Discoverer, Expirer, JobBody, ServiceDriver

DRIVERS: dict[str, str] = {
    "ec2": "skyvault.services.ec2.driver:DRIVER",
    "rds": "skyvault.services.rds.driver:DRIVER",  # RDS instances, Aurora and DocumentDB clusters
    "redshift": "skyvault.services.redshift.driver:DRIVER",
    "dynamodb": "skyvault.services.dynamodb.driver:DRIVER",
    "s3": "skyvault.services.s3.driver:DRIVER",
    "image": "skyvault.services.image.driver:DRIVER",
}

# recovery-point kind -> driver name
POINT_KINDS: dict[str, str] = {
    "ec2": "ec2",
    "rds": "rds",
    "aurora": "rds",
    "docdb": "rds",
    "redshift": "redshift",
    "image": "image",
    "s3": "s3",  # S3 buckets, prefixes and S3 on Outposts access points, as library trees
    "dynamodb": "dynamodb",
}


@cache
def driver(name: str) -> ServiceDriver:
    """The driver called ``name`` (imports its module on first use)."""
    target = DRIVERS.get(name)
    if target is None:
        raise NotFoundError(f"no driver {name!r} (known: {', '.join(sorted(DRIVERS))})")
    module_name, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(found, ServiceDriver) or found.name != name:
        raise SkyvaultError(f"registry entry {name!r} -> {target} is not that driver (a skyvault bug)")
    return found


def all_drivers() -> list[ServiceDriver]:
    return [driver(name) for name in DRIVERS]


def driver_for_kind(kind: str) -> ServiceDriver:
    """The driver of a recovery-point kind."""
    name = POINT_KINDS.get(kind)
    if name is None:
        raise NotFoundError(f"no driver restores or expires recovery points of kind {kind!r}")
    return driver(name)


def job_body(job_kind: str) -> JobBody:
    """The body of a job kind (``backup-ec2`` -> the ec2 driver's backup body)."""
    _, _, subject = job_kind.partition("-")
    owner = driver_for_kind(subject) if subject in POINT_KINDS else None
    body = owner.jobs.get(job_kind) if owner else None
    if body is None:
        raise NotFoundError(f"no driver runs jobs of kind {job_kind!r}")
    return body


def cleaner_for(resource_type: str) -> Cleaner | None:
    for candidate in all_drivers():
        if resource_type in candidate.cleaners:
            return candidate.cleaners[resource_type]
    return None


def expirer_for(kind: str) -> Expirer | None:
    return driver_for_kind(kind).expirers.get(kind) if kind in POINT_KINDS else None


def discoverers() -> dict[str, Discoverer]:
    """Every per-region discoverer by ``discover --service`` name (imports every driver)."""
    return {service: fn for d in all_drivers() for service, fn in d.discoverers.items()}


def account_discoverers() -> dict[str, AccountDiscoverer]:
    """Every once-per-account discoverer (global namespaces: S3) by service name."""
    return {service: fn for d in all_drivers() for service, fn in d.account_discoverers.items()}


def restore_option_owners(option: str) -> list[str]:
    """What a ``skyvault restore`` option applies to: recovery-point kinds, or the driver's name for a driver
    whose restores are not built yet (its option exists on the command already)."""
    owners: list[str] = []
    for candidate in all_drivers():
        if option in candidate.restore_options:
            owners.extend(candidate.recovery_point_kinds or (candidate.name,))
    return owners
