"""Queued jobs: idempotent submission by run key, one claim per job, and the in-process dispatcher."""

from __future__ import annotations

from pathlib import Path

from skyvault.catalog.store import Catalog


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
