"""What every service driver shares: the discovered ``Resource``, the discovery target, and small helpers.

A driver's discovery function takes a ``ClientFactory`` and a ``Target`` (one account in one region) and returns
``Resource``s; it raises ``skyvault.errors`` and never prints. The engine fans these calls out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3
MIB = 1024**2

# The discoverable services, in the order reports list them (the CLI contract's names).
SERVICES: tuple[str, ...] = ("ec2", "ebs", "rds", "aurora", "redshift", "docdb", "dynamodb", "s3")

# The policy row (``skyvault policy <row>``) whose permissions each service's discovery needs.
SERVICE_POLICY: dict[str, str] = {
    "ec2": "ec2",
    "ebs": "ec2",
    "rds": "rds",
    "aurora": "rds",
    "redshift": "redshift",
    "docdb": "docdb",
    "dynamodb": "dynamodb",
    "s3": "s3",
}


@dataclass(frozen=True)
class Target:
    """Where a discovery call looks: a configured account (by name, with its 12-digit ID) in one region."""

    account: str
    account_id: str
    region: str

    @property
    def partition(self) -> str:
        return partition_for(self.region)

    def arn(self, service: str, resource: str) -> str:
        """A regional ARN in this account: ``arn(\"ec2\", \"volume/vol-1\")``."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


@dataclass(frozen=True)
class Resource:
    """One protectable resource, addressed by ARN.

    ``size_bytes`` is the provisioned size where the service reports one (EBS volumes, the volumes of an EC2
    instance, RDS allocated storage, Redshift capacity) or the stored size (DynamoDB); ``None`` where the API
    does not say (Aurora and DocumentDB cluster volumes, S3 buckets). ``details`` carries service-specific facts
    an operator needs to plan a backup (state, engine, attached volumes...): JSON-safe values only.
    """

    account: str
    region: str
    service: str
    id: str
    arn: str
    name: str | None
    size_bytes: int | None
    tags: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "region": self.region,
            "service": self.service,
            "id": self.id,
            "arn": self.arn,
            "name": self.name,
            "size_bytes": self.size_bytes,
            "tags": dict(self.tags),
            "details": dict(self.details),
        }


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``...)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def tags_from_list(items: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` (EC2, RDS, Redshift, S3, DynamoDB all use it) -> ``{k: v}``."""
    return {str(item["Key"]): str(item.get("Value", "")) for item in items or ()}


def gib_to_bytes(gib: Any) -> int | None:
    """Provisioned sizes are whole GiB in the APIs; 0 or missing means the service did not say."""
    return int(gib) * GIB if isinstance(gib, int) and gib > 0 else None


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    """Split ID lists for APIs that cap how many IDs one request may name."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
