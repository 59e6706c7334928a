"""The restricted policies cannot be bypassed: proven with skyvault's evaluator (moto ignores Condition blocks).

Each test plays a request, or a sequence of requests, that skyvault's credentials could send against a resource
skyvault did not create, and checks that every step that would let it delete, overwrite or mark the resource as
its own is denied; and that the requests skyvault's own jobs send are still allowed.
"""

from __future__ import annotations

from typing import Any

import pytest

from skyvault.permissions.conditions import Decision, Request, evaluate
from skyvault.permissions.iamref import iam_reference
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import (
    ALLOW_COPY_SETTING_TAG,
    ALLOW_OVERWRITE_TAG,
    MANAGED_TAG,
    Feature,
    Permission,
    Registry,
)
from skyvault.permissions.render import POLICY_ROWS, render_policies, substitute
from skyvault.permissions.restricted import in_namespace, primary_action, restriction_for

VALUES = {"Partition": "aws", "Account": "111122223333", "Region": "eu-west-1", "Bucket": "lib", "Prefix": "p"}
SNAPSHOT = "arn:aws:ec2:eu-west-1::snapshot/snap-0123"


def policies(row: str, *, restricted: bool) -> list[dict[str, Any]]:
    load_declarations()
    return [d.document() for d in render_policies([row], restricted=restricted, values=VALUES)]


def decide(documents: list[dict[str, Any]], action: str, resource: str, **context: Any) -> Decision:
    return evaluate(documents, Request(action=action, resource=resource, context=context))


@pytest.mark.parametrize("restricted", [False, True])
def test_start_snapshot_may_tag_the_snapshot_it_creates(restricted: bool) -> None:
    # StartSnapshot with Tags is authorised as ebs:StartSnapshot and ec2:CreateTags on the new snapshot.
    ec2 = policies("ec2", restricted=restricted)
    create = {"ec2:CreateAction": "StartSnapshot", "aws:RequestTag/skyvault:managed": "true"}
    assert decide(ec2, "ebs:StartSnapshot", SNAPSHOT, **{"aws:RequestTag/skyvault:managed": "true"}) is Decision.ALLOWED
    assert decide(ec2, "ec2:CreateTags", SNAPSHOT, **create) is Decision.ALLOWED
    # A plain CreateTags call on an existing snapshot carries no ec2:CreateAction: still denied.
    assert decide(ec2, "ec2:CreateTags", SNAPSHOT, **{"aws:RequestTag/skyvault:managed": "true"}) is (
        Decision.IMPLICIT_DENY
    )


# -- companion actions: what AWS also authorises a call as ------------------------------------------------------
def _granted_companions(permission: Permission, registry: Registry) -> set[str]:
    """The actions granted for one operation: its own, and companions declared for it (``ec2:CreateAction``)."""
    granted = set(permission.iam_actions)
    for other in registry.select(policies=[permission.policy], features=[permission.feature]):
        for _, key, values in other.conditions:
            if key == "ec2:CreateAction" and permission.operation in values:
                granted.update(other.iam_actions)
    return granted


def _tag_on_create() -> list[Permission]:
    return [p for p in load_declarations() if p.tag_on_create and p.feature is not Feature.LAB]


@pytest.mark.parametrize("permission", _tag_on_create(), ids=lambda p: f"{p.policy}-{p.operation}-{p.feature}")
def test_tagging_companions_of_tag_on_create_calls_are_declared(permission: Permission) -> None:
    # The reference's dependent actions of the creating action include the tagging action AWS checks when the
    # request carries tags (ebs:StartSnapshot -> ec2:CreateTags): each must be granted for that operation.
    reference = iam_reference()
    action = reference.action(primary_action(permission))
    assert action is not None
    tagging = [d for d in action.dependent_actions if getattr(reference.action(d), "access", "") == "Tagging"]
    missing = set(tagging) - _granted_companions(permission, load_declarations())
    assert not missing, f"{permission.operation} sends tags but {sorted(missing)} is not declared for it"


# -- tag writes IAM cannot bind to the creating call (RDS, DocumentDB, Redshift) ---------------------------------
def _tag_writes() -> list[tuple[Permission, str]]:
    found = []
    for permission in load_declarations():
        if permission.policy not in POLICY_ROWS or permission.feature is Feature.LAB:
            continue
        for action in permission.iam_actions:
            if restriction_for(permission, action).kind == "tag-write":
                found.append((permission, action))
    return found


TAG_WRITES = _tag_writes()


def test_the_unbound_tag_writes_are_all_found() -> None:
    assert {a for _, a in TAG_WRITES} == {"rds:AddTagsToResource", "redshift:CreateTags"}


@pytest.mark.parametrize(
    ("permission", "action"), TAG_WRITES, ids=[f"{p.policy}-{p.operation}-{p.feature}-{a}" for p, a in TAG_WRITES]
)
def test_tag_writes_mark_only_skyvaults_own_names(permission: Permission, action: str) -> None:
    restricted = policies(permission.policy, restricted=True)
    reference = iam_reference()
    for template in reference.templates_for(permission, action):
        own = in_namespace(template)
        # A user's resource where the template allows any name; skyvault's own name where it names only those.
        resource = substitute(template, VALUES).replace("*", "skyvault-job1" if own else "users-data")
        mark = {"aws:TagKeys": [MANAGED_TAG, "skyvault:job"]}
        # skyvault's mark: only on a name in its namespace, which only skyvault's own snapshots and clusters carry.
        assert decide(restricted, action, resource, **mark) is (Decision.ALLOWED if own else Decision.IMPLICIT_DENY), (
            resource
        )
        # The owner's overwrite permission: never.
        overwrite = {"aws:TagKeys": [ALLOW_OVERWRITE_TAG]}
        assert decide(restricted, action, resource, **overwrite) is Decision.IMPLICIT_DENY, resource
        # Other tags (a restore copies the source's tags and adds skyvault:restored-from): allowed.
        other = {"aws:TagKeys": ["Name", "skyvault:restored-from"]}
        assert decide(restricted, action, resource, **other) is Decision.ALLOWED, resource


# -- sequences: no allowed call gives skyvault a hold on a resource it did not create -----------------------------
TAG_WRITE_ACTIONS = ("ec2:CreateTags", "rds:AddTagsToResource", "redshift:CreateTags", "kms:TagResource")


def _users_resources(documents: list[dict[str, Any]]) -> list[str]:
    """Every ARN pattern the policy names, as a resource a user made (any name but skyvault's)."""
    arns: set[str] = set()
    for document in documents:
        for statement in document["Statement"]:
            resources = statement["Resource"]
            for pattern in [resources] if isinstance(resources, str) else resources:
                if pattern != "*" and "skyvault-" not in pattern:
                    parts = pattern.split(":", 5)
                    parts[3] = parts[3].replace("*", "eu-west-1")
                    parts[4] = parts[4].replace("*", "111122223333")
                    arns.add(":".join(parts).replace("*", "users-data"))
    return sorted(arns)


def _rows_naming_resources() -> list[str]:
    rows = [row for row in POLICY_ROWS if load_declarations().select(policies=[row])]
    return [row for row in rows if _users_resources(policies(row, restricted=True))]


@pytest.mark.parametrize("row", _rows_naming_resources())
def test_no_call_marks_a_users_resource_as_skyvaults_or_overwritable(row: str) -> None:
    # A standalone tag call (no ec2:CreateAction: the resource exists) with skyvault's control tags is denied on
    # every resource the restricted policy names: the tag-conditioned destructive statements stay out of reach.
    restricted = policies(row, restricted=True)
    for resource in _users_resources(restricted):
        for tag in (MANAGED_TAG, ALLOW_OVERWRITE_TAG, ALLOW_COPY_SETTING_TAG):
            request = {"aws:TagKeys": [tag], f"aws:RequestTag/{tag}": "true"}
            for action in TAG_WRITE_ACTIONS:
                assert decide(restricted, action, resource, **request) is not Decision.ALLOWED, (action, resource)


def test_a_users_rds_database_cannot_be_marked_then_renamed() -> None:
    rds = policies("rds", restricted=True)
    db = "arn:aws:rds:eu-west-1:111122223333:db:orders"
    assert decide(rds, "rds:ModifyDBInstance", db) is Decision.IMPLICIT_DENY
    mark = {"aws:TagKeys": [ALLOW_OVERWRITE_TAG], f"aws:RequestTag/{ALLOW_OVERWRITE_TAG}": "true"}
    assert decide(rds, "rds:AddTagsToResource", db, **mark) is Decision.IMPLICIT_DENY
    # Only the owner's tag opens it (what a successful AddTagsToResource would have set).
    assert decide(rds, "rds:ModifyDBInstance", db, **{f"aws:ResourceTag/{ALLOW_OVERWRITE_TAG}": "true"}) is (
        Decision.ALLOWED
    )


def test_a_users_snapshot_cannot_be_marked_then_deleted() -> None:
    for row, tag_action, delete, snapshot in (
        ("rds", "rds:AddTagsToResource", "rds:DeleteDBSnapshot", "arn:aws:rds:eu-west-1:111122223333:snapshot:nightly"),
        ("ec2", "ec2:CreateTags", "ec2:DeleteSnapshot", SNAPSHOT),
        ("redshift", "redshift:CreateTags", "redshift:DeleteClusterSnapshot",
         "arn:aws:redshift:eu-west-1:111122223333:snapshot:wh/nightly"),
    ):  # fmt: skip
        documents = policies(row, restricted=True)
        mark = {"aws:TagKeys": [MANAGED_TAG], f"aws:RequestTag/{MANAGED_TAG}": "true"}
        assert decide(documents, tag_action, snapshot, **mark) is Decision.IMPLICIT_DENY, row
        tagged = {f"aws:ResourceTag/{MANAGED_TAG}": "true", f"rds:snapshot-tag/{MANAGED_TAG}": "true"}
        # Even tagged by someone else, a snapshot outside skyvault's names stays out of reach where ARNs are scoped.
        expected = Decision.ALLOWED if row == "ec2" else Decision.IMPLICIT_DENY
        assert decide(documents, delete, snapshot, **tagged) is expected, row


def test_a_users_kms_key_cannot_be_claimed_and_its_policy_rewritten() -> None:
    for row in ("rds", "docdb", "redshift"):
        documents = policies(row, restricted=True)
        key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        mark = {"aws:TagKeys": [MANAGED_TAG], f"aws:RequestTag/{MANAGED_TAG}": "true"}
        assert decide(documents, "kms:TagResource", key, **mark) is Decision.IMPLICIT_DENY
        claimed = {f"aws:ResourceTag/{MANAGED_TAG}": "true", "kms:ResourceAliases": ["alias/skyvault-backup"]}
        assert decide(documents, "kms:PutKeyPolicy", key, **claimed) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("restricted", [False, True])
def test_pass_role_only_to_ec2_and_restricted_only_for_roles_the_owner_tagged(restricted: bool) -> None:
    ec2 = policies("ec2", restricted=restricted)
    admin = "arn:aws:iam::111122223333:role/OrganizationAdmin"
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert decide(ec2, "iam:PassRole", admin, **{"iam:PassedToService": "lambda.amazonaws.com"}) is (
        Decision.IMPLICIT_DENY
    )
    expected = Decision.IMPLICIT_DENY if restricted else Decision.ALLOWED
    assert decide(ec2, "iam:PassRole", admin, **to_ec2) is expected
    tagged = {**to_ec2, "aws:ResourceTag/skyvault:passable": "true"}
    assert decide(ec2, "iam:PassRole", "arn:aws:iam::111122223333:role/web", **tagged) is Decision.ALLOWED


@pytest.mark.parametrize("row", ["ec2", "rds", "docdb", "redshift"])
def test_kms_used_for_skyvault_only_through_the_service(row: str) -> None:
    documents = policies(row, restricted=False)
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    service = {"docdb": "rds"}.get(row, row)
    via = {"kms:ViaService": f"{service}.eu-west-1.amazonaws.com", "kms:GrantIsForAWSResource": "true"}
    assert decide(documents, "kms:CreateGrant", key, **via) is Decision.ALLOWED
    assert decide(documents, "kms:CreateGrant", key) is Decision.IMPLICIT_DENY  # directly: no
    assert decide(documents, "kms:CreateGrant", key, **{**via, "kms:GrantIsForAWSResource": "false"}) is (
        Decision.IMPLICIT_DENY
    )
    other = {"kms:ViaService": "lambda.eu-west-1.amazonaws.com", "kms:GrantIsForAWSResource": "true"}
    assert decide(documents, "kms:CreateGrant", key, **other) is Decision.IMPLICIT_DENY


def test_the_librarys_own_kms_use_stays_direct() -> None:
    library = policies("library", restricted=True)
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert decide(library, "kms:GenerateDataKey", key) is Decision.ALLOWED
    assert decide(library, "kms:Decrypt", key) is Decision.ALLOWED


# -- the Redshift snapshot-copy setting of a user's cluster ------------------------------------------------------
USERS_CLUSTER = "arn:aws:redshift:eu-west-1:111122223333:cluster:warehouse"


@pytest.mark.parametrize("action", ["redshift:EnableSnapshotCopy", "redshift:DisableSnapshotCopy"])
def test_the_copy_setting_of_a_cluster_changes_only_where_its_owner_allowed_it(action: str) -> None:
    # Enabling copies a user's cluster's snapshots to another region; disabling removes a copy setting (the
    # owner's own disaster-recovery copy, perhaps). The Service Authorization Reference gives both the cluster
    # resource with aws:ResourceTag: the restricted policy allows them only on clusters the owner tagged.
    restricted = policies("redshift", restricted=True)
    assert decide(restricted, action, USERS_CLUSTER) is Decision.IMPLICIT_DENY
    assert decide(restricted, action, USERS_CLUSTER, **{f"aws:ResourceTag/{MANAGED_TAG}": "true"}) is (
        Decision.IMPLICIT_DENY
    )
    assert decide(restricted, action, USERS_CLUSTER, **{f"aws:ResourceTag/{ALLOW_COPY_SETTING_TAG}": "true"}) is (
        Decision.ALLOWED
    )
    assert decide(policies("redshift", restricted=False), action, USERS_CLUSTER) is Decision.ALLOWED


def test_skyvault_cannot_give_itself_the_copy_setting_permission() -> None:
    restricted = policies("redshift", restricted=True)
    mark = {"aws:TagKeys": [ALLOW_COPY_SETTING_TAG], f"aws:RequestTag/{ALLOW_COPY_SETTING_TAG}": "true"}
    for cluster in (USERS_CLUSTER, "arn:aws:redshift:eu-west-1:111122223333:cluster:skyvault-tmp-x"):
        assert decide(restricted, "redshift:CreateTags", cluster, **mark) is Decision.IMPLICIT_DENY, cluster
