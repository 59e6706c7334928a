"""Job leases: one conditional UPDATE decides who runs a job; clocks are explicit ``now=`` values."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from skyvault.catalog import Catalog
from skyvault.errors import NotFoundError

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_two_contenders_one_winner(catalog: Catalog) -> None:
    job = catalog.start_job("backup-ec2", {})
    assert catalog.job(job.id).lease_owner is None and not job.lease_live(T0)
    assert catalog.acquire_lease(job.id, "worker-a", 30, now=T0)
    assert not catalog.acquire_lease(job.id, "worker-b", 30, now=T0 + 10 * S)  # a's lease is live
    held = catalog.job(job.id)
    assert held.lease_owner == "worker-a" and held.lease_expires_at == T0 + 30 * S and held.heartbeat_at == T0
    assert held.lease_live(T0 + 29 * S) and not held.lease_live(T0 + 30 * S)
    assert catalog.acquire_lease(job.id, "worker-a", 30, now=T0 + 10 * S)  # the owner may take it again


def test_renew_moves_the_expiry_only_for_the_owner(catalog: Catalog) -> None:
    job = catalog.start_job("backup-ec2", {}, owner="worker-a", lease_s=30)
    started = catalog.job(job.id)
    assert started.lease_owner == "worker-a" and started.lease_expires_at is not None
    assert started.heartbeat_at == started.created_at and started.lease_expires_at == started.created_at + 30 * S
    now = started.created_at
    assert not catalog.renew_lease(job.id, "worker-b", 30, now=now + 20 * S)
    assert catalog.renew_lease(job.id, "worker-a", 30, now=now + 20 * S)
    renewed = catalog.job(job.id)
    assert renewed.lease_expires_at == now + 50 * S and renewed.heartbeat_at == now + 20 * S
    assert not catalog.acquire_lease(job.id, "worker-b", 30, now=now + 40 * S)  # the heartbeat kept it live
    assert catalog.acquire_lease(job.id, "worker-b", 30, now=now + 50 * S)  # expired: b takes over
    assert not catalog.renew_lease(job.id, "worker-a", 30, now=now + 51 * S)  # a learns it lost the job
    assert catalog.job(job.id).lease_owner == "worker-b"


def test_an_expired_lease_cannot_be_renewed(catalog: Catalog) -> None:
    job = catalog.start_job("k", {})
    assert catalog.acquire_lease(job.id, "worker-a", 30, now=T0)
    assert not catalog.renew_lease(job.id, "worker-a", 30, now=T0 + 31 * S)
    assert catalog.acquire_lease(job.id, "worker-a", 30, now=T0 + 31 * S)  # taking it afresh is explicit


def test_release_frees_it_for_others_only_by_its_owner(catalog: Catalog) -> None:
    job = catalog.start_job("k", {})
    assert catalog.acquire_lease(job.id, "worker-a", 30, now=T0)
    catalog.release_lease(job.id, "worker-b")
    assert catalog.job(job.id).lease_owner == "worker-a"
    catalog.release_lease(job.id, "worker-a")
    released = catalog.job(job.id)
    assert released.lease_owner is None and released.lease_expires_at is None and not released.lease_live(T0)
    assert catalog.acquire_lease(job.id, "worker-b", 30, now=T0 + S)


def test_leases_of_unknown_jobs_are_refused(catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="job-nope"):  # nobody can hold the lease of a job that is not there
        catalog.acquire_lease("job-nope", "worker-a", 30, now=T0)
    assert not catalog.renew_lease("job-nope", "worker-a", 30, now=T0)
    with pytest.raises(ValueError, match="lease_s"):
        catalog.start_job("k", {}, owner="worker-a")


def test_contenders_through_separate_catalogs(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Two processes share only the database: each opens its own Catalog (own engine and connections).
    state = tmp_path_factory.mktemp("shared")
    first, second = Catalog.open(state), Catalog.open(state)
    job = first.start_job("k", {})
    wins = [first.acquire_lease(job.id, "worker-a", 30, now=T0), second.acquire_lease(job.id, "worker-b", 30, now=T0)]
    assert wins == [True, False]
    assert second.job(job.id).lease_owner == "worker-a"


def test_stale_intermediates(catalog: Catalog) -> None:
    live = catalog.start_job("k", {})
    assert catalog.acquire_lease(live.id, "worker-a", 60, now=T0)
    expired = catalog.start_job("k", {})
    assert catalog.acquire_lease(expired.id, "worker-b", 10, now=T0)
    unleased = catalog.start_job("k", {})
    catalog.record_intermediate(live.id, "ebs-snapshot", "snap-live", "admin", "us-east-1")
    catalog.record_intermediate(expired.id, "ebs-snapshot", "snap-expired", "admin", "us-east-1")
    catalog.record_intermediate(unleased.id, "ebs-volume", "vol-unleased", "admin", "us-east-1")
    catalog.record_intermediate("job-gone", "ebs-snapshot", "snap-orphan", "admin", "us-east-1")
    catalog.record_intermediate(expired.id, "ebs-snapshot", "snap-deleted", "admin", "us-east-1")
    catalog.mark_deleted("snap-deleted")
    stale = {i.id for i in catalog.stale_intermediates(T0 + 30 * S)}
    assert stale == {"snap-expired", "vol-unleased", "snap-orphan"}
    assert {i.id for i in catalog.stale_intermediates(T0 + 60 * S)} == stale | {"snap-live"}
    assert {i.id for i in catalog.stale_intermediates(T0 + 5 * S)} == {"vol-unleased", "snap-orphan"}


def test_many_contenders_at_once_one_winner(tmp_path_factory: pytest.TempPathFactory) -> None:
    state = tmp_path_factory.mktemp("race")
    job = Catalog.open(state).start_job("k", {})
    catalogs = [Catalog.open(state) for _ in range(6)]
    start = threading.Barrier(len(catalogs))

    def contend(index: int) -> bool:
        start.wait()  # all contenders issue their UPDATE together
        return catalogs[index].acquire_lease(job.id, f"worker-{index}", 30, now=T0)

    with ThreadPoolExecutor(len(catalogs)) as pool:
        wins = list(pool.map(contend, range(len(catalogs))))
    assert wins.count(True) == 1
    assert Catalog.open(state).job(job.id).lease_owner == f"worker-{wins.index(True)}"
