"""The driver contract: what every service driver declares, in one place, for the engine, the CLI and workers.

A driver is one ``ServiceDriver`` value (``DRIVER`` in ``services/<name>/driver.py``) listed by name in
``services/registry.py``. Nothing registers itself by being imported: the engine, the CLI, workers and
``cleanup`` find a driver through the registry, which imports its module only when its name is used.

What a driver declares:
- ``discoverers``: discovery function per ``discover --service`` name (ec2, ebs, rds...), run per account and
  region; ``account_discoverers``: those run once per account (a global namespace: S3), given its regions;
- ``recovery_point_kinds``: the kinds of recovery point it produces (``backups list --kind``);
- ``jobs``: the body of each job kind it runs (``backup-ec2``, ``restore-ec2``...). A body is a function of
  ``(JobContext, JobSpec, JobEnvironment)``: it runs named, idempotent steps over the context (a resumed job
  gets finished steps' recorded results back) and returns the JSON-able result;
- ``cleaners``: how to delete each intermediate type its jobs record (the keys ARE its intermediate types: a job
  context refuses to record a type no driver cleans);
- ``expirers``: how to expire each of its recovery-point kinds (delete native snapshots it owns);
- ``restore_options``: which ``skyvault restore`` options apply to its kinds, by parameter name (``to_file``,
  ``instance_type``...); the CLI refuses the others with a usage error naming the kinds they apply to;
- ``prepare_resume``: what to forget before a resumed job runs again (default: nothing). The runner calls it
  before it deletes the job's leftover intermediates and reloads its steps, so it may drop steps
  (``catalog.reset_steps``) or release intermediates that already belong to a recovery point;
- ``orphan_sweep``: how ``skyvault cleanup`` finds and removes what crashed jobs of its kinds left in AWS
  without a catalog record to go by (EC2: resources tagged ``skyvault:managed``), or None;
- ``plan_backups``: per discover service, how a backup plan backs one resource up (``PlanBackup``);
- ``permission_rows`` and ``docs``: its ``skyvault policy`` rows and its documentation page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.catalog import Catalog, IntermediateResource, Job, RecoveryPoint
    from skyvault.jobs.context import JobContext, ProgressCallback
    from skyvault.jobs.spec import JobSpec
    from skyvault.library.repository import Repository
    from skyvault.services.base import Resource, Target


class LibraryOpener(Protocol):
    """Opens a configured library by name (``None``: the default), unlocked; the caller locks and closes it.

    Supplied by the process that runs the job (the CLI asks for the passphrase; a worker reads its own secret).
    """

    def __call__(self, name: str | None, /) -> Repository: ...


class JobEnvironment:
    """What the process running a job supplies: everything a ``JobSpec`` must not carry (clients, secrets).

    ``factory`` may be given as a function that makes it: it is then called the first time a job asks for it, so
    a job that calls no AWS API (a disk image into a local library) never imports boto3 (~0.15 s per command).
    """

    def __init__(
        self,
        catalog: Catalog,
        factory: ClientFactory | Callable[[], ClientFactory],
        open_library: LibraryOpener,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.catalog = catalog
        self._factory = factory
        self._factory_lock = threading.Lock()  # the volumes of one job may ask at once: one factory for all
        self.open_library = open_library
        self.progress = progress

    @property
    def factory(self) -> ClientFactory:
        with self._factory_lock:
            if callable(self._factory):
                self._factory = self._factory()
            return self._factory


JobBody = Callable[["JobContext", "JobSpec", JobEnvironment], Any]
Cleaner = Callable[["ClientFactory", "IntermediateResource"], None]
"""Deletes one intermediate. Raises ``NotFoundError`` when it is already gone (or was never created)."""
Expirer = Callable[["ClientFactory", "RecoveryPoint"], int]
"""Deletes what a recovery point owns in AWS (only resources carrying skyvault's tag); returns how many."""
Discoverer = Callable[["ClientFactory", "Target"], "list[Resource]"]


class AccountDiscoverer(Protocol):
    """Discovers a global namespace (S3) once per account: resources living in one of ``regions``."""

    def __call__(
        self, factory: ClientFactory, *, account: str, list_region: str, regions: Collection[str]
    ) -> list[Resource]: ...


ResumePreparer = Callable[["Catalog", "Job"], None]


@dataclass(frozen=True)
class Orphan:
    """A resource a crashed job left in AWS, found by ``skyvault cleanup``'s sweep (with why it may go)."""

    account: str
    region: str
    resource_type: str  # snapshot | image | volume | instance ...
    resource_id: str
    job_id: str | None
    role: str | None
    created: datetime | None
    reason: str
    raw: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "type": self.resource_type,
            "id": self.resource_id,
            "job": self.job_id,
            "role": self.role,
            "created": self.created.isoformat() if self.created else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SweepScope:
    older_than: timedelta  # resources younger than this are left alone (cleanup --older-than)
    now: datetime
    live_jobs: frozenset[str]  # IDs of jobs whose lease is live at ``now``: their resources must stay


OrphanFinder = Callable[["ClientFactory", "Catalog", Sequence[tuple[str, str]], SweepScope], "list[Orphan]"]
"""Orphans in (account, region) targets, in the order they must be removed (instances before AMIs...)."""
OrphanRemover = Callable[["ClientFactory", Orphan], None]


@dataclass(frozen=True)
class OrphanSweep:
    find: OrphanFinder
    remove: OrphanRemover


@dataclass(frozen=True)
class PlanTarget:
    """One resource a plan backs up, and how (``PlanConfig``'s mode, library and extra copies)."""

    service: str  # the discover service name, which is also the recovery-point kind
    resource_id: str
    account: str
    region: str
    mode: str  # native | library | both
    library: str | None = None
    copy_to_region: str | None = None
    copy_to_account: str | None = None


@dataclass(frozen=True)
class PlanBackup:
    """How plans back up one service: the modes the driver supports, whether it takes extra copies, and the
    ``JobSpec`` of one resource's backup (one job per resource, so each is resumable on its own)."""

    modes: tuple[str, ...]
    copies: bool
    spec: Callable[[PlanTarget], JobSpec]


def _nothing_to_prepare(_catalog: Catalog, _job: Job) -> None:
    return None


@dataclass(frozen=True)
class ServiceDriver:
    name: str
    docs: str
    permission_rows: tuple[str, ...]
    discoverers: Mapping[str, Discoverer] = field(default_factory=dict)
    account_discoverers: Mapping[str, AccountDiscoverer] = field(default_factory=dict)
    recovery_point_kinds: tuple[str, ...] = ()
    jobs: Mapping[str, JobBody] = field(default_factory=dict)
    cleaners: Mapping[str, Cleaner] = field(default_factory=dict)
    expirers: Mapping[str, Expirer] = field(default_factory=dict)
    restore_options: frozenset[str] = frozenset()
    prepare_resume: ResumePreparer = _nothing_to_prepare
    orphan_sweep: OrphanSweep | None = None
    plan_backups: Mapping[str, PlanBackup] = field(default_factory=dict)  # by discover service name
