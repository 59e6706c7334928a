"""Policy rendering: minimal grants, readable statements, scoping, restricted conditions, size splitting."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from permissions.fakes import SNAPSHOTS, declare_into, ec2_registry
from skyvault.errors import NotFoundError
from skyvault.permissions.registry import Feature, Registry
from skyvault.permissions.render import (
    MANAGED_POLICY_MAX_CHARS,
    policy_size,
    render_policies,
    split_documents,
    substitute,
)


def statements(rows: list[str], **kwargs: Any) -> list[dict[str, Any]]:
    documents = render_policies(rows, registry=ec2_registry(), **kwargs)
    assert len(documents) == 1
    return documents[0].statements


def by_action(stmts: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in stmts if action in s["Action"]]


def test_policy_grants_exactly_the_declared_actions_with_scoped_resources() -> None:
    stmts = statements(["ec2"])
    actions = sorted({a for s in stmts for a in s["Action"]})
    assert actions == sorted(
        f"ec2:{op}"
        for op in ("DescribeInstances", "DescribeVolumes", "CreateSnapshot", "CreateTags", "DeleteSnapshot",
                   "DetachVolume", "TerminateInstances", "DeleteTags")
    )  # fmt: skip
    (describe,) = by_action(stmts, "ec2:DescribeInstances")
    assert describe["Resource"] == "*" and "ec2:DescribeVolumes" in describe["Action"]
    (delete,) = by_action(stmts, "ec2:DeleteSnapshot")
    assert delete["Resource"] == "arn:aws:ec2:*::snapshot/*"
    assert "Condition" not in delete
    for s in stmts:
        assert re.fullmatch(r"[A-Za-z0-9]+", s["Sid"]), s["Sid"]
    assert len({s["Sid"] for s in stmts}) == len(stmts)


def test_values_fill_placeholders() -> None:
    stmts = statements(["ec2"], values={"Partition": "aws-cn", "Account": "111122223333", "Region": "eu-west-1"})
    (detach,) = by_action(stmts, "ec2:DetachVolume")
    assert sorted(detach["Resource"]) == [
        "arn:aws-cn:ec2:eu-west-1:111122223333:instance/*",
        "arn:aws-cn:ec2:eu-west-1:111122223333:volume/*",
    ]
    assert substitute("arn:${Partition}:s3:::${Bucket}/${Prefix}/*", {}) == "arn:aws:s3:::*/*/*"
    assert substitute("${aws:username}", {}) == "${aws:username}"  # IAM policy variables stay


def test_companion_actions_get_their_own_service_resources() -> None:
    stmts = statements(["rds"])
    (grant,) = by_action(stmts, "kms:CreateGrant")
    assert grant["Resource"] == "arn:aws:kms:*:*:key/*"
    (copy,) = by_action(stmts, "rds:CopyDBSnapshot")
    assert copy["Resource"] == "arn:aws:rds:*:*:snapshot:*"


def test_restricted_conditions_destructive_creation_and_tag_removal() -> None:
    stmts = statements(["ec2"], restricted=True)
    managed = {"StringEquals": {"aws:ResourceTag/skyvault:managed": "true"}}
    (delete,) = by_action(stmts, "ec2:DeleteSnapshot")
    assert delete["Condition"] == managed
    # DetachVolume: the volume must be skyvault's; the instance it is detached from need not be.
    detach = {json.dumps(s["Resource"]): s.get("Condition") for s in by_action(stmts, "ec2:DetachVolume")}
    assert detach == {'"arn:aws:ec2:*:*:volume/*"': managed, '"arn:aws:ec2:*:*:instance/*"': None}
    # Terminating: skyvault's own instances (cleanup) or originals the owner marked for overwrite.
    terminate = sorted(json.dumps(s["Condition"]) for s in by_action(stmts, "ec2:TerminateInstances"))
    assert terminate == sorted(
        json.dumps({"StringEquals": {f"aws:ResourceTag/skyvault:{tag}": "true"}})
        for tag in ("allow-overwrite", "managed")
    )
    (untag,) = by_action(stmts, "ec2:DeleteTags")
    assert untag["Condition"] == {
        "ForAllValues:StringLike": {"aws:TagKeys": ["skyvault:*"]},
        "Null": {"aws:TagKeys": "false"},
    }
    create = {json.dumps(s["Resource"]): s.get("Condition") for s in by_action(stmts, "ec2:CreateSnapshot")}
    assert create == {
        '"arn:aws:ec2:*::snapshot/*"': {"StringEquals": {"aws:RequestTag/skyvault:managed": "true"}},
        '"arn:aws:ec2:*:*:volume/*"': None,
    }
    # RDS snapshots: the tag key IAM lists for the action; companion KMS actions only through RDS (kms:ViaService),
    # grants only for an AWS resource.
    rds = statements(["rds"], restricted=True)
    (rds_delete,) = by_action(rds, "rds:DeleteDBSnapshot")
    assert rds_delete["Condition"] == managed
    (grant,) = by_action(rds, "kms:CreateGrant")
    assert grant["Condition"] == {
        "StringLike": {"kms:ViaService": "rds.*.amazonaws.com"},
        "Bool": {"kms:GrantIsForAWSResource": "true"},
    }


def test_unconditioned_grant_makes_conditioned_one_redundant() -> None:
    registry = ec2_registry()
    declare_into(registry, policy="ec2", service="ec2", operation="DeleteSnapshot", resources=("*",),
                 feature=Feature.RESTORE)  # fmt: skip
    stmts = render_policies(["ec2"], registry=registry, restricted=True)[0].statements
    (delete,) = by_action(stmts, "ec2:DeleteSnapshot")
    assert delete["Resource"] == "*" and "Condition" not in delete


def test_feature_filter() -> None:
    stmts = render_policies(["ec2"], registry=ec2_registry(), features=[Feature.DISCOVER])[0].statements
    assert sorted(a for s in stmts for a in s["Action"]) == ["ec2:DescribeInstances", "ec2:DescribeVolumes"]


def test_rows_without_declarations_and_unknown_rows_fail_clearly() -> None:
    with pytest.raises(NotFoundError, match="no permissions are declared for 'dynamodb'"):
        render_policies(["dynamodb"], registry=ec2_registry())
    with pytest.raises(NotFoundError, match="unknown policy row 'ec3'"):
        render_policies(["ec3"], registry=ec2_registry())


def test_large_policies_split_under_the_managed_policy_limit() -> None:
    registry = Registry()
    for n in range(400):
        declare_into(registry, policy="ec2", service="ec2", operation=f"Describe{n:03d}Things",
                     resources=(SNAPSHOTS.replace("*", f"snap-{n:04d}*"),))  # fmt: skip
    documents = render_policies(["ec2"], registry=registry)
    assert len(documents) > 1
    assert [d.name for d in documents] == [f"skyvault-ec2-{i}" for i in range(1, len(documents) + 1)]
    for document in documents:
        assert policy_size(document.document()) <= MANAGED_POLICY_MAX_CHARS
    granted = sorted(a for d in documents for a in d.actions())
    assert granted == sorted(f"ec2:Describe{n:03d}Things" for n in range(400))


def test_a_statement_too_large_alone_is_split_by_actions() -> None:
    statement = {"Sid": "Big", "Effect": "Allow", "Action": [f"ec2:Action{n:04d}" for n in range(600)], "Resource": "*"}
    documents = split_documents("skyvault-x", [statement])
    assert len(documents) >= 2
    assert sorted(a for d in documents for s in d.statements for a in s["Action"]) == statement["Action"]
    assert all(d.size() <= MANAGED_POLICY_MAX_CHARS for d in documents)
