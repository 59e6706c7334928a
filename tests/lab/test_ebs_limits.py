"""Model: EBS direct request latency and request quotas (RequestThrottledException beyond them), as AWS."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import LabEnv
from skyvault.lab.control import set_model_settings, write_blocks

pytestmark = pytest.mark.lab
Raw = Callable[..., Any]
BLOCK = b"\x05" * 512 * 1024
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=32)


def _snapshot_with_blocks(raw: Raw, lab_env: LabEnv, count: int) -> tuple[str, list[dict[str, Any]]]:
    ec2 = raw("ec2")
    volume = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")["VolumeId"]
    write_blocks(lab_env.lab, volume, count, seed=3)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    blocks = raw("ebs").list_snapshot_blocks(SnapshotId=snapshot)["Blocks"]
    return snapshot, blocks


def test_defaults_are_aws_quotas_and_a_small_latency(lab_env: LabEnv) -> None:
    settings = set_model_settings(lab_env.lab, "ebs_limits")
    assert settings["get_snapshot_block_per_snapshot"] == 1000 and settings["put_snapshot_block_per_snapshot"] == 1000
    assert settings["get_snapshot_block_per_account"] == 1000 and settings["put_snapshot_block_per_account"] == 1000
    assert settings["list_snapshot_blocks_per_account"] == 50 and settings["list_changed_blocks_per_account"] == 50
    assert settings["start_snapshot_per_account"] == 10 and settings["complete_snapshot_per_account"] == 10
    assert 0 < settings["latency_ms"] <= 5


def test_every_request_waits_the_latency_and_requests_overlap(lab_env: LabEnv, raw: Raw) -> None:
    snapshot, blocks = _snapshot_with_blocks(raw, lab_env, 8)
    set_model_settings(lab_env.lab, "ebs_limits", latency_ms=200)
    ebs = raw("ebs")

    def get(block: dict[str, Any]) -> float:
        started = time.monotonic()
        ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=block["BlockIndex"], BlockToken=block["BlockToken"])[
            "BlockData"
        ].read()
        return time.monotonic() - started

    assert get(blocks[0]) >= 0.2
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # a threaded server: 8 requests in flight take about one latency
        assert min(pool.map(get, blocks)) >= 0.2
    assert time.monotonic() - started < 0.2 * 4


def test_beyond_the_per_snapshot_quota_answers_request_throttled(lab_env: LabEnv, raw: Raw) -> None:
    snapshot, blocks = _snapshot_with_blocks(raw, lab_env, 6)
    set_model_settings(lab_env.lab, "ebs_limits", get_snapshot_block_per_snapshot=2, latency_ms=0)
    ebs = (
        lab_env.factory()
        .session("admin")
        .client("ebs", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint, config=NO_RETRIES)
    )
    codes = []
    for block in blocks:
        try:
            ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=block["BlockIndex"], BlockToken=block["BlockToken"])
            codes.append("ok")
        except ClientError as exc:
            error: dict[str, Any] = dict(exc.response)
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert error["Reason"] == "RESOURCE_LEVEL_THROTTLE"
            codes.append(error["Error"]["Code"])
    assert codes[:2] == ["ok", "ok"] and "RequestThrottledException" in codes[2:]
    counted = set_model_settings(lab_env.lab, "ebs_limits")
    assert counted["throttled"]["GetSnapshotBlock"] == codes.count("RequestThrottledException")


def test_the_account_quota_spans_snapshots_and_writes(lab_env: LabEnv, raw: Raw) -> None:
    set_model_settings(lab_env.lab, "ebs_write_readiness", not_writable_s=0)
    set_model_settings(lab_env.lab, "ebs_limits", put_snapshot_block_per_account=3, latency_ms=0)
    ebs = (
        lab_env.factory()
        .session("admin")
        .client("ebs", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint, config=NO_RETRIES)
    )
    checksum = base64.b64encode(hashlib.sha256(BLOCK).digest()).decode()
    snapshots = [ebs.start_snapshot(VolumeSize=1)["SnapshotId"] for _ in range(2)]
    reasons = []
    for n in range(6):
        try:
            ebs.put_snapshot_block(
                SnapshotId=snapshots[n % 2], BlockIndex=n, BlockData=BLOCK, DataLength=len(BLOCK),
                Checksum=checksum, ChecksumAlgorithm="SHA256",
            )  # fmt: skip
            reasons.append("ok")
        except ClientError as exc:
            reasons.append(str(dict(exc.response).get("Reason")))
    assert reasons[:3] == ["ok"] * 3 and "ACCOUNT_THROTTLED" in reasons[3:]


def test_botocore_standard_retries_absorb_a_throttle(lab_env: LabEnv, raw: Raw) -> None:
    snapshot, blocks = _snapshot_with_blocks(raw, lab_env, 3)
    set_model_settings(lab_env.lab, "ebs_limits", get_snapshot_block_per_snapshot=5, latency_ms=0)
    ebs = lab_env.factory().session("admin").client(
        "ebs", region_name="us-east-1", endpoint_url=lab_env.lab.endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": 10}),
    )  # fmt: skip
    for block in blocks * 3:
        ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=block["BlockIndex"], BlockToken=block["BlockToken"])
    assert set_model_settings(lab_env.lab, "ebs_limits")["throttled"].get("GetSnapshotBlock", 0) >= 1


def test_settings_are_checked(lab_env: LabEnv) -> None:
    from skyvault.errors import LabError

    with pytest.raises(LabError, match="unknown ebs_limits settings"):
        set_model_settings(lab_env.lab, "ebs_limits", get_blocks=3)
    with pytest.raises(LabError, match="latency_ms"):
        set_model_settings(lab_env.lab, "ebs_limits", latency_ms=-1)
