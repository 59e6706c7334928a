"""Companion actions: every action AWS may also authorise a declared call as is declared, or is not needed.

The Service Authorization Reference (vendored: ``permissions/data/iam-reference.json``) lists, per IAM action, the
"dependent actions" a call may need besides its own, depending on the request's parameters. For each declaration,
each dependent action must be granted for the same policy row and feature (the declaration's own actions, another
declaration of that row and feature, or a companion bound to the call by ``ec2:CreateAction``), or be listed in
``permissions.companions.NOT_NEEDED`` with the reason skyvault's request never needs it.
"""

from __future__ import annotations

import pytest

from skyvault.permissions.companions import NOT_NEEDED, NOT_NEEDED_IN_ROW, missing_companions
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import Feature, Permission
from skyvault.permissions.render import POLICY_ROWS


def _declared() -> list[Permission]:
    return [p for p in load_declarations() if p.policy in POLICY_ROWS and p.feature is not Feature.LAB]


@pytest.mark.parametrize("permission", _declared(), ids=lambda p: f"{p.policy}-{p.operation}-{p.feature}")
def test_every_dependent_action_is_declared_or_explained(permission: Permission) -> None:
    missing = missing_companions(permission, load_declarations())
    assert not missing, f"{permission.policy} {permission.operation} ({permission.feature}) may also need {missing}"


def test_every_exemption_is_still_used() -> None:
    used = {pair for p in _declared() for pair in missing_companions(p, load_declarations(), exempt=False)}
    assert set(NOT_NEEDED) <= used, sorted(set(NOT_NEEDED) - used)
    used_in_row = {
        (p.policy, *pair) for p in _declared() for pair in missing_companions(p, load_declarations(), exempt=False)
    }
    assert set(NOT_NEEDED_IN_ROW) <= used_in_row, sorted(set(NOT_NEEDED_IN_ROW) - used_in_row)


def test_redshift_restores_of_encrypted_snapshots_may_use_the_key_through_redshift() -> None:
    # RestoreFromClusterSnapshot of a KMS-encrypted snapshot: Redshift decrypts and makes the cluster's data key
    # with the caller's KMS permissions (Service Authorization Reference: dependent actions of the restore).
    for feature in (Feature.RESTORE, Feature.COPY):
        declared = load_declarations().for_operation("redshift", "RestoreFromClusterSnapshot")
        restore = [p for p in declared if p.feature is feature]
        assert restore, feature
        for action in ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"):
            assert action in restore[0].iam_actions, (feature, action)
