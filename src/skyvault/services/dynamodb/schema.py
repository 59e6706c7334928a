"""A DynamoDB table's schema: captured at backup, turned back into CreateTable at restore.

Captured: key schema, attribute definitions, billing mode and provisioned throughput, global secondary indexes
(keys, projection, throughput) and local secondary indexes (keys, projection), stream specification, TTL, server-side
encryption, point-in-time recovery, table class, deletion protection, tags. DescribeTable does not report TTL,
PITR or tags, hence DescribeTimeToLive, DescribeContinuousBackups and ListTagsOfResource.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from skyvault.errors import ConflictError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import TAG_PREFIX
from skyvault.services.base import tags_from_list

if TYPE_CHECKING:
    from skyvault.aws.clients import DynamoDBClient

TABLE_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*"
INDEX_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*/index/*"
BACKUP_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*/backup/*"


def _d(operation: str, feature: Feature, step: str, purpose: str, resources: tuple[str, ...], **kw: Any) -> None:
    declare(policy="dynamodb", service="dynamodb", operation=operation, feature=feature, step=step,
            purpose=purpose, resources=resources, **kw)  # fmt: skip


for _feature, _step in ((Feature.BACKUP, "capture schema"), (Feature.RESTORE, "check target")):
    _d("DescribeTable", _feature, _step, "Read the table's keys, indexes, billing mode, throughput, stream, "
       "encryption, class and status.", (TABLE_ARN,))  # fmt: skip
_d("ListTagsOfResource", Feature.BACKUP, "capture schema", "Read the table's tags (restored with it).", (TABLE_ARN,))
_d("DescribeTimeToLive", Feature.BACKUP, "capture schema", "Read the table's TTL attribute.", (TABLE_ARN,))
_d("DescribeContinuousBackups", Feature.BACKUP, "capture schema", "Read whether point-in-time recovery is on.",
   (TABLE_ARN,))  # fmt: skip
_d("CreateTable", Feature.RESTORE, "create table", "Create the restored table with the captured schema and tags.",
   (TABLE_ARN,), actions=("dynamodb:CreateTable", "dynamodb:TagResource"))  # fmt: skip
_d("UpdateTimeToLive", Feature.RESTORE, "restore settings", "Turn the captured TTL attribute back on.", (TABLE_ARN,))
_d("UpdateContinuousBackups", Feature.RESTORE, "restore settings", "Turn point-in-time recovery back on when the "
   "source had it.", (TABLE_ARN,))  # fmt: skip


def _throughput(raw: dict[str, Any] | None) -> dict[str, int] | None:
    if not raw or not raw.get("ReadCapacityUnits"):
        return None
    return {"read": int(raw["ReadCapacityUnits"]), "write": int(raw.get("WriteCapacityUnits") or 0)}


def _index(raw: dict[str, Any], *, gsi: bool) -> dict[str, Any]:
    captured: dict[str, Any] = {
        "name": raw["IndexName"],
        "key_schema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in raw["KeySchema"]],
        "projection": dict(raw.get("Projection") or {"ProjectionType": "ALL"}),
    }
    if gsi:
        captured["throughput"] = _throughput(raw.get("ProvisionedThroughput"))
    return captured


def capture(client: DynamoDBClient, table_name: str) -> dict[str, Any]:
    """Everything needed to create the table again (JSON-safe)."""
    table: dict[str, Any] = dict(client.describe_table(TableName=table_name)["Table"])
    arn = table["TableArn"]
    tags = {
        key: value
        for page in client.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn)
        for key, value in tags_from_list(page.get("Tags")).items()
    }
    ttl: dict[str, Any] = dict(client.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription") or {})
    continuous: dict[str, Any] = dict(
        client.describe_continuous_backups(TableName=table_name).get("ContinuousBackupsDescription") or {}
    )
    pitr = (continuous.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") == "ENABLED"
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    sse = table.get("SSEDescription") or {}
    stream = table.get("StreamSpecification") or {}
    ttl_on = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    return {
        "table_name": table["TableName"],
        "table_arn": arn,
        "key_schema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in table["KeySchema"]],
        "attribute_definitions": [
            {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
            for a in table["AttributeDefinitions"]
        ],
        "billing_mode": billing,
        "throughput": _throughput(table.get("ProvisionedThroughput")) if billing == "PROVISIONED" else None,
        "global_secondary_indexes": [_index(g, gsi=True) for g in table.get("GlobalSecondaryIndexes") or []],
        "local_secondary_indexes": [_index(i, gsi=False) for i in table.get("LocalSecondaryIndexes") or []],
        "stream": {"enabled": True, "view_type": stream.get("StreamViewType")} if stream.get("StreamEnabled") else None,
        "ttl_attribute": ttl.get("AttributeName") if ttl_on else None,
        "sse": {"status": sse.get("Status"), "type": sse.get("SSEType"), "kms_key_arn": sse.get("KMSMasterKeyArn")}
        if sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING")
        else None,
        "pitr": pitr,
        "table_class": (table.get("TableClassSummary") or {}).get("TableClass") or "STANDARD",
        "deletion_protection": bool(table.get("DeletionProtectionEnabled")),
        "tags": tags,
        "item_count": int(table.get("ItemCount") or 0),
        "size_bytes": int(table.get("TableSizeBytes") or 0),
    }


def _provisioned(throughput: dict[str, Any]) -> dict[str, int]:
    return {"ReadCapacityUnits": int(throughput["read"]), "WriteCapacityUnits": int(throughput["write"])}


def create_params(schema: dict[str, Any], table_name: str) -> dict[str, Any]:
    """CreateTable parameters for the captured schema (skyvault's own ``skyvault:`` tags are not copied)."""
    provisioned = schema["billing_mode"] == "PROVISIONED" and schema.get("throughput")
    params: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": schema["key_schema"],
        "AttributeDefinitions": schema["attribute_definitions"],
        "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
        "TableClass": schema.get("table_class") or "STANDARD",
        "DeletionProtectionEnabled": bool(schema.get("deletion_protection")),
    }
    if provisioned:
        params["ProvisionedThroughput"] = _provisioned(schema["throughput"])
    gsis = []
    for index in schema.get("global_secondary_indexes") or []:
        gsi: dict[str, Any] = {
            "IndexName": index["name"],
            "KeySchema": index["key_schema"],
            "Projection": index["projection"],
        }
        if provisioned:
            gsi["ProvisionedThroughput"] = _provisioned(index.get("throughput") or schema["throughput"])
        gsis.append(gsi)
    if gsis:
        params["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {"IndexName": i["name"], "KeySchema": i["key_schema"], "Projection": i["projection"]}
        for i in schema.get("local_secondary_indexes") or []
    ]
    if lsis:
        params["LocalSecondaryIndexes"] = lsis
    if schema.get("stream"):
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": schema["stream"]["view_type"]}
    sse = schema.get("sse")
    if sse:
        params["SSESpecification"] = {"Enabled": True, "SSEType": sse.get("type") or "KMS"}
        if sse.get("kms_key_arn"):
            params["SSESpecification"]["KMSMasterKeyId"] = sse["kms_key_arn"]
    tags = [{"Key": k, "Value": v} for k, v in sorted(schema.get("tags", {}).items()) if not k.startswith(TAG_PREFIX)]
    if tags:
        params["Tags"] = tags
    return params


def key_names(schema: dict[str, Any]) -> list[str]:
    """The key attributes, partition key first."""
    ordered = sorted(schema["key_schema"], key=lambda k: k["KeyType"] != "HASH")
    return [str(k["AttributeName"]) for k in ordered]


def describe(client: DynamoDBClient, table_name: str) -> dict[str, Any] | None:
    try:
        return dict(client.describe_table(TableName=table_name)["Table"])
    except NotFoundError:
        return None


def wait_active(
    client: DynamoDBClient, table_name: str, *, timeout_s: float = 1800.0, poll_s: float = 2.0
) -> dict[str, Any]:
    """Until the table and every index are ACTIVE (a new table, a capacity change, a restore)."""
    deadline = time.monotonic() + timeout_s
    delay = min(0.2, poll_s)
    while True:
        table = describe(client, table_name)
        if (
            table is not None
            and table.get("TableStatus") == "ACTIVE"
            and all(g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in table.get("GlobalSecondaryIndexes") or [])
        ):
            return table
        if time.monotonic() > deadline:
            state = table.get("TableStatus") if table else "missing"
            raise ConflictError(f"table {table_name} is still {state} after {timeout_s:.0f} s")
        time.sleep(delay)
        delay = min(poll_s, delay * 2)
