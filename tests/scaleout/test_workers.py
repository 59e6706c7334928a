"""Two real ``skyvault worker`` processes (Celery; a Redis broker, then a RabbitMQ one; PostgreSQL catalog) run
``backup-image`` jobs submitted through ``CeleryDispatcher``: each region's jobs run only on workers of that region's
queue, a run key submitted twice runs once, and a worker SIGKILLed mid-job leaves the job to the other once its lease
expired, with no image backed up twice."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from library.helpers import PASSPHRASE, make_repo
from scaleout.servers import PostgresServer, RabbitServer, RedisServer
from scaleout.workers import WorkerProcess, owner_pid, start_worker, wait_for
from skyvault.catalog import Catalog
from skyvault.config import url_with_password
from skyvault.engine.workers.app import make_app
from skyvault.engine.workers.dispatcher import CeleryDispatcher
from skyvault.jobs import JobSpec
from skyvault.library.backends import LocalBackend
from skyvault.services.image.jobs import BACKUP_JOB, backup_params

LEASE_S = 3.0


@dataclass
class Cluster:
    where: Path
    catalog: Catalog
    dispatcher: CeleryDispatcher
    east: WorkerProcess  # queues us-east-1
    both: WorkerProcess  # queues eu-west-1, us-east-1

    def images(self, name: str, count: int, size: int, seed: int) -> list[str]:
        rng = random.Random(seed)
        paths = []
        for index in range(count):
            path = self.where / f"{name}-{index}.img"
            path.write_bytes(rng.randbytes(size))
            paths.append(str(path))
        return paths

    def points_of(self, path: str) -> list[str]:
        return [p.id for p in self.catalog.recovery_points(kind="image", resource_id=path)]


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[Cluster]:
    """Two workers shared by this module's tests (starting one takes seconds), per broker; the kill test comes
    last. With RabbitMQ a killed worker's unacknowledged message comes back when its connection drops; with Redis
    after the visibility timeout: either way the catalog's lease, not the broker, decides who runs the job."""
    tmp_path = tmp_path_factory.mktemp(f"cluster-{request.param}")
    broker: RedisServer | RabbitServer = request.getfixturevalue(request.param)
    broker_url = broker.url(1) if isinstance(broker, RedisServer) else broker.url()
    # RabbitMQ has a password: it reaches the workers through [workers] password_env, never the config file.
    password = "" if isinstance(broker, RedisServer) else 'password_env = "BROKER_PASSWORD"\n'
    pg_url = postgres.create_database()
    library = tmp_path / "library"
    make_repo(LocalBackend(library), block_size=64 * 1024, pack_size=256 * 1024)
    Catalog.upgrade(pg_url)
    config = tmp_path / "skyvault.toml"
    config.write_text(
        f'version = 1\ncatalog_url = "{pg_url}"\ndefault_library = "main"\n\n'
        f'[libraries.main]\nkind = "local"\npath = "{library}"\n\n'
        f'[workers]\nbroker_url = "{broker_url}"\n{password}lease_s = {LEASE_S}\nsweep_interval_s = 0.3\n'
    )
    env = {"SKYVAULT_PASSPHRASE": PASSPHRASE, "SKYVAULT_CONFIG": str(config)}
    if isinstance(broker, RabbitServer):
        env["BROKER_PASSWORD"] = broker.password
    east = start_worker("east", ["us-east-1"], config, tmp_path, env)
    both = start_worker("both", ["eu-west-1", "us-east-1"], config, tmp_path, env)
    catalog = Catalog(pg_url)
    submit_url = url_with_password(broker_url, broker.password) if isinstance(broker, RabbitServer) else broker_url
    dispatcher = CeleryDispatcher(catalog, make_app(submit_url), poll_s=0.05)
    try:
        east.wait_ready()
        both.wait_ready()
        yield Cluster(where=tmp_path, catalog=catalog, dispatcher=dispatcher, east=east, both=both)
    finally:
        for worker in (east, both):
            worker.stop()
        dispatcher.close()
        catalog.close()


def test_region_queues_and_one_run_per_run_key(cluster: Cluster) -> None:
    east_images = cluster.images("east", 6, 128 * 1024, seed=1)
    west_images = cluster.images("west", 4, 128 * 1024, seed=2)
    started = time.monotonic()
    east_jobs = [
        cluster.dispatcher.submit(
            JobSpec(BACKUP_JOB, backup_params(paths=[p], library="main")), queue="us-east-1", run_key=f"run-1/{p}"
        )
        for p in east_images
    ]
    west_jobs = [
        cluster.dispatcher.submit(
            JobSpec(BACKUP_JOB, backup_params(paths=[p], library="main")), queue="eu-west-1", run_key=f"run-1/{p}"
        )
        for p in west_images
    ]
    # The same scheduled run submitted again (a second scheduler, a retry): the same jobs, nothing queued.
    again = [
        cluster.dispatcher.submit(
            JobSpec(BACKUP_JOB, backup_params(paths=[p], library="main")), queue="eu-west-1", run_key=f"run-1/{p}"
        )
        for p in west_images
    ]
    assert again == west_jobs
    done = cluster.dispatcher.wait(east_jobs + west_jobs, timeout_s=60)
    elapsed = time.monotonic() - started
    assert [j.status for j in done] == ["completed"] * 10, [(j.id, j.status, j.error) for j in done]
    east_log, both_log = cluster.east.handled(), cluster.both.handled()
    assert set(east_log) | set(both_log) == set(east_jobs + west_jobs)
    assert not set(west_jobs) & set(east_log), "a us-east-1 worker ran an eu-west-1 job"
    for job_id in east_jobs + west_jobs:  # each job claimed once, by one worker
        assert len(east_log.get(job_id, []) + both_log.get(job_id, [])) == 1, job_id
    for path in east_images + west_images:
        assert len(cluster.points_of(path)) == 1, path  # backed up once for run-1
    mean = sum(j.duration_s or 0 for j in done) / len(done)
    print(f"\n10 image jobs, 2 workers x 2 threads: {elapsed:.2f} s, {10 / elapsed:.1f} jobs/s ({mean:.2f} s a job)")


def test_a_worker_killed_mid_job_leaves_the_job_to_the_other(cluster: Cluster) -> None:
    images = cluster.images("big", 6, 3 * 1024 * 1024, seed=3)
    job_id = cluster.dispatcher.submit(
        JobSpec(BACKUP_JOB, backup_params(paths=images, library="main")), queue="us-east-1", run_key="run-2/big"
    )
    first_recorded = f"{images[0]}: record"
    claimed = wait_for(
        cluster.catalog,
        job_id,
        "running with its first image recorded",
        lambda job: (
            job.status == "running"
            and job.lease_owner is not None
            and job.steps.get(first_recorded, {}).get("status") == "done"
        ),
    )
    assert claimed.lease_owner is not None
    victim_pid = owner_pid(claimed.lease_owner)
    victim, survivor = (cluster.east, cluster.both) if victim_pid == cluster.east.pid else (cluster.both, cluster.east)
    assert victim.pid == victim_pid
    os.kill(victim.pid, signal.SIGSTOP)  # frozen: the job cannot end between this check and the kill
    frozen = cluster.catalog.job(job_id)
    assert frozen.status == "running" and frozen.steps.get(f"{images[-1]}: record", {}).get("status") != "done"
    os.kill(victim.pid, signal.SIGKILL)
    victim.process.wait()
    killed_at = time.monotonic()
    first_point = frozen.steps[first_recorded]["result"]

    (done,) = cluster.dispatcher.wait([job_id], timeout_s=60)
    assert done.status == "completed", (done.error, survivor.text()[-3000:])
    took = time.monotonic() - killed_at
    assert [action for action, _ in survivor.handled()[job_id]][-1] == "resuming"
    for path in images:
        assert len(cluster.points_of(path)) == 1, path  # no image backed up twice
    assert done.steps[first_recorded]["result"] == first_point  # the finished image was not redone
    assert "resuming" not in victim.text()
    print(f"\nkilled worker's job finished by the other {took:.2f} s after the kill (lease {LEASE_S} s)")


def test_sigterm_lets_the_running_job_finish_then_stops(cluster: Cluster) -> None:
    images = cluster.images("term", 3, 2 * 1024 * 1024, seed=4)
    job_id = cluster.dispatcher.submit(
        JobSpec(BACKUP_JOB, backup_params(paths=images, library="main")), queue="us-east-1", run_key="run-3/term"
    )
    claimed = wait_for(
        cluster.catalog, job_id, "running", lambda job: job.status == "running" and job.lease_owner is not None
    )
    assert claimed.lease_owner is not None
    (worker,) = [w for w in (cluster.east, cluster.both) if w.pid == owner_pid(claimed.lease_owner)]
    worker.process.send_signal(signal.SIGTERM)  # warm shutdown, as `docker compose stop` does
    assert worker.process.wait(timeout=60) == 0
    finished = cluster.catalog.job(job_id)
    assert finished.status == "completed" and finished.lease_owner is None, (finished.status, worker.text()[-2000:])
    assert all(len(cluster.points_of(path)) == 1 for path in images)
    log = worker.text()
    assert log.index("Warm shutdown") < log.index(f"job {job_id}: completed"), log[-2000:]  # finished after TERM
