"""SnapshotWriter against the lab's ebs_write_readiness model: it waits until a new snapshot takes blocks and
retries ConcurrentLimitExceededException, and gives up (naming the snapshot) when it never becomes writable."""

from __future__ import annotations

import hashlib

import pytest

from conftest import LabEnv
from skyvault.errors import NotFoundError
from skyvault.lab.control import checksum, set_model_settings
from skyvault.services.ec2.ebs_direct import BLOCK_SIZE, SnapshotWriter
from skyvault.services.ec2.tagging import new_token

BLOCKS = {i: bytes([i + 1]) * BLOCK_SIZE for i in range(6)}


def _writer(lab_env: LabEnv) -> SnapshotWriter:
    writer = SnapshotWriter(lab_env.factory().client("admin", "us-east-1", "ebs"))
    writer.start(volume_size_gib=1, tags={"skyvault:managed": "true"}, description="t", client_token=new_token())
    return writer


def test_writer_waits_for_a_writable_snapshot_and_retries_the_concurrent_limit(lab_env: LabEnv) -> None:
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=1.0, concurrent_limit_every=3)
    writer = _writer(lab_env)
    for index, data in BLOCKS.items():
        writer.put(index, data)
    assert writer.complete() == "completed"
    assert writer.snapshot_id is not None
    expected = b"".join(BLOCKS[i] for i in range(6)) + bytes(1024**3 - 6 * BLOCK_SIZE)

    assert checksum(lab_env.lab, writer.snapshot_id, account_id="123456789012", region="us-east-1").sha256 == (
        hashlib.sha256(expected).hexdigest()
    )


def test_writer_gives_up_when_the_snapshot_never_becomes_writable(lab_env: LabEnv) -> None:
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=600)
    writer = _writer(lab_env)
    writer.writable_wait_s = 1.0
    with pytest.raises(NotFoundError, match="still not writable"):
        writer.put(0, BLOCKS[0])
