"""Model: a snapshot just started with StartSnapshot is not writable yet; concurrent EBS direct writes are limited."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from skyvault.lab.control import set_model_settings

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]
BLOCK = b"\x07" * 512 * 1024


def _put(ebs: Any, snapshot_id: str, index: int) -> Any:
    checksum = base64.b64encode(hashlib.sha256(BLOCK).digest()).decode()
    return ebs.put_snapshot_block(
        SnapshotId=snapshot_id,
        BlockIndex=index,
        BlockData=BLOCK,
        DataLength=len(BLOCK),
        Checksum=checksum,
        ChecksumAlgorithm="SHA256",
    )


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    return dict(caught.value.response)


def test_on_by_default_and_configurable(lab_env: LabEnv) -> None:
    lab = lab_env.lab
    defaults = set_model_settings(lab, "ebs_write_readiness")
    assert 0 < defaults["not_writable_s"] <= 2 and defaults["concurrent_limit_every"] == 0


def test_a_just_started_snapshot_refuses_blocks_as_not_found(lab_env: LabEnv, raw: Raw) -> None:
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=600)
    ebs = raw("ebs")
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    error = _error(lambda: _put(ebs, snapshot_id, 0))
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=0)
    later = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    _put(ebs, later, 0)


def test_every_nth_put_hits_the_concurrent_limit(lab_env: LabEnv, raw: Raw) -> None:
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=0, concurrent_limit_every=2)
    ebs = raw("ebs")
    snapshot_id = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    _put(ebs, snapshot_id, 0)
    error = _error(lambda: _put(ebs, snapshot_id, 1))
    assert error["Error"]["Code"] == "ConcurrentLimitExceededException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    _put(ebs, snapshot_id, 1)
