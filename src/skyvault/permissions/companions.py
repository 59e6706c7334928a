"""Companion ("dependent") actions of declared calls that skyvault's requests never need, and why.

The Service Authorization Reference lists, for each IAM action, other actions a call *may* need depending on its
parameters (vendored: ``data/iam-reference.json``, ``dependent_actions``). Each one is either declared for the same
policy row and feature as the call, or listed here with the parameter skyvault never sends.
``tests/permissions/test_companions.py`` checks every declaration against the reference, and that each entry here
is still used.

The reference's machine-readable "API operations" table (``Operations`` -> ``AuthorizedActions``, published as
JSON at servicereference.us-east-1.amazonaws.com) is not vendored: the dependent actions are the data kept here.
"""

from __future__ import annotations

from collections.abc import Iterable

from skyvault.permissions.iamref import IamReference, iam_reference
from skyvault.permissions.registry import Permission

_SECRETS = "only with ManageMasterUserPassword / a Secrets Manager master password, which skyvault never sets"
_RDS_KMS_MODIFY = "only when the modify changes encryption or storage; skyvault's ModifyDB* only renames"
_ROLES = (
    "only when the request names an IAM role (MonitoringRoleArn, DomainIAMRoleName, AssociatedRoles...); "
    "skyvault's restores name none, so no role is passed"
)

NOT_NEEDED: dict[tuple[str, str], str] = {
    ("ec2:RunInstances", "ssm:GetParameters"): "only for an ImageId given as an SSM parameter; skyvault passes AMI IDs",
    ("kms:CreateKey", "iam:CreateServiceLinkedRole"): "only for keys in a custom key store; skyvault's key is a "
    "standard symmetric key",
    ("kms:CreateKey", "kms:TagResource"): "only when CreateKey carries Tags; skyvault creates its key untagged and "
    "finds it by its alias",
    (
        "rds:CopyDBSnapshot",
        "rds:CopyCustomDBEngineVersion",
    ): "RDS Custom engine versions only; skyvault copies snapshots, never a custom engine version",
    ("rds:RestoreDBInstanceFromDBSnapshot", "iam:PassRole"): _ROLES,
    ("rds:RestoreDBInstanceFromDBSnapshot", "rds:CreateTenantDatabase"): "multi-tenant Oracle CDB only",
    ("rds:RestoreDBClusterFromSnapshot", "iam:PassRole"): _ROLES,
    ("rds:CreateDBInstance", "iam:PassRole"): _ROLES,
    ("rds:CreateDBInstance", "kms:Decrypt"): "a member instance of a restored cluster uses the cluster's storage "
    "and key (skyvault passes no KmsKeyId or Performance Insights key)",
    ("rds:CreateDBInstance", "kms:GenerateDataKey"): "a member instance of a restored cluster uses the cluster's "
    "storage and key (skyvault passes no KmsKeyId or Performance Insights key)",
    ("rds:CreateDBInstance", "rds:CreateTenantDatabase"): "multi-tenant Oracle CDB only",
    ("rds:CreateDBInstance", "secretsmanager:CreateSecret"): _SECRETS,
    ("rds:CreateDBInstance", "secretsmanager:TagResource"): _SECRETS,
    ("rds:ModifyDBInstance", "iam:PassRole"): _ROLES,
    ("rds:ModifyDBInstance", "kms:CreateGrant"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBInstance", "kms:Decrypt"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBInstance", "kms:DescribeKey"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBInstance", "kms:GenerateDataKey"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBInstance", "rds:AddTagsToResource"): "only when the modify carries tags; a rename carries none",
    ("rds:ModifyDBInstance", "rds:CreateTenantDatabase"): "multi-tenant Oracle CDB only",
    ("rds:ModifyDBInstance", "secretsmanager:CreateSecret"): _SECRETS,
    ("rds:ModifyDBInstance", "secretsmanager:RotateSecret"): _SECRETS,
    ("rds:ModifyDBInstance", "secretsmanager:TagResource"): _SECRETS,
    ("rds:ModifyDBCluster", "iam:PassRole"): _ROLES,
    ("rds:ModifyOptionGroup", "iam:PassRole"): "only for options whose settings name an IAM role (e.g. S3 "
    "integration); skyvault leaves such options out of the groups it creates (services/rds/option_groups.py)",
    ("rds:ModifyDBCluster", "kms:CreateGrant"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBCluster", "kms:Decrypt"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBCluster", "kms:DescribeKey"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBCluster", "kms:GenerateDataKey"): _RDS_KMS_MODIFY,
    ("rds:ModifyDBCluster", "rds:ModifyDBInstance"): "only when the modify changes the members' settings; "
    "a rename of the cluster does not",
    ("rds:ModifyDBCluster", "secretsmanager:CreateSecret"): _SECRETS,
    ("rds:ModifyDBCluster", "secretsmanager:RotateSecret"): _SECRETS,
    ("rds:ModifyDBCluster", "secretsmanager:TagResource"): _SECRETS,
    ("redshift:ModifyCluster", "acm:DescribeCertificate"): "custom domain names only; a rename names none",
    ("redshift:ModifyCluster", "kms:CreateGrant"): "only when the modify changes encryption; a rename does not",
    ("redshift:ModifyCluster", "kms:Decrypt"): "only when the modify changes encryption; a rename does not",
    ("redshift:ModifyCluster", "kms:DescribeKey"): "only when the modify changes encryption; a rename does not",
    ("redshift:ModifyCluster", "kms:GenerateDataKey"): "only when the modify changes encryption; a rename does not",
    ("redshift:ModifyCluster", "kms:RetireGrant"): "only when the modify changes encryption; a rename does not",
}
for _secret in ("CreateSecret", "DeleteSecret", "DescribeSecret", "GetRandomPassword", "RotateSecret",
                "TagResource", "UpdateSecret"):  # fmt: skip
    NOT_NEEDED[("redshift:ModifyCluster", f"secretsmanager:{_secret}")] = _SECRETS
    NOT_NEEDED[("redshift:RestoreFromClusterSnapshot", f"secretsmanager:{_secret}")] = _SECRETS

# Exemptions that hold for one policy row only (the same call elsewhere may send the parameter).
NOT_NEEDED_IN_ROW: dict[tuple[str, str, str], str] = {
    ("convert", "ec2:RunInstances", "iam:PassRole"): "only with IamInstanceProfile; an instance converted from a "
    "disk image is launched without one (attach a role afterwards if it needs one)",
    ("convert-vmimport", "ec2:RunInstances", "iam:PassRole"): "only with IamInstanceProfile; an instance launched "
    "from a VM Import AMI is launched without one (attach a role afterwards if it needs one)",
}


def granted_with(permission: Permission, declarations: Iterable[Permission]) -> set[str]:
    """The actions granted alongside one declaration: its own, and those of its row and feature."""
    granted = set(permission.iam_actions)
    for other in declarations:
        if other.policy == permission.policy and other.feature is permission.feature:
            granted.update(other.iam_actions)
    return granted


def missing_companions(
    permission: Permission,
    declarations: Iterable[Permission],
    *,
    exempt: bool = True,
    reference: IamReference | None = None,
) -> list[tuple[str, str]]:
    """(action, dependent action) pairs of one declaration that are neither granted nor (``exempt``) explained."""
    reference = reference or iam_reference()
    granted = granted_with(permission, list(declarations))
    missing = []
    for name in permission.iam_actions:
        action = reference.action(name)
        for dependent in action.dependent_actions if action else ():
            explained = (name, dependent) in NOT_NEEDED or (permission.policy, name, dependent) in NOT_NEEDED_IN_ROW
            if dependent in granted or (exempt and explained):
                continue
            missing.append((name, dependent))
    return missing
