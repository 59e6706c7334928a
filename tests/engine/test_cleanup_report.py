"""``engine.cleanup.clean_up`` without AWS: which jobs' intermediates go (lease only), the report's ``--json``
shape, dry runs, and intermediates of a job the catalog does not know."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.kit import DriversForTests
from skyvault.catalog import Catalog
from skyvault.engine.cleanup import clean_up
from skyvault.engine.runner import JobRunner
from skyvault.services.contract import JobEnvironment


def _sweep(env: JobEnvironment, drivers: DriversForTests, *, dry_run: bool) -> dict[str, object]:
    runner = JobRunner(env, drivers=drivers.lookup())
    report = clean_up(runner, accounts=[], older_than=timedelta(0), now=datetime.now(UTC), dry_run=dry_run, sweeps=list)
    return report.to_json()


def test_only_jobs_without_a_live_lease_lose_their_intermediates(
    env: JobEnvironment, catalog: Catalog, drivers: DriversForTests
) -> None:
    live = catalog.start_job("backup-test", {}, owner="busy:1:a", lease_s=3600)  # a week-long step, say
    crashed = catalog.start_job("backup-test", {}, owner="gone:2:b", lease_s=0.001)
    failed = catalog.start_job("backup-test", {})
    catalog.update_job(failed.id, status="failed")
    for job, item in ((live, "live-1"), (crashed, "crashed-1"), (failed, "stuck-1"), (None, "orphan-row-1")):
        catalog.record_intermediate(job.id if job else "job-deleted", "thing", item, "acct", "us-east-1")

    planned = _sweep(env, drivers, dry_run=True)
    assert list(planned) == ["dry_run", "intermediates", "orphans", "failed", "expired"]
    assert sorted(i["id"] for i in planned["intermediates"]) == ["crashed-1", "orphan-row-1", "stuck-1"]  # type: ignore[attr-defined]
    assert drivers.deleted == [] and len(catalog.live_intermediates()) == 4

    done = _sweep(env, drivers, dry_run=False)
    assert sorted(drivers.deleted) == ["crashed-1", "orphan-row-1"]
    assert done["failed"] == [{"job": failed.id, "id": "stuck-1"}]
    assert sorted(i.id for i in catalog.live_intermediates()) == ["live-1", "stuck-1"]
    assert catalog.job(crashed.id).status == "abandoned" and catalog.job(failed.id).status == "failed"
    assert catalog.job(live.id).lease_owner == "busy:1:a"  # the live job's lease is untouched
    assert catalog.job(crashed.id).lease_owner is None  # cleanup held it while cleaning, then let it go
