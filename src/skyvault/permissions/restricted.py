"""The restricted policy's conditions: what skyvault may destroy, create and untag, decided per declaration.

- ``destructive`` (delete, detach, terminate, deregister): only on resources carrying ``skyvault:managed=true``.
  For the ``restore-overwrite`` feature (replacing a user's original) the resource must instead carry
  ``skyvault:allow-overwrite=true``, a tag only the user sets: skyvault never overwrites what the owner did not
  mark.
- ``destructive`` + ``tags_write`` (DeleteTags, RemoveTagsFromResource, UntagResource): only skyvault's own tag
  keys (``ForAllValues:StringLike aws:TagKeys skyvault:*``) and never "all tags" (``Null aws:TagKeys false``:
  EC2's DeleteTags without keys removes every tag, and ForAllValues alone is vacuously true then).
- ``tag_on_create``: only with ``skyvault:managed=true`` in the request (``aws:RequestTag``).

The tag key is the one AWS's IAM reference lists for the action: ``aws:ResourceTag/`` where supported, else the
service's own (``rds:snapshot-tag/``...). An action IAM offers no tag key for stays unconditioned and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skyvault.permissions.iamref import ActionRef, IamReference, iam_reference
from skyvault.permissions.registry import (
    ALLOW_OVERWRITE_TAG,
    MANAGED_TAG,
    TAG_PREFIX,
    Feature,
    Permission,
)

ConditionBlock = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Restriction:
    """The condition the restricted policy puts on one action of one declaration (``block`` empty: none)."""

    kind: str  # managed | allow-overwrite | own-tag-keys | create-with-tag | owned-prefix | unconditionable | none
    block: ConditionBlock
    summary: str
    # Resource types the condition applies to (the one created or destroyed); empty: every resource.
    targets: frozenset[str] = frozenset()


NONE = Restriction("none", {}, "")


def target_resource_types(action: ActionRef, candidates: list[str]) -> list[str]:
    """The resource type an action creates or destroys, read from its name (the noun before any 'From').

    ``DetachVolume`` destroys the attachment of a *volume* (the instance stays unconditioned),
    ``CreateSnapshot`` creates a *snapshot* (the volume read is not created), ``RestoreDBClusterFromSnapshot``
    creates a *cluster*. AWS evaluates the condition against every resource of the request, so conditioning the
    other resources would demand tags on things skyvault neither owns nor creates.
    """
    noun = action.name.split("From")[0].lower()
    best: list[str] = []
    for rt in candidates:
        flat = rt.replace("-", "").lower()
        named = noun.endswith(flat) or noun.endswith(flat + "s")
        if named and (not best or len(flat) > len(best[0].replace("-", ""))):
            best = [rt]
    return best or candidates


def _resource_tag_key(action: ActionRef, tag: str, resource_types: list[str]) -> str | None:
    """The condition key naming a resource tag for this action: aws:ResourceTag, else the service's own."""
    types = resource_types or action.required_resource_types or [None]  # type: ignore[list-item]
    candidates = [f"aws:ResourceTag/{tag}"]
    for rt in types:
        keys = action.condition_keys(rt)
        candidates += sorted(
            k.replace("${TagKey}", tag) for k in keys if k.endswith("/${TagKey}") and "Request" not in k
        )
    for key in candidates:
        if all(action.supports_key(key, rt) for rt in types):
            return key
    return None


def primary_action(permission: Permission) -> str:
    """The action that creates or destroys: the operation's own, not companions such as KMS for encryption."""
    actions = permission.iam_actions
    own = [a for a in actions if a.split(":", 1)[1].lower() == permission.operation.lower()]
    return own[0] if own else actions[0]


def restriction_for(permission: Permission, action_name: str, reference: IamReference | None = None) -> Restriction:
    """The restricted policy's condition for one IAM action of one declaration."""
    if not (permission.destructive or permission.tag_on_create) or action_name != primary_action(permission):
        return NONE
    reference = reference or iam_reference()
    action = reference.action(action_name)
    if action is None:
        return Restriction("unconditionable", {}, f"unknown to IAM's reference: cannot condition {action_name}")
    declared_types = sorted(
        {rt for t in reference.templates_for(permission, action_name) for rt in reference.resource_types_for(action, t)}
    )
    resource_types = target_resource_types(action, declared_types)
    targets = frozenset(resource_types) if resource_types != declared_types else frozenset()

    if permission.destructive and permission.tags_write:
        if not action.supports_key("aws:TagKeys"):
            return Restriction("unconditionable", {}, "IAM offers no aws:TagKeys condition for this action")
        return Restriction(
            "own-tag-keys",
            {"ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_PREFIX}*"]}, "Null": {"aws:TagKeys": "false"}},
            f"only skyvault's own tag keys ({TAG_PREFIX}*)",
        )
    if permission.destructive and all("${Prefix}" in t for t in permission.resources_for(action_name)):
        # Library files carry no tags: their ARN, limited to skyvault's own prefix, is the restriction.
        return Restriction("owned-prefix", {}, "only inside skyvault's own prefix (scoped by the resource ARN)")
    if permission.destructive:
        overwrite = permission.feature is Feature.RESTORE_OVERWRITE
        tag = ALLOW_OVERWRITE_TAG if overwrite else MANAGED_TAG
        key = _resource_tag_key(action, tag, resource_types)
        if key is None:
            return Restriction("unconditionable", {}, "IAM offers no resource-tag condition for this action")
        return Restriction(
            "allow-overwrite" if overwrite else "managed",
            {"StringEquals": {key: "true"}},
            f"only resources tagged {tag}=true",
            targets,
        )
    request_key = f"aws:RequestTag/{MANAGED_TAG}"
    if not all(action.supports_key(request_key, rt) for rt in resource_types or [None]):  # type: ignore[list-item]
        return Restriction("unconditionable", {}, "IAM offers no aws:RequestTag condition for this action")
    return Restriction(
        "create-with-tag",
        {"StringEquals": {request_key: "true"}},
        f"only when created with {MANAGED_TAG}=true",
        targets,
    )
