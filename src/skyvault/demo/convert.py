"""The demo's convert step: a small VM disk image (a sparse 1 GiB raw disk with a few MiB written, as a VM's
would be) becomes a running instance through the EBS direct APIs, and the instance's root volume is checked
against the image byte for byte (the lab's checksum against the image's SHA-256). Then the instance is removed so
that re-runs see the same estate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from skyvault.demo.ec2 import DemoLike, _remove_restored
from skyvault.engine.runner import JobRunner
from skyvault.errors import LibraryError, SkyvaultError
from skyvault.jobs.spec import JobSpec
from skyvault.lab import control
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.library.repository import Repository
from skyvault.services.contract import JobEnvironment
from skyvault.services.image.driver import CONVERT_JOB

GIB = 1024**3
MIB = 1024**2


def _demo_image(path: Path, seed: int) -> str:
    """A sparse 1 GiB raw disk: 4 MiB at the start (boot area), 2 MiB in the middle; returns its SHA-256."""
    extents = {0: 4 * MIB, 512 * MIB: 2 * MIB}
    with path.open("wb") as handle:
        handle.truncate(GIB)
        for offset, length in extents.items():
            handle.seek(offset)
            stream = b"".join(hashlib.sha256(f"{seed}:{offset}:{i}".encode()).digest() for i in range(length // 32))
            handle.write(stream)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _no_library(_name: str | None) -> Repository:
    raise LibraryError("the demo converts an image file")


def convert_step(demo: DemoLike) -> str:
    app = demo.require_app()
    lab = demo.require_lab()
    region = app.config().account(ADMIN_ACCOUNT_NAME).regions[0]
    image = app.state_dir / "demo-disk.img"
    expected = _demo_image(image, seed=len(app.catalog().jobs()))
    params: dict[str, Any] = {"sources": [{"path": str(image)}], "account": ADMIN_ACCOUNT_NAME, "region": region,
                              "name": "demo-converted"}  # fmt: skip
    runner = JobRunner(JobEnvironment(catalog=app.catalog(), factory=app.factory(), open_library=_no_library))
    result = runner.run(JobSpec(CONVERT_JOB, params))
    root = result["volume_ids"]["/dev/xvda"]
    account_id = app.factory().account_id(ADMIN_ACCOUNT_NAME)
    got = control.checksum(lab, root, account_id=account_id, region=region).sha256
    if got != expected:
        raise SkyvaultError(f"converted root volume {root} differs from the image ({got} != {expected})")
    _remove_restored(app, region, result["instance_id"], list(result["volume_ids"].values()))
    s = result["stats"]
    return (
        f"{image.name} (raw, 1 GiB virtual) -> {result['instance_id']} in {region}: {s['blocks_written']} non-zero "
        f"blocks written of {GIB // (512 * 1024)}, root volume byte-identical to the image (sha256 {got[:12]}); "
        f"{s['duration_s']:.1f}s; instance removed"
    )
