"""``jobs resume`` of a database backup job waits as the first run did: --timeout/--poll live in the job's params."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.errors import AwsError
from skyvault.services.rds import snapshots
from skyvault.services.rds.waiting import WaitPolicy

from .conftest import TENANT, Databases

pytestmark = pytest.mark.lab
Cli = Callable[..., CliResult]


def test_resume_keeps_the_timeouts(dbs: Databases, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    dbs.rds("orders-db")
    real_wait = snapshots.wait_available
    policies: list[WaitPolicy] = []

    def wait_available(*args: Any, policy: WaitPolicy, **kwargs: Any) -> Any:
        policies.append(policy)
        if len(policies) == 1:
            raise AwsError("snapshot orders-db stuck in 'creating' (simulated)")
        return real_wait(*args, policy=policy, **kwargs)

    monkeypatch.setattr(snapshots, "wait_available", wait_available)
    failed = cli("--json", "backup", "rds", "orders-db", "--account", TENANT, "--timeout", "321", "--poll", "0.25")
    assert failed.exit_code == AwsError.exit_code
    [job] = dbs.catalog.jobs()
    assert job.status == "failed" and job.params["timeout_s"] == 321 and job.params["poll_s"] == 0.25

    resumed = cli("--json", "jobs", "resume", job.id)
    assert resumed.exit_code == 0, resumed.stderr
    assert set(resumed.json()) == {"recovery_point", "stats"}  # printed as `backup rds` prints one source
    assert policies == [WaitPolicy(timeout_s=321, poll_s=0.25)] * 2  # not the 4 h / 15 s defaults
    assert dbs.catalog.job(job.id).status == "completed"
