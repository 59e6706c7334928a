"""EC2's eventual consistency (the lab's ec2_consistency model): new resources answer NotFound for a while.

The waiters treat "not found" right after a create as "not visible yet", and a failed restore's cleanup finds what
it launched by the recorded ID, however long Describe takes to show it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import CliResult
from skyvault.catalog import Catalog
from skyvault.errors import JobError, NotFoundError
from skyvault.lab.control import set_model_settings
from skyvault.services.ec2 import launch, waiting
from skyvault.services.ec2.cleanup import TOKEN_PATIENCE_S

from .conftest import Ec2Env

Cli = Callable[..., CliResult]
DELAY_S = 2.0


def _ok(result: CliResult) -> Any:
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_backup_and_restore_wait_through_not_found(ec2_env: Ec2Env, cli: Cli) -> None:
    set_model_settings(ec2_env.env.lab, "ec2_consistency", delay_s=DELAY_S)
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy"))
    restored = _ok(cli("--json", "restore", point["recovery_point"], "--name", "visible-later"))
    assert restored["instance_id"].startswith("i-")
    assert len(restored["volume_ids"]) == 2
    volumes = _ok(cli("--json", "restore", point["recovery_point"], "--volumes-only"))
    assert len(volumes["volume_ids"]) == 2


def test_failed_restore_terminates_the_instance_it_just_launched(
    ec2_env: Ec2Env, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    point = _ok(cli("--json", "backup", "ec2", ec2_env.instance_id, "--no-copy"))
    # Longer than a token lookup's patience: only the recorded ID can find the instance in time.
    set_model_settings(ec2_env.env.lab, "ec2_consistency", delay_s=TOKEN_PATIENCE_S + 3)
    launched: list[str] = []

    def failing_verification(_factory: Any, _placement: Any, _config: Any, instance_id: str) -> list[str]:
        launched.append(instance_id)  # fails at once: DescribeInstances does not show the instance yet
        raise JobError("simulated failure right after launch")

    monkeypatch.setattr(launch, "verify_instance", failing_verification)
    result = cli("--json", "restore", point["recovery_point"])
    assert result.exit_code == JobError.exit_code
    [instance_id] = launched
    ec2 = ec2_env.ec2()
    # The cleanup found it by the recorded ID (a tag lookup would have found nothing yet) and terminated it.
    waiting.instances_in(ec2_env.setup, "admin", "us-east-1", [instance_id], "terminated", timeout_s=60)
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    catalog = Catalog.open(ec2_env.env.state_dir)
    restore_job = next(j for j in catalog.jobs() if j.kind == "restore-ec2")
    assert catalog.live_intermediates(restore_job.id) == []
    assert restore_job.steps["cleanup"]["status"] == "done"


def test_a_resource_that_never_shows_up_fails_the_wait_naming_it(ec2_env: Ec2Env) -> None:
    with pytest.raises(NotFoundError, match="vol-00000000000000000 still not found"):
        waiting.volumes_available(ec2_env.setup, "admin", "us-east-1", ["vol-00000000000000000"], visibility_s=0.5)
