"""A job started in one process is resumed in another (issue 9): a real ``backup-image`` job is killed in a child
process after its first image's steps finished; this process resumes it once the child's lease has expired, and
the finished steps are not run again."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from engine.crash_job import CRASHED
from engine.kit import SetClock
from library.helpers import PASSPHRASE, make_repo
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.errors import ConflictError
from skyvault.jobs import ProgressEvent
from skyvault.library.backends import LocalBackend
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment

CHILD = Path(__file__).with_name("crash_job.py")


def test_a_job_killed_in_one_process_is_resumed_in_another(tmp_path: Path) -> None:
    library, state_dir = tmp_path / "lib", tmp_path / "state"
    make_repo(LocalBackend(library), block_size=64 * 1024, pack_size=256 * 1024)
    rng = random.Random(9)
    first, second = tmp_path / "first.img", tmp_path / "second.img"
    first.write_bytes(rng.randbytes(1024 * 1024))
    second.write_bytes(rng.randbytes(1024 * 1024))
    child = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            str(state_dir),
            str(library),
            PASSPHRASE,
            f"backing up {second.name}",
            str(first),
            str(second),
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == CRASHED, child.stderr
    catalog = Catalog.open(state_dir)
    (job,) = catalog.jobs()
    assert job.status == "running" and job.lease_live(datetime.now(UTC))  # the child never released it
    assert job.steps[f"{first}: copy"]["status"] == "done" and job.steps[f"{first}: record"]["status"] == "done"
    assert job.steps[f"{second}: copy"]["status"] == "running"
    first_point = job.steps[f"{first}: record"]["result"]

    events: list[ProgressEvent] = []
    env = JobEnvironment(
        catalog=catalog,
        factory=cast(ClientFactory, None),  # an image job makes no AWS call
        open_library=lambda _name: Repository.open(LocalBackend(library), passphrase=PASSPHRASE),
        progress=events.append,
    )
    with pytest.raises(ConflictError, match=f":{child_pid(job.lease_owner)}:"):
        JobRunner(env).resume(job.id)  # the child's lease is still live: nobody can tell it died
    assert catalog.job(job.id).steps[f"{second}: copy"]["status"] == "running"  # untouched

    after_lease = SetClock(datetime.now(UTC) + timedelta(seconds=121))
    results = JobRunner(env, clock=after_lease).resume(job.id)
    assert results[0]["recovery_point"] == first_point
    assert not [e for e in events if first.name in e.message and e.unit == "bytes"]  # not copied again
    assert [e.message for e in events if e.step is None and "done earlier" in e.message] == [
        f"{first}: copy: done earlier, resuming after it",
        f"{first}: record: done earlier, resuming after it",
    ]
    assert any(second.name in e.message and e.unit == "bytes" for e in events)
    done = catalog.job(job.id)
    assert done.status == "completed" and done.lease_owner is None
    points = catalog.recovery_points(kind="image")
    assert sorted(p.resource_id for p in points) == sorted([str(first), str(second)])
    assert len(Repository.open(LocalBackend(library), passphrase=PASSPHRASE).snapshots()) == 2


def child_pid(owner: str | None) -> str:
    assert owner is not None
    return owner.split(":")[1]
