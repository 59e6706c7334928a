"""``skyvault worker`` processes for the tests: each a real subprocess of the CLI, with its own log file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scaleout.servers import _die_with_parent
from skyvault.catalog import Catalog, Job

CLAIMED = re.compile(r"job (job-[0-9a-f]+): (claimed|resuming) \(([\w-]+), queue ([\w-]+)\) by (\S+)")
READY_TIMEOUT_S = 60.0


@dataclass
class WorkerProcess:
    name: str
    queues: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    owners: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def handled(self) -> dict[str, list[tuple[str, str]]]:
        """Job ID -> [(claimed|resuming, queue)] as this worker's log says."""
        seen: dict[str, list[tuple[str, str]]] = {}
        for match in CLAIMED.finditer(self.text()):
            seen.setdefault(match.group(1), []).append((match.group(2), match.group(4)))
        return seen

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "ready: consuming" not in self.text():
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} not ready after {READY_TIMEOUT_S} s:\n{self.text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # cold shutdown: the tests are over, nothing to finish
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_worker(name: str, queues: list[str], config: Path, where: Path, env: dict[str, str]) -> WorkerProcess:
    log = where / f"worker-{name}.log"
    command = [sys.executable, "-m", "skyvault.cli.main", "--config", str(config), "worker"]
    command += ["--queues", ",".join(queues), "--concurrency", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
            cwd=where,
            preexec_fn=_die_with_parent(signal.SIGKILL),
        )
    return WorkerProcess(name=name, queues=queues, process=process, log=log)


def owner_pid(owner: str) -> int:
    """The process of a lease owner ``host:pid:random``."""
    return int(owner.split(":")[1])


def wait_for(catalog: Catalog, job_id: str, what: str, check: Callable[[Job], bool], timeout_s: float = 60.0) -> Job:
    """Poll the catalog every 10 ms until ``check(job)``; the job then."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = catalog.job(job_id)
        if check(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id}: not {what} after {timeout_s} s: {job}")
        time.sleep(0.01)
