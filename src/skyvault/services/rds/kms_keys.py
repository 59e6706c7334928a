"""skyvault's own customer-managed KMS key, one per account and region (alias ``alias/skyvault-backup``).

Why: snapshots encrypted with an AWS-managed key (``aws/rds``, ``aws/redshift``) cannot be shared with another
account, and copies into another region must name a key that lives there. skyvault therefore re-encrypts with
its own key, whose key policy lets the vault (admin) account use it, and encrypts vault and cross-region copies
with the destination's own skyvault key. The key is created on first use with its full key policy, and found by
its alias. It carries no ``skyvault:managed`` tag: tagging on create needs ``kms:TagResource`` on every key (AWS
allows no narrower grant), which would let skyvault mark any key as its own; the restricted policy therefore does
not grant ``kms:PutKeyPolicy`` either (see docs/permissions.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import partition_for

if TYPE_CHECKING:
    from skyvault.aws.clients import KMSClient

ALIAS = "alias/skyvault-backup"
SHARE_SID = "SkyvaultVaultAccountsUseKey"
_ALIAS_ARN = "arn:${Partition}:kms:${Region}:${Account}:alias/skyvault-backup"
_KEY_ARN = "arn:${Partition}:kms:${Region}:${Account}:key/*"


def declare_key_use(policy: str) -> None:
    """Declare skyvault's KMS key calls under one policy row. Each row that needs them calls this (rds and docdb
    here, redshift in its own package), so that 'skyvault policy rds|docdb|redshift' is complete alone."""
    declare(
        policy=policy,
        service="kms",
        operation="DescribeKey",
        feature=Feature.COPY,
        step="find skyvault key",
        purpose="Find skyvault's own KMS key (alias/skyvault-backup) used to encrypt shared and copied snapshots.",
        resources=(_KEY_ARN,),  # IAM evaluates DescribeKey on the key an alias points to
    )
    declare(
        policy=policy,
        service="kms",
        operation="CreateKey",
        feature=Feature.COPY,
        step="create skyvault key",
        purpose="Create skyvault's customer-managed key on first use (AWS-managed keys cannot be shared), with "
        "its key policy.",
    )
    declare(
        policy=policy,
        service="kms",
        operation="CreateAlias",
        feature=Feature.COPY,
        step="create skyvault key",
        purpose="Name skyvault's key alias/skyvault-backup so later jobs find it.",
        resources=(_ALIAS_ARN, _KEY_ARN),
    )
    declare(
        policy=policy,
        service="kms",
        operation="GetKeyPolicy",
        feature=Feature.COPY,
        step="share skyvault key",
        purpose="Check that the vault account may already use skyvault's key"
        + (
            ", and, before a vault copy, the cluster's own customer-managed key (the restore in the vault needs it)."
            if _policy == "redshift"
            else "."
        ),
        resources=(_KEY_ARN,),
    )
    declare(
        policy=policy,
        service="kms",
        operation="PutKeyPolicy",
        feature=Feature.COPY,
        step="share skyvault key",
        purpose="Let the vault account decrypt snapshots encrypted with skyvault's key (its key policy only).",
        resources=(_KEY_ARN,),
        # Only the key behind skyvault's alias: a tag alone would let a role that may tag keys claim any key. The
        # restricted policy withholds it altogether (permissions.restricted.WITHHELD).
        conditions=(("ForAnyValue:StringEquals", "kms:ResourceAliases", (ALIAS,)),),
        destructive=True,
    )


for _policy in ("rds", "docdb"):
    declare_key_use(_policy)

_USE_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncrypt*", "kms:GenerateDataKey*"]


def _root(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:root"


def key_policy(partition: str, owner_id: str, trusted_ids: Sequence[str]) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnerAccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": _root(partition, owner_id)},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if trusted_ids:
        statements.append(
            {
                "Sid": SHARE_SID,
                "Effect": "Allow",
                "Principal": {"AWS": sorted(_root(partition, a) for a in trusted_ids)},
                "Action": _USE_ACTIONS,
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _trusted_in(policy: dict[str, Any]) -> set[str]:
    for statement in policy.get("Statement", []):
        if statement.get("Sid") == SHARE_SID:
            principals = statement.get("Principal", {}).get("AWS", [])
            principals = [principals] if isinstance(principals, str) else principals
            return {p.split(":")[4] for p in principals}
    return set()


def ensure_key(kms: KMSClient, owner_id: str, trusted_ids: Sequence[str] = ()) -> str:
    """The ARN of skyvault's key in ``kms``'s account and region, created or shared as needed."""
    partition = partition_for(kms.region)
    try:
        metadata = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    except NotFoundError:
        created = kms.create_key(
            Description="skyvault: encrypts snapshot copies that are shared with or kept in the vault account",
            Policy=json.dumps(key_policy(partition, owner_id, trusted_ids)),
        )["KeyMetadata"]
        kms.create_alias(AliasName=ALIAS, TargetKeyId=created["KeyId"])
        return str(created["Arn"])
    arn = str(metadata["Arn"])
    if trusted_ids:
        policy = json.loads(kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
        trusted = _trusted_in(policy)
        if not set(trusted_ids) <= trusted:
            policy["Statement"] = [s for s in policy.get("Statement", []) if s.get("Sid") != SHARE_SID]
            policy["Statement"].append(
                key_policy(partition, owner_id, sorted(trusted | set(trusted_ids)))["Statement"][1]
            )
            kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))
    return arn


def allows_use(kms: KMSClient, key_arn: str, account_id: str) -> bool:
    """Whether ``key_arn``'s key policy lets ``account_id`` use the key (an Allow naming the account, its root or
    ``*`` with kms:Decrypt, kms:CreateGrant or kms:*). Grants and IAM policies in the other account are not seen:
    a key policy that names the account is what AWS requires for cross-account use."""
    policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        principals = principal.get("AWS", []) if isinstance(principal, dict) else [principal]
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        named = any(p == "*" or p == account_id or f":{account_id}:" in p for p in principals)
        if named and any(a in ("kms:*", "kms:Decrypt", "kms:CreateGrant") for a in actions):
            return True
    return False
