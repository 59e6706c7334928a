"""The EBS direct paths at AWS's limits, in the lab (models/ebs_limits.py): a copy and a restore that meet a
per-snapshot quota far below their pace slow down and succeed, byte-identical, with the throttled answers counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import CliResult
from skyvault.lab import control

from .conftest import Ec2Env

Cli = Callable[..., CliResult]


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.json()


def test_throttling_beyond_the_snapshot_quota_is_absorbed(ec2_env: Ec2Env, cli: Cli) -> None:
    lab = ec2_env.env.lab
    before = {"/dev/xvda": ec2_env.checksum(ec2_env.root_volume), "/dev/sdf": ec2_env.checksum(ec2_env.data_volume)}
    # 24 and 16 blocks, sent by up to 100 workers at once, against 5 requests/s per snapshot with 0.2 s of burst
    # (one request): AWS would throttle most of them, whatever the machine's load.
    control.set_model_settings(
        lab,
        "ebs_limits",
        latency_ms=5,
        burst_s=0.2,
        get_snapshot_block_per_snapshot=5,
        put_snapshot_block_per_snapshot=5,
    )
    backup = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id))
    assert backup["stats"]["blocks_read"] == 40
    assert backup["stats"]["throttles"] > 0
    restored = _ok(cli("--json", "restore", backup["recovery_point"], "--volumes-only", "--from", "library"))
    assert restored["stats"]["throttles"] > 0
    counted = control.set_model_settings(lab, "ebs_limits")
    assert counted["throttled"]["GetSnapshotBlock"] > 0 and counted["throttled"]["PutSnapshotBlock"] > 0
    got = {device: ec2_env.checksum(volume) for device, volume in restored["volume_ids"].items()}
    assert got == before
