"""Child process for test_resume_elsewhere: runs a real ``backup-image`` job and dies (``os._exit``) at the first
progress event whose message contains the text given on the command line, leaving the job "running" with its
lease, as a crash does."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import cast

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.engine.runner import JobRunner
from skyvault.jobs import JobSpec, ProgressEvent
from skyvault.library.backends import LocalBackend
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment
from skyvault.services.image.jobs import BACKUP_JOB, backup_params

CRASHED = 3


def main() -> None:
    state_dir, library, passphrase, crash_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    images = sys.argv[5:]

    def crash_in(event: ProgressEvent) -> None:
        if crash_at in event.message:
            os._exit(CRASHED)  # no cleanup, no lease release, no "finally": as a kill -9 or a power cut

    env = JobEnvironment(
        catalog=Catalog.open(state_dir),
        factory=cast(ClientFactory, None),  # an image job makes no AWS call
        open_library=lambda _name: Repository.open(LocalBackend(library), passphrase=passphrase),
        progress=crash_in,
    )
    JobRunner(env, lease_s=120).run(JobSpec(BACKUP_JOB, backup_params(paths=images, library="main")))
    sys.exit(0)  # not reached when the crash step runs


if __name__ == "__main__":
    main()
