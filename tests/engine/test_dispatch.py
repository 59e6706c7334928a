"""Queued jobs: idempotent submission by run key, one claim per job, and the in-process dispatcher."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.kit import DriversForTests
from skyvault.catalog.store import Catalog
from skyvault.engine.dispatch import InProcessDispatcher
from skyvault.engine.runner import JobRunner
from skyvault.jobs import JobContext, JobSpec
from skyvault.services.contract import JobEnvironment


def test_a_run_key_submits_one_job_however_often_it_is_submitted(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    first, created = catalog.submit_job("backup-ec2", {"instance_id": "i-1"}, queue="us-east-1", run_key="plan/1/i-1")
    again, created_again = catalog.submit_job("backup-ec2", {"instance_id": "i-1"}, run_key="plan/1/i-1")
    other, _ = catalog.submit_job("backup-ec2", {"instance_id": "i-2"}, run_key="plan/1/i-2")
    assert created and not created_again and again.id == first.id and other.id != first.id
    assert (first.status, first.queue, first.run_key) == ("queued", "us-east-1", "plan/1/i-1")


def test_a_queued_job_is_claimed_once(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path)
    job, _ = catalog.submit_job("backup-ec2", {})
    assert catalog.claim_job(job.id, "worker-a", 60)
    assert not catalog.claim_job(job.id, "worker-b", 60)
    claimed = catalog.job(job.id)
    assert (claimed.status, claimed.lease_owner) == ("running", "worker-a")


def test_the_in_process_dispatcher_bounds_jobs_per_account_and_fails_an_unrunnable_job(
    env: JobEnvironment, drivers: DriversForTests
) -> None:
    lock = threading.Lock()
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    peak_total = [0]

    def body(_ctx: JobContext, spec: JobSpec) -> str:
        account = str(spec.params["account"])
        with lock:
            running[account] += 1
            peak[account] = max(peak[account], running[account])
            peak_total[0] = max(peak_total[0], sum(running.values()))
        time.sleep(0.3)
        with lock:
            running[account] -= 1
        return account

    drivers.add("test-slow", body)
    dispatcher = InProcessDispatcher(lambda: JobRunner(env, drivers=drivers.lookup()), workers=6, per_account=2)
    try:
        ids = [dispatcher.submit(JobSpec("test-slow", {"account": a, "n": n})) for n, a in enumerate("aaaabb")]
        broken = dispatcher.submit(JobSpec("test-nobody-runs-this", {"account": "a"}))
        jobs = dispatcher.wait([*ids, broken], timeout_s=60)
    finally:
        dispatcher.close()
    assert [j.status for j in jobs] == ["completed"] * 6 + ["failed"]
    assert peak["a"] == 2 and peak["b"] <= 2 and peak_total[0] >= 3  # b ran beside a, neither beyond 2
    assert "not run: no driver runs jobs of kind 'test-nobody-runs-this'" in (jobs[-1].error or "")
