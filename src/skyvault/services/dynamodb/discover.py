"""Discover DynamoDB tables in one account and region: schema facts, stored size, item count and tags.

``dynamodb:DescribeTable`` and ``dynamodb:ListTagsOfResource`` accept table ARNs; ``dynamodb:ListTables``
has no resource-level permissions (``*``). Sizes and item counts are AWS's figures, refreshed about every six
hours, which is what discovery needs (a backup measures exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import Resource, Target, tags_from_list

_TABLE_ARN = "arn:${Partition}:dynamodb:${Region}:${Account}:table/*"

LIST_TABLES = declare(
    policy="dynamodb",
    service="dynamodb",
    operation="ListTables",
    feature=Feature.DISCOVER,
    step="discover tables",
    purpose="List the names of the account's DynamoDB tables.",
)
DESCRIBE_TABLE = declare(
    policy="dynamodb",
    service="dynamodb",
    operation="DescribeTable",
    feature=Feature.DISCOVER,
    step="discover tables",
    purpose="Read each table's ARN, key schema, indexes, billing mode, size and item count.",
    resources=(_TABLE_ARN,),
)
LIST_TAGS_OF_RESOURCE = declare(
    policy="dynamodb",
    service="dynamodb",
    operation="ListTagsOfResource",
    feature=Feature.DISCOVER,
    step="discover tables",
    purpose="Read each table's tags (plans select tables by tag).",
    resources=(_TABLE_ARN,),
)


def _table_resource(target: Target, table: Mapping[str, Any], tags: dict[str, str]) -> Resource:
    billing = table.get("BillingModeSummary", {}).get("BillingMode") or "PROVISIONED"
    return Resource(
        account=target.account,
        region=target.region,
        service="dynamodb",
        id=table["TableName"],
        arn=table.get("TableArn") or target.arn("dynamodb", f"table/{table['TableName']}"),
        name=table["TableName"],
        size_bytes=int(table.get("TableSizeBytes", 0)),
        tags=tags,
        details={
            "status": table.get("TableStatus"),
            "item_count": table.get("ItemCount"),
            "billing_mode": billing,
            "key_schema": {k["AttributeName"]: k["KeyType"] for k in table.get("KeySchema", [])},
            "global_secondary_indexes": [g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])],
            "local_secondary_indexes": [i["IndexName"] for i in table.get("LocalSecondaryIndexes", [])],
            "stream": table.get("StreamSpecification", {}).get("StreamViewType"),
        },
    )


def discover_tables(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "dynamodb")
    names = [name for page in client.get_paginator("list_tables").paginate() for name in page.get("TableNames", [])]
    found = []
    for name in names:
        try:
            table = client.describe_table(TableName=name)["Table"]
            tags = {
                key: value
                for page in client.get_paginator("list_tags_of_resource").paginate(ResourceArn=table["TableArn"])
                for key, value in tags_from_list(page.get("Tags")).items()
            }
        except NotFoundError:
            continue  # deleted since ListTables: nothing left to protect
        found.append(_table_resource(target, table, tags))
    return found
