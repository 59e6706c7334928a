"""KMS used on skyvault's behalf by a service: the key may be used only through that service.

EBS, RDS and Redshift encrypt and decrypt with the caller's KMS permissions (a grant for the volume or database,
data keys for the snapshot). AWS's guidance for these companion permissions is to limit them to requests the
service makes (``kms:ViaService`` = ``<service>.<region>.amazonaws.com``) and, for ``kms:CreateGrant``, to grants
for an AWS resource (``kms:GrantIsForAWSResource``), so the credentials cannot decrypt with, or grant away, a key
directly. skyvault's own KMS calls (the library's key wrapping: ``GenerateDataKey``/``Decrypt`` as the declared
operation itself, or ``DescribeKey`` to find its key) stay unconditioned: they are the declaration's primary action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyvault.permissions.registry import IAM_PREFIX, Permission

# Actions a service performs with the caller's KMS permissions (DescribeKey is a read skyvault also makes itself).
SERVICE_KMS_ACTIONS = frozenset(
    {
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:RetireGrant",
    }
)
# The service endpoint KMS sees, per botocore service (the EBS direct APIs are part of EC2's endpoint family).
VIA_SERVICE = {"ec2": "ec2", "ebs": "ec2", "rds": "rds", "docdb": "rds", "redshift": "redshift"}


def via_service(permission: Permission, region: str = "*") -> str | None:
    """The ``kms:ViaService`` value for a declaration's KMS companion actions, or None for skyvault's own use."""
    service = VIA_SERVICE.get(permission.service, IAM_PREFIX.get(permission.service))
    if service is None or permission.service == "kms":
        return None
    return f"{service}.{region}.amazonaws.com"


def service_use_block(permission: Permission, action: str, values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The conditions for one KMS companion action of one declaration (empty when none apply)."""
    if action not in SERVICE_KMS_ACTIONS or action.lower() == f"kms:{permission.operation}".lower():
        return {}
    endpoint = via_service(permission, values.get("Region", "*"))
    if endpoint is None:
        return {}
    block: dict[str, dict[str, Any]] = {"StringLike": {"kms:ViaService": endpoint}}
    if action == "kms:CreateGrant":
        block["Bool"] = {"kms:GrantIsForAWSResource": "true"}
    return block
