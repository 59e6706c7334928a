"""``skyvault cleanup`` and leases (issue 9): a live job's intermediates survive cleanup for as long as its
heartbeat renews its lease, however old they are, and are cleaned once its lease has expired (time driven with
``now=`` and the runner's clock, never by sleeping)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from conftest import CliResult, LabEnv
from engine.kit import DriversForTests, ManualPace, SetClock, no_library
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.engine.cleanup import clean_up
from skyvault.engine.runner import JobRunner
from skyvault.errors import JobError
from skyvault.jobs import JobContext, JobSpec
from skyvault.services.contract import JobEnvironment
from skyvault.services.ec2.cleanup import SNAPSHOTS
from skyvault.services.ec2.tagging import ROLE_INTERMEDIATE, skyvault_tags, tag_list

TOKEN = "svt-livejob00001"


def test_a_live_jobs_intermediates_survive_cleanup_until_its_lease_expires(
    lab_env: LabEnv, cli: Callable[..., CliResult]
) -> None:
    setup = ClientFactory(lab_env.config, base_dir=lab_env.config_path.parent, strict_guard=False)
    ec2 = setup.client("admin", "us-east-1", "ec2")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    catalog = Catalog.open(lab_env.state_dir)
    env = JobEnvironment(catalog=catalog, factory=lab_env.factory(), open_library=no_library)
    started = threading.Event()
    made: dict[str, str] = {}

    def copy_job(ctx: JobContext, _spec: JobSpec) -> None:
        """A job in the middle of a long copy, holding a temporary snapshot."""
        ctx.intermediate(SNAPSHOTS, TOKEN, "admin", "us-east-1")
        tags = skyvault_tags(job_id=ctx.job_id, source=volume, role=ROLE_INTERMEDIATE, token=TOKEN)
        made["snapshot"] = ec2.create_snapshot(
            VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tag_list(tags)}]
        )["SnapshotId"]
        made["job"] = ctx.job_id
        started.set()
        assert ctx.lease_lost.wait(300)
        ctx.step("after the copy", lambda: None)

    drivers = DriversForTests()
    drivers.add("backup-test", copy_job)
    clock, pace = SetClock(), ManualPace()
    runner = JobRunner(env, drivers=drivers.lookup(), owner="copier:1:a", lease_s=60, clock=clock, pace=pace)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.run(JobSpec("backup-test"))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(300)

    def snapshot_exists() -> bool:
        return bool(ec2.describe_snapshots(Filters=[{"Name": "tag:skyvault:token", "Values": [TOKEN]}])["Snapshots"])

    # No grace period: only the lease protects the job's snapshot, from the catalog sweep and the tag sweep alike.
    swept = cli("--json", "cleanup", "--older-than", "0").json()
    assert swept["intermediates"] == [] and swept["orphans"] == [] and swept["failed"] == []
    assert snapshot_exists()

    for _ in range(4):  # two minutes of heartbeats: the lease taken at the start (60 s) would have run out
        clock.advance(15)
        pace.tick()
    sweeper = JobRunner(env)
    no_grace = timedelta(0)
    alive = clean_up(sweeper, accounts=["admin"], older_than=no_grace, now=clock.now + timedelta(seconds=59))
    assert alive.intermediates == [] and alive.orphans == [] and snapshot_exists()

    # The heartbeat stops (the process froze or died): once the lease has run out, cleanup removes the snapshot.
    dead = clean_up(sweeper, accounts=["admin"], older_than=no_grace, now=clock.now + timedelta(seconds=61))
    assert [(i.job, i.resource_id) for i in dead.intermediates] == [(made["job"], TOKEN)]
    assert dead.failed == [] and not snapshot_exists()
    assert catalog.live_intermediates() == [] and catalog.job(made["job"]).status == "abandoned"

    # Had the process only been frozen, its next heartbeat finds the lease gone and the job stops at its next step.
    pace.release()
    worker.join()
    assert len(errors) == 1 and isinstance(errors[0], JobError)
    assert catalog.job(made["job"]).status == "abandoned"
