"""Waiting for EC2 states by polling Describe* through skyvault's clients (not botocore waiters).

Polling through ``AwsClient`` keeps every error translated (an access denial names the action), waits for many
IDs at once, and fails at once on a failure state. Polls start fast (the lab, small snapshots) and back off to
``max_poll_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AwsError, JobError

FAILED_STATES = {"error", "failed", "invalid", "deregistered", "terminated", "shutting-down"}


def wait_until(
    states: Callable[[], dict[str, str]],
    wanted: str,
    *,
    what: str,
    timeout_s: float,
    first_poll_s: float = 0.2,
    max_poll_s: float = 5.0,
    fail_on: Iterable[str] = (),
) -> None:
    """Poll ``states()`` (ID -> state) until every ID is ``wanted``; a state in ``fail_on`` fails at once."""
    failing = set(fail_on)
    deadline = time.monotonic() + timeout_s
    delay = first_poll_s
    while True:
        current = states()
        bad = {i: s for i, s in current.items() if s in failing}
        if bad:
            raise AwsError(f"{what}: " + ", ".join(f"{i} is {s}" for i, s in sorted(bad.items())))
        if current and all(state == wanted for state in current.values()):
            return
        if time.monotonic() > deadline:
            raise JobError(f"{what}: not {wanted} after {timeout_s:.0f} s ({current})")
        time.sleep(delay)
        delay = min(max_poll_s, delay * 2)


def snapshots_completed(
    factory: ClientFactory, account: str, region: str, ids: list[str], timeout_s: float = 7200
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        found = ec2.describe_snapshots(SnapshotIds=ids).get("Snapshots", [])
        return {s["SnapshotId"]: s["State"] for s in found}

    wait_until(states, "completed", what="waiting for snapshots", timeout_s=timeout_s, fail_on={"error"})


def images_available(
    factory: ClientFactory, account: str, region: str, ids: list[str], timeout_s: float = 1800
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        return {i["ImageId"]: i["State"] for i in ec2.describe_images(ImageIds=ids).get("Images", [])}

    wait_until(states, "available", what="waiting for the AMI", timeout_s=timeout_s, fail_on={"failed", "invalid"})


def volumes_available(
    factory: ClientFactory, account: str, region: str, ids: list[str], timeout_s: float = 900
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        return {v["VolumeId"]: v["State"] for v in ec2.describe_volumes(VolumeIds=ids).get("Volumes", [])}

    wait_until(states, "available", what="waiting for volumes", timeout_s=timeout_s, fail_on={"error"})


def instances_in(
    factory: ClientFactory, account: str, region: str, ids: list[str], wanted: str, timeout_s: float = 900
) -> None:
    ec2 = factory.client(account, region, "ec2")

    def states() -> dict[str, str]:
        reservations = ec2.describe_instances(InstanceIds=ids).get("Reservations", [])
        return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r.get("Instances", [])}

    fail_on = {"terminated", "shutting-down"} if wanted != "terminated" else set()
    wait_until(states, wanted, what=f"waiting for instance(s) to be {wanted}", timeout_s=timeout_s, fail_on=fail_on)
