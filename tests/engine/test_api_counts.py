"""Two jobs running side by side on one client factory each report their own AWS calls (issue 9), including the
calls their executor threads make."""

from __future__ import annotations

import threading
from typing import Any

import skyvault.services.ec2.cleanup  # noqa: F401  (declares the Describe* calls the jobs below make)
from conftest import LabEnv
from engine.kit import DriversForTests, no_library
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.jobs import JobContext, JobSpec
from skyvault.services.contract import JobEnvironment


def test_two_jobs_side_by_side_report_their_own_api_calls(lab_env: LabEnv) -> None:
    factory = lab_env.factory()
    env = JobEnvironment(catalog=Catalog.open(lab_env.state_dir), factory=factory, open_library=no_library)
    together = threading.Barrier(2, timeout=120)  # both jobs are inside their bodies at once

    def snapshots_and_volumes(ctx: JobContext, _spec: JobSpec) -> dict[str, int]:
        ec2 = ctx.factory.client("admin", "us-east-1", "ec2")
        together.wait()
        for _ in range(3):
            ec2.describe_snapshots(OwnerIds=["self"])
        with ctx.executor(4) as pool:
            list(pool.map(lambda _: ec2.describe_volumes(), range(4)))
        together.wait()
        return ctx.api_calls()

    def images(ctx: JobContext, _spec: JobSpec) -> dict[str, int]:
        ec2 = ctx.factory.client("admin", "us-east-1", "ec2")
        together.wait()
        ec2.describe_images(Owners=["self"])
        ec2.describe_images(Owners=["self"])
        together.wait()
        return ctx.api_calls()

    drivers = DriversForTests()
    drivers.add("backup-a", snapshots_and_volumes)
    drivers.add("backup-b", images)
    results: dict[str, Any] = {}

    def run(kind: str) -> None:
        results[kind] = JobRunner(env, drivers=drivers.lookup()).run(JobSpec(kind))

    threads = [threading.Thread(target=run, args=(kind,)) for kind in ("backup-a", "backup-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["backup-a"] == {"DescribeSnapshots": 3, "DescribeVolumes": 4}
    assert results["backup-b"] == {"DescribeImages": 2}
    every = factory.guard.counts()  # the factory's own count still sees both jobs
    assert every["DescribeSnapshots"] >= 3 and every["DescribeVolumes"] >= 4 and every["DescribeImages"] >= 2
