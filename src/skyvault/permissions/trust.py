"""Policies around the roles: the tenant role's trust, the admin account's AssumeRole policy, the vmimport role.

- Tenant trust: the admin account (or named principals in it) may assume the tenant role, only with the tenant's
  external ID (``sts:ExternalId``: the confused-deputy guard; one external ID per tenant).
- Admin: ``sts:AssumeRole`` on exactly the tenant roles, rendered from the ``admin`` row of the registry.
- vmimport: the service role VM Import/Export (``vmie.amazonaws.com``) assumes to read the image from S3 and
  register it; AWS requires the role name ``vmimport`` and the external ID ``vmimport`` in its trust policy.
  This is AWS's documented role content (the calls are the service's, not skyvault's), scoped to one bucket.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from skyvault.errors import ConfigError
from skyvault.permissions.render import POLICY_VERSION, PolicyDocument, render_policies

_ACCOUNT = re.compile(r"^\d{12}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam::\d{12}:(role|user)/[\w+=,.@/-]+|iam::\d{12}:root)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
VMIMPORT_ROLE = "vmimport"
VMIE_SERVICE = "vmie.amazonaws.com"


def tenant_trust_policy(
    admin_account: str,
    external_id: str,
    *,
    admin_principals: Sequence[str] = (),
    partition: str = "aws",
) -> dict[str, Any]:
    """The tenant role's trust policy. Without ``admin_principals`` the admin account's root delegates the
    decision to the admin account's own IAM policies (``skyvault policy admin``); naming principals is tighter."""
    if not _ACCOUNT.match(admin_account):
        raise ConfigError(f"admin account must be a 12-digit account ID, not {admin_account!r}")
    if not 2 <= len(external_id) <= 1224 or not re.fullmatch(r"[\w+=,.@:/-]+", external_id):
        raise ConfigError("external ID must be 2-1224 characters of letters, digits and +=,.@:/-_")
    for arn in admin_principals:
        if not _PRINCIPAL_ARN.match(arn) or arn.split(":")[4] != admin_account:
            raise ConfigError(f"admin principal {arn!r} is not a role/user ARN in account {admin_account}")
    principal: str | list[str] = (
        (list(admin_principals) if len(admin_principals) > 1 else admin_principals[0])
        if admin_principals
        else f"arn:{partition}:iam::{admin_account}:root"
    )
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "SkyvaultAdminAssumesWithExternalId",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def admin_policy(tenant_roles: Sequence[str]) -> list[PolicyDocument]:
    """The admin account's policy: the ``admin`` row of the registry with AssumeRole scoped to the tenant roles
    (without any, the declared default: skyvault's tenant roles, ``role/skyvault-*``, in any account)."""
    if not tenant_roles:
        return render_policies(["admin"])
    bad = [arn for arn in tenant_roles if not _ROLE_ARN.match(arn)]
    if bad:
        raise ConfigError(f"not an IAM role ARN: {', '.join(bad)}")
    partition = tenant_roles[0].split(":")[1]
    return render_policies(
        ["admin"], values={"Partition": partition}, overrides={"sts:AssumeRole": list(dict.fromkeys(tenant_roles))}
    )


def vmimport_policies(bucket: str, *, kms_key: str | None = None, partition: str = "aws") -> dict[str, Any]:
    """The vmimport service role: ``{"role_name", "trust_policy", "policy"}``."""
    if not _BUCKET.match(bucket):
        raise ConfigError(f"not an S3 bucket name: {bucket!r}")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadImageBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
        },
        {
            "Sid": "ReadImageObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:{partition}:s3:::{bucket}/*",
        },
        {
            "Sid": "RegisterImportedImage",
            "Effect": "Allow",
            "Action": [
                "ec2:CopySnapshot",
                "ec2:Describe*",
                "ec2:ModifySnapshotAttribute",
                "ec2:RegisterImage",
            ],
            "Resource": "*",
        },
    ]
    if kms_key:
        statements.append(
            {
                "Sid": "EncryptImportedSnapshots",
                "Effect": "Allow",
                "Action": [
                    "kms:CreateGrant",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                ],
                "Resource": kms_key,
            }
        )
    trust = {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "VmImportExportAssumes",
                "Effect": "Allow",
                "Principal": {"Service": VMIE_SERVICE},
                "Action": "sts:AssumeRole",
                # AWS's documentation spells the key sts:Externalid; condition key names are case-insensitive.
                "Condition": {"StringEquals": {"sts:Externalid": VMIMPORT_ROLE}},
            }
        ],
    }
    return {
        "role_name": VMIMPORT_ROLE,
        "trust_policy": trust,
        "policy": {"Version": POLICY_VERSION, "Statement": statements},
    }
