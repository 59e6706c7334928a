"""Application-consistent snapshots: run pre/post scripts on the instance through SSM Run Command.

The pre script flushes (and, with the operator's own hook, quiesces) the application just before the snapshots
are taken; the post script resumes it right after ``CreateSnapshots`` returns (the snapshots are point-in-time at
that moment, so the application is never frozen while they complete). Hooks are the operator's executables at
``/etc/skyvault/pre-snapshot`` and ``/etc/skyvault/post-snapshot`` (skipped when absent), like the hook
conventions of other backup agents. These calls belong to the separate ``ec2-agents`` policy: a backup without
``--app-consistent`` never needs SSM.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import JobError, NotFoundError
from skyvault.permissions import Feature, declare

DOCUMENT = "AWS-RunShellScript"
PRE_COMMANDS = ["sync", "if [ -x /etc/skyvault/pre-snapshot ]; then /etc/skyvault/pre-snapshot; fi", "sync"]
POST_COMMANDS = ["if [ -x /etc/skyvault/post-snapshot ]; then /etc/skyvault/post-snapshot; fi"]
DONE_STATES = {"Success", "Failed", "Cancelled", "TimedOut", "Cancelling", "Undeliverable", "Terminated"}

SEND_COMMAND = declare(
    policy="ec2-agents",
    service="ssm",
    operation="SendCommand",
    feature=Feature.BACKUP,
    step="application-consistent pre/post scripts",
    purpose="Run the pre-snapshot (flush/quiesce) and post-snapshot (resume) scripts on the instance via SSM.",
    resources=(
        "arn:${Partition}:ec2:${Region}:${Account}:instance/*",
        "arn:${Partition}:ssm:${Region}::document/AWS-RunShellScript",
    ),
)
GET_COMMAND_INVOCATION = declare(
    policy="ec2-agents",
    service="ssm",
    operation="GetCommandInvocation",
    feature=Feature.BACKUP,
    step="application-consistent pre/post scripts",
    purpose="Wait for the pre/post-snapshot script to finish and read its status and output.",
)


def run_script(
    factory: ClientFactory,
    account: str,
    region: str,
    instance_id: str,
    commands: list[str],
    *,
    comment: str,
    timeout_s: int = 300,
    poll_s: float = 1.0,
) -> str:
    """Run shell commands on the instance; returns their output. A failure raises ``JobError`` with the output."""
    ssm = factory.client(account, region, "ssm")
    sent = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName=DOCUMENT,
        Comment=comment[:100],
        TimeoutSeconds=max(30, timeout_s),
        Parameters={"commands": commands},
    )
    command_id = str(sent["Command"]["CommandId"])
    deadline = time.monotonic() + timeout_s
    while True:
        invocation: Mapping[str, Any]
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except NotFoundError:
            invocation = {"Status": "Pending"}  # SSM answers InvocationDoesNotExist until the agent picked it up
        status = str(invocation.get("Status", "Pending"))
        if status in DONE_STATES:
            break
        if time.monotonic() > deadline:
            raise JobError(f"{comment}: SSM command {command_id} on {instance_id} did not finish in {timeout_s} s")
        time.sleep(poll_s)
    output = str(invocation.get("StandardOutputContent", ""))
    if status != "Success":
        error = str(invocation.get("StandardErrorContent", ""))[-500:]
        raise JobError(
            f"{comment}: SSM command {command_id} on {instance_id} ended {status}: {error or output[-500:]}",
            hint="is the SSM agent running and the instance managed? (or back up without --app-consistent)",
        )
    return output
