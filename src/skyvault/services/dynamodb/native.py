"""DynamoDB on-demand backups (``--method native``): CreateBackup, expiry by DeleteBackup, RestoreTableFromBackup.

DynamoDB backups cannot carry tags (TagResource takes tables only; the IAM reference lists no condition key for the
``backup`` resource type), so skyvault marks its own by name, ``skyvault-<table>-<recovery point>``, and its catalog
records each backup's ARN. Expiry and the cleaner delete a backup only when its name starts with ``skyvault-`` and
its ARN is the one recorded. A restored table gets what RestoreTableFromBackup does not restore (AWS: tags, TTL,
stream settings, point-in-time recovery) from the captured schema.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from skyvault.errors import ConflictError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.dynamodb.schema import BACKUP_ARN, TABLE_ARN

if TYPE_CHECKING:
    from skyvault.aws.clients import DynamoDBClient

NAME_PREFIX = "skyvault-"
BACKUP_INTERMEDIATE = "dynamodb-backup"


def _d(operation: str, feature: Feature, step: str, purpose: str, resources: tuple[str, ...], **kw: Any) -> None:
    declare(policy="dynamodb", service="dynamodb", operation=operation, feature=feature, step=step,
            purpose=purpose, resources=resources, **kw)  # fmt: skip


_d("CreateBackup", Feature.BACKUP, "create backup", "Take an on-demand backup named skyvault-<table>-<point> "
   "(DynamoDB backups take no tags).", (TABLE_ARN,))  # fmt: skip
_d("DescribeBackup", Feature.BACKUP, "wait for backup", "Follow the backup until it is AVAILABLE.", (BACKUP_ARN,))
_d("DeleteBackup", Feature.BACKUP, "remove failed backup", "Delete the backup a failed job made (named skyvault-, "
   "its ARN recorded by the job).", (BACKUP_ARN,), destructive=True)  # fmt: skip
_d("DescribeBackup", Feature.CLEANUP, "expire backup", "Check the backup is skyvault's (its name) before deleting "
   "it.", (BACKUP_ARN,))  # fmt: skip
_d("DeleteBackup", Feature.CLEANUP, "expire backup", "Delete skyvault's backups when their recovery point expires.",
   (BACKUP_ARN,), destructive=True)  # fmt: skip
_d("RestoreTableFromBackup", Feature.RESTORE, "restore table", "Create a new table from a skyvault backup (AWS also "
   "checks the write actions it uses on the new table).", (TABLE_ARN, BACKUP_ARN),
   actions=("dynamodb:RestoreTableFromBackup", "dynamodb:BatchWriteItem", "dynamodb:PutItem",
            "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query",
            "dynamodb:Scan"))  # fmt: skip
_d("TagResource", Feature.RESTORE, "restore settings", "Give the table restored from a backup the source's tags "
   "(RestoreTableFromBackup restores none).", (TABLE_ARN,), tags_write=True)  # fmt: skip
_d("UpdateTable", Feature.RESTORE, "restore settings", "Turn the source's stream back on for a table restored from "
   "a backup.", (TABLE_ARN,))  # fmt: skip


def backup_name(table: str, point_id: str) -> str:
    """A valid backup name (3-255 of ``[a-zA-Z0-9_.-]``), unique per recovery point."""
    return f"{NAME_PREFIX}{table}-{point_id}"[:255]


def create(client: DynamoDBClient, table: str, point_id: str) -> dict[str, Any]:
    made = client.create_backup(TableName=table, BackupName=backup_name(table, point_id))["BackupDetails"]
    return {"backup_arn": made["BackupArn"], "backup_name": made["BackupName"]}


def wait_available(client: DynamoDBClient, arn: str, *, timeout_s: float = 3600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        details: dict[str, Any] = dict(client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"])
        if details.get("BackupStatus") == "AVAILABLE":
            return {"status": "AVAILABLE", "size_bytes": details.get("BackupSizeBytes")}
        if details.get("BackupStatus") == "DELETED":
            raise ConflictError(f"backup {arn} was deleted while skyvault waited for it")
        if time.monotonic() > deadline:
            raise ConflictError(f"backup {arn} is still {details.get('BackupStatus')} after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(15.0, delay * 2)


def delete_owned(client: DynamoDBClient, arn: str) -> bool:
    """Delete a backup if it is skyvault's (its name); False when it is gone or not skyvault's."""
    try:
        details = client.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]
    except NotFoundError:
        return False
    if not str(details.get("BackupName", "")).startswith(NAME_PREFIX):
        return False
    try:
        client.delete_backup(BackupArn=arn)
    except NotFoundError:
        return False
    return True


def arn_region(arn: str) -> str:
    return arn.split(":")[3]
