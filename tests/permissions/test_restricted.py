"""The restricted policy's conditions, proven with skyvault's evaluator (moto ignores Condition blocks).

For every conditioned declaration (the fake EC2 registry and everything the real registry holds): the
restricted policy denies the call without skyvault's tag and allows it with the tag; the unrestricted policy
allows both.
"""

from __future__ import annotations

from typing import Any

import pytest

from permissions.fakes import ec2_registry
from skyvault.permissions.check import sample_arn
from skyvault.permissions.conditions import Decision, Request, evaluate
from skyvault.permissions.iamref import iam_reference
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import Feature, Permission, Registry
from skyvault.permissions.render import POLICY_ROWS, render_policies
from skyvault.permissions.restricted import primary_action, restriction_for

VALUES = {"Partition": "aws", "Account": "111122223333", "Region": "eu-west-1", "Bucket": "lib", "Prefix": "p"}
SNAPSHOT = "arn:aws:ec2:eu-west-1::snapshot/snap-0123"
INSTANCE = "arn:aws:ec2:eu-west-1:111122223333:instance/i-0123"
VOLUME = "arn:aws:ec2:eu-west-1:111122223333:volume/vol-0123"
MANAGED = {"aws:ResourceTag/skyvault:managed": "true"}


def documents(registry: Registry, row: str, *, restricted: bool) -> list[dict[str, Any]]:
    return [d.document() for d in render_policies([row], registry=registry, restricted=restricted, values=VALUES)]


def decide(policies: list[dict[str, Any]], action: str, resource: str, **context: Any) -> Decision:
    return evaluate(policies, Request(action=action, resource=resource, context=context.get("context", {})))


@pytest.fixture(scope="module")
def ec2() -> dict[bool, list[dict[str, Any]]]:
    registry = ec2_registry()
    return {r: documents(registry, "ec2", restricted=r) for r in (False, True)}


def test_delete_only_skyvault_managed_snapshots(ec2: dict[bool, list[dict[str, Any]]]) -> None:
    assert decide(ec2[True], "ec2:DeleteSnapshot", SNAPSHOT) is Decision.IMPLICIT_DENY
    other = {"aws:ResourceTag/skyvault:managed": "false", "aws:ResourceTag/Name": "db"}
    assert decide(ec2[True], "ec2:DeleteSnapshot", SNAPSHOT, context=other) is Decision.IMPLICIT_DENY
    assert decide(ec2[True], "ec2:DeleteSnapshot", SNAPSHOT, context=MANAGED) is Decision.ALLOWED
    assert decide(ec2[False], "ec2:DeleteSnapshot", SNAPSHOT) is Decision.ALLOWED


def test_detach_needs_the_tag_on_the_volume_only(ec2: dict[bool, list[dict[str, Any]]]) -> None:
    assert decide(ec2[True], "ec2:DetachVolume", VOLUME) is Decision.IMPLICIT_DENY
    assert decide(ec2[True], "ec2:DetachVolume", VOLUME, context=MANAGED) is Decision.ALLOWED
    assert decide(ec2[True], "ec2:DetachVolume", INSTANCE) is Decision.ALLOWED  # the user's instance: untagged


def test_overwrite_needs_the_owners_allow_overwrite_tag(ec2: dict[bool, list[dict[str, Any]]]) -> None:
    assert decide(ec2[True], "ec2:TerminateInstances", INSTANCE) is Decision.IMPLICIT_DENY
    allowed = {"aws:ResourceTag/skyvault:allow-overwrite": "true"}
    assert decide(ec2[True], "ec2:TerminateInstances", INSTANCE, context=allowed) is Decision.ALLOWED
    assert decide(ec2[True], "ec2:TerminateInstances", INSTANCE, context=MANAGED) is Decision.ALLOWED  # cleanup


def test_tag_removal_only_of_skyvault_keys(ec2: dict[bool, list[dict[str, Any]]]) -> None:
    def untag(keys: list[str] | None) -> Decision:
        context = {} if keys is None else {"aws:TagKeys": keys}
        return decide(ec2[True], "ec2:DeleteTags", SNAPSHOT, context=context)

    assert untag(["skyvault:managed", "skyvault:job"]) is Decision.ALLOWED
    assert untag(["skyvault:managed", "Name"]) is Decision.IMPLICIT_DENY
    assert untag(None) is Decision.IMPLICIT_DENY  # DeleteTags without keys removes every tag


def test_creation_only_with_the_tag(ec2: dict[bool, list[dict[str, Any]]]) -> None:
    tagged = {"aws:RequestTag/skyvault:managed": "true"}
    assert decide(ec2[True], "ec2:CreateSnapshot", SNAPSHOT) is Decision.IMPLICIT_DENY
    assert decide(ec2[True], "ec2:CreateSnapshot", SNAPSHOT, context=tagged) is Decision.ALLOWED
    assert decide(ec2[True], "ec2:CreateSnapshot", VOLUME) is Decision.ALLOWED  # the source volume is the user's


# -- every conditioned declaration of the real registry ----------------------------------------------------
def _conditioned() -> list[tuple[Permission, str]]:
    registry = load_declarations()
    found = []
    for permission in registry:
        if permission.policy not in POLICY_ROWS or permission.feature is Feature.LAB:
            continue
        action = primary_action(permission)
        restriction = restriction_for(permission, action)
        # Tag writes are proven per ARN template (skyvault's namespace or not) in test_bypass.py.
        if restriction.block and restriction.kind != "tag-write":
            found.append((permission, action))
    return found


CONDITIONED = _conditioned()


@pytest.mark.parametrize(
    ("permission", "action"), CONDITIONED, ids=[f"{p.policy}-{a}-{p.feature}" for p, a in CONDITIONED]
)
def test_registry_conditions_deny_without_and_allow_with_skyvault_tags(permission: Permission, action: str) -> None:
    registry = load_declarations()
    restricted = documents(registry, permission.policy, restricted=True)
    unrestricted = documents(registry, permission.policy, restricted=False)
    restriction = restriction_for(permission, action)
    ref = iam_reference()
    for template in ref.templates_for(permission, action):
        resource = sample_arn(template, VALUES)
        if restriction.targets:
            named = set(ref.resource_types_for(ref.action(action), template))  # type: ignore[arg-type]
            if not named & restriction.targets:
                continue
        satisfied: dict[str, Any] = {}
        for operator, keys in restriction.block.items():
            for key in keys:
                if operator == "Null":
                    continue
                satisfied[key] = ["skyvault:managed"] if key == "aws:TagKeys" else "true"
        violated = {k: (["Name"] if k == "aws:TagKeys" else "false") for k in satisfied}
        # The declaration's own conditions (e.g. kms:ResourceAliases) hold in every case: only the tags vary.
        declared = {key: list(values) for _, key, values in permission.conditions}
        satisfied, violated = {**declared, **satisfied}, {**declared, **violated}
        with_tags = decide(restricted, action, resource, context=satisfied)
        assert with_tags is Decision.ALLOWED, (action, resource, restriction.block)
        # Denied unless another declaration of the same row grants the action unconditioned (then it is not
        # destructive for that feature, and the usage table says so).
        others = [
            p
            for p in registry.select(policies=[permission.policy])
            if action in p.iam_actions and not restriction_for(p, action).block
        ]
        if not others:
            assert decide(restricted, action, resource, context=violated) is Decision.IMPLICIT_DENY
            assert decide(restricted, action, resource, context=declared) is Decision.IMPLICIT_DENY
        assert decide(unrestricted, action, resource, context=violated) is Decision.ALLOWED


def test_every_conditioned_declaration_is_tested() -> None:
    # The parametrised proof above must cover the restricted conditions the registry actually renders.
    assert all(restriction_for(p, a).block for p, a in CONDITIONED)


# The tag-on-create companions (rds:AddTagsToResource, redshift:CreateTags; kms:TagResource is no longer used) cannot
# be bound to the creating call by IAM: on a user's resource they must never write skyvault's mark or the owner's
# overwrite permission, or the tag-conditioned actions would then reach it.
@pytest.mark.parametrize("tag", ["skyvault:managed", "skyvault:allow-overwrite"])
@pytest.mark.parametrize(
    ("row", "action", "resource"),
    [
        ("rds", "rds:AddTagsToResource", "arn:aws:rds:eu-west-1:111122223333:db:users-db"),
        ("rds", "rds:AddTagsToResource", "arn:aws:rds:eu-west-1:111122223333:snapshot:users-snapshot"),
        ("docdb", "rds:AddTagsToResource", "arn:aws:rds:eu-west-1:111122223333:cluster:users-docs"),
        ("docdb", "rds:AddTagsToResource", "arn:aws:rds:eu-west-1:111122223333:cluster-snapshot:users-snap"),
        ("redshift", "redshift:CreateTags", "arn:aws:redshift:eu-west-1:111122223333:cluster:users-warehouse"),
        ("redshift", "redshift:CreateTags", "arn:aws:redshift:eu-west-1:111122223333:snapshot:users-wh/nightly"),
        ("rds", "kms:TagResource", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("redshift", "kms:TagResource", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ],
)
def test_restricted_policy_cannot_mark_a_users_resource_as_skyvaults(
    row: str, action: str, resource: str, tag: str
) -> None:
    load_declarations()
    policies = [d.document() for d in render_policies([row], restricted=True, values=VALUES)]
    for keys in ([tag], [tag, "Name"], ["skyvault:job", tag]):
        context = {f"aws:RequestTag/{tag}": "true", "aws:TagKeys": keys}
        assert decide(policies, action, resource, context=context) is not Decision.ALLOWED, (keys, resource)


@pytest.mark.parametrize("row", ["rds", "docdb", "redshift"])
def test_key_policy_rewrites_only_touch_the_key_behind_skyvaults_alias(row: str) -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    tags = {"aws:ResourceTag/skyvault:managed": "true"}
    ours = {**tags, "kms:ResourceAliases": ["alias/skyvault-backup"]}
    users = {**tags, "kms:ResourceAliases": ["alias/payments"]}
    unrestricted = documents(load_declarations(), row, restricted=False)
    assert decide(unrestricted, "kms:PutKeyPolicy", key, context=ours) is Decision.ALLOWED
    assert decide(unrestricted, "kms:PutKeyPolicy", key, context=users) is Decision.IMPLICIT_DENY
    # Restricted: IAM cannot prove which key skyvault created (an alias can point anywhere, a key can only be
    # tagged on create with kms:TagResource on every key), so no key policy is ever rewritten.
    restricted = documents(load_declarations(), row, restricted=True)
    assert decide(restricted, "kms:PutKeyPolicy", key, context=ours) is Decision.IMPLICIT_DENY
