"""The tags skyvault puts on every EC2/EBS resource it creates, and how they are read back.

Every creation carries ``skyvault:managed=true`` (the restricted policy requires it in the request and only lets
skyvault delete what carries it), the job that created it, the source it came from, and its role:

- ``recovery-point``: a snapshot that *is* a native recovery point (backup without a library copy);
- ``base``: a snapshot kept as the base of the next changed-block copy (one per volume, older ones deleted);
- ``intermediate``: a temporary snapshot, volume or AMI a job deletes before it ends (cleanup's orphan scan
  deletes them when a job crashed);
- ``restored``: what a restore produced for the user (never deleted by skyvault).

``skyvault:token`` names one creation request: jobs record the token in the catalog *before* creating (EC2 IDs are
only known afterwards), so a crash between the two never leaves something the cleanup cannot find.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from skyvault.permissions.registry import MANAGED_TAG, TAG_PREFIX

if TYPE_CHECKING:
    from types_boto3_ec2.literals import ResourceTypeType
    from types_boto3_ec2.type_defs import TagSpecificationTypeDef, TagTypeDef

JOB_TAG = "skyvault:job"
SOURCE_TAG = "skyvault:source"
ROLE_TAG = "skyvault:role"
TOKEN_TAG = "skyvault:token"
DEVICE_TAG = "skyvault:device"

ROLE_RECOVERY_POINT = "recovery-point"
ROLE_BASE = "base"
ROLE_INTERMEDIATE = "intermediate"
ROLE_RESTORED = "restored"


def new_token() -> str:
    return f"svt-{secrets.token_hex(8)}"


def skyvault_tags(*, job_id: str, source: str, role: str, token: str | None = None, **extra: str) -> dict[str, str]:
    tags = {MANAGED_TAG: "true", JOB_TAG: job_id, SOURCE_TAG: source, ROLE_TAG: role}
    if token:
        tags[TOKEN_TAG] = token
    for key, value in extra.items():
        tags[f"{TAG_PREFIX}{key.replace('_', '-')}"] = value
    return tags


def tag_list(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_specifications(tags: dict[str, str], *resource_types: ResourceTypeType) -> list[TagSpecificationTypeDef]:
    return [{"ResourceType": rt, "Tags": tag_list(tags)} for rt in resource_types]


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The user's own tags: AWS-reserved (``aws:``) keys cannot be set, skyvault's are replaced, not copied."""
    return {k: v for k, v in tags.items() if not k.startswith("aws:") and not k.startswith(TAG_PREFIX)}


def is_managed(tags: dict[str, str]) -> bool:
    return tags.get(MANAGED_TAG) == "true"
