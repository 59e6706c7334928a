"""A backup killed (SIGKILL) at random points leaves a library that check accepts and the next run continues."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from library.helpers import PASSPHRASE, make_repo
from skyvault.library.backends import LocalBackend
from skyvault.library.check import check
from skyvault.library.prune import prune
from skyvault.library.repository import Repository
from skyvault.services.image import backup_image, restore_image

CHILD = Path(__file__).with_name("crash_backup.py")


def test_killed_backups_leave_a_consistent_library(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    make_repo(LocalBackend(library), block_size=64 * 1024, pack_size=256 * 1024)
    image = tmp_path / "disk.img"
    rng = random.Random(1234)
    image.write_bytes(rng.randbytes(24 * 1024 * 1024))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = 0
    left_partial_data = 0
    for round_ in range(6):
        with image.open("r+b") as handle:  # change some blocks, so every run has new data to write
            for _ in range(40):
                handle.seek(rng.randrange(0, 24 * 1024 * 1024 - 4096))
                handle.write(rng.randbytes(4096))
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(library), str(image), PASSPHRASE],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.0, 0.45) if round_ < 5 else 0.0)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed += child.returncode == -signal.SIGKILL
        repo = Repository.open(LocalBackend(library), passphrase=PASSPHRASE)
        report = check(repo, read_data=True)
        assert report.ok, f"round {round_}: {report.errors}"
        left_partial_data += bool(report.warnings)  # packs written, not yet indexed: killed mid-way
    assert killed >= 4  # most runs really were killed ...
    assert left_partial_data >= 1  # ... and at least one after writing packs but before indexing them
    repo = Repository.open(LocalBackend(library), passphrase=PASSPHRASE)
    parent = repo.latest("image", str(image.resolve()))
    result = backup_image(repo, image, parent=parent)
    out = tmp_path / "restored.img"
    restore_image(repo, result.manifest, out)
    assert out.read_bytes() == image.read_bytes()
    # the killed runs' locks are stale (their processes are gone): prune runs, and drops their orphan packs
    with repo.lock(exclusive=True, purpose="prune after crashes"):
        pruned = prune(repo)
    assert pruned.packs_deleted >= left_partial_data
    after = Repository.open(LocalBackend(library), passphrase=PASSPHRASE)
    report = check(after, read_data=True)
    assert report.ok and report.warnings == []
    restore_image(after, after.load_snapshot(result.manifest.id), out, overwrite=True)
    assert out.read_bytes() == image.read_bytes()
