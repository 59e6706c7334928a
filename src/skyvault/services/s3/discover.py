"""Discover S3 buckets: one list per account (the namespace is global), each bucket attributed to its region.

ListBuckets may report ``BucketRegion`` (newer S3 API); where it does not, GetBucketLocation does, where a
null constraint means us-east-1 and the legacy ``EU`` means eu-west-1. Tags are read from a client in the
bucket's own region, as S3 expects. Bucket sizes are left unknown: S3 only reports them as a daily CloudWatch
metric, and listing every object is a backup's job, not discovery's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import Resource, partition_for, tags_from_list

_BUCKET_ARN = "arn:${Partition}:s3:::*"

LIST_BUCKETS = declare(
    policy="s3",
    service="s3",
    operation="ListBuckets",
    actions=("s3:ListAllMyBuckets",),
    feature=Feature.DISCOVER,
    step="discover buckets",
    purpose="List the account's S3 buckets (one call per account: the bucket namespace is global).",
)
GET_BUCKET_LOCATION = declare(
    policy="s3",
    service="s3",
    operation="GetBucketLocation",
    feature=Feature.DISCOVER,
    step="discover buckets",
    purpose="Learn which region each bucket lives in, to attribute it and reach it there.",
    resources=(_BUCKET_ARN,),
)
GET_BUCKET_TAGGING = declare(
    policy="s3",
    service="s3",
    operation="GetBucketTagging",
    feature=Feature.DISCOVER,
    step="discover buckets",
    purpose="Read each bucket's tags (plans select buckets by tag).",
    resources=(_BUCKET_ARN,),
)

_LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


def bucket_region(location_constraint: str | None) -> str:
    """GetBucketLocation's answer as a region name."""
    return _LEGACY_LOCATIONS.get(location_constraint) or str(location_constraint)


def _region_of(factory: ClientFactory, account: str, list_region: str, bucket: Mapping[str, Any]) -> str | None:
    if bucket.get("BucketRegion"):
        return str(bucket["BucketRegion"])
    client = factory.client(account, list_region, "s3")
    try:
        return bucket_region(client.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint"))
    except NotFoundError:
        return None  # deleted since ListBuckets


def _tags(factory: ClientFactory, account: str, region: str, name: str) -> dict[str, str]:
    client = factory.client(account, region, "s3")
    try:
        return tags_from_list(client.get_bucket_tagging(Bucket=name).get("TagSet"))
    except NotFoundError:
        return {}  # NoSuchTagSet: the bucket has no tags


def discover_buckets(
    factory: ClientFactory, *, account: str, list_region: str, regions: Collection[str]
) -> list[Resource]:
    """Buckets of ``account`` that live in one of ``regions`` (others are out of the requested scope)."""
    client = factory.client(account, list_region, "s3")
    found = []
    for page in client.get_paginator("list_buckets").paginate():
        for bucket in page.get("Buckets", []):
            name = bucket["Name"]
            region = _region_of(factory, account, list_region, bucket)
            if region is None or region not in regions:
                continue
            created = bucket.get("CreationDate")
            found.append(
                Resource(
                    account=account,
                    region=region,
                    service="s3",
                    id=name,
                    arn=f"arn:{partition_for(region)}:s3:::{name}",
                    name=name,
                    size_bytes=None,
                    tags=_tags(factory, account, region, name),
                    details={"created": created.isoformat() if created is not None else None},
                )
            )
    return found
