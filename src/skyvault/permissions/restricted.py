"""The restricted policy's conditions: what skyvault may destroy, create and untag, decided per declaration.

- ``destructive`` (delete, detach, terminate, deregister): only on resources carrying ``skyvault:managed=true``.
  For the ``restore-overwrite`` feature (replacing a user's original) the resource must instead carry
  ``skyvault:allow-overwrite=true``, a tag only the user sets: skyvault never overwrites what the owner did not
  mark.
- ``destructive`` + ``tags_write`` (DeleteTags, RemoveTagsFromResource, UntagResource): only skyvault's own tag
  keys (``ForAllValues:StringLike aws:TagKeys skyvault:*``) and never "all tags" (``Null aws:TagKeys false``:
  EC2's DeleteTags without keys removes every tag, and ForAllValues alone is vacuously true then).
- ``tag_on_create``: only with ``skyvault:managed=true`` in the request (``aws:RequestTag``).
- Tag writes that IAM cannot bind to the creating call (``rds:AddTagsToResource``, ``redshift:CreateTags``: RDS and
  Redshift have no ``ec2:CreateAction``-like key, so the companion of a create is indistinguishable from a later
  call on an existing resource): never ``skyvault:allow-overwrite``; ``skyvault:managed`` only on ARNs in
  skyvault's own namespace (names starting ``skyvault-``, which every snapshot and temporary cluster it creates
  carries); elsewhere (a restored database, named by the user) only other keys (``ForAllValues:StringNotEquals
  aws:TagKeys``). Tag writes bound to creation by a declared ``ec2:CreateAction`` need nothing more.
- ``redshift:EnableSnapshotCopy`` / ``DisableSnapshotCopy`` change a setting of the user's cluster: only on
  clusters the owner tagged ``skyvault:allow-copy-setting=true`` (a tag skyvault never writes).
- ``iam:PassRole``: only roles the owner tagged ``skyvault:passable=true`` (``aws:ResourceTag``).
- Withheld (not granted at all): ``kms:PutKeyPolicy``. IAM cannot prove a KMS key is skyvault's: a key can only
  be tagged on create with ``kms:TagResource`` on every key (AWS requires it), and an alias can be pointed at any
  key, so the restricted policy never rewrites a key policy (skyvault writes its key's policy when it creates it).

The tag key is the one AWS's IAM reference lists for the action: ``aws:ResourceTag/`` where supported, else the
service's own (``rds:snapshot-tag/``...). An action IAM offers no tag key for stays unconditioned and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from skyvault.permissions.iamref import ActionRef, IamReference, iam_reference
from skyvault.permissions.registry import (
    ALLOW_COPY_SETTING_TAG,
    ALLOW_OVERWRITE_TAG,
    MANAGED_TAG,
    TAG_PREFIX,
    Feature,
    Permission,
)

ConditionBlock = dict[str, dict[str, Any]]

PASSABLE_ROLE_TAG = "skyvault:passable"
# Tags that give skyvault power over a resource: its own mark, and the owner's permissions (to overwrite it, to
# change its snapshot-copy setting). skyvault never writes the owner's ones.
CONTROL_TAGS = (MANAGED_TAG, ALLOW_OVERWRITE_TAG, ALLOW_COPY_SETTING_TAG)
OWNER_TAGS = (ALLOW_OVERWRITE_TAG, ALLOW_COPY_SETTING_TAG)
# Changes to a setting of the user's own resource that IAM can condition on the resource's tags (Service
# Authorization Reference: both act on the ``cluster`` resource, which takes ``aws:ResourceTag``): allowed only
# where the owner put their tag. Enabling copies the cluster's snapshots to another region; disabling removes a
# copy setting, which may be the owner's own disaster-recovery copy.
OWNER_OPT_IN = {
    "redshift:EnableSnapshotCopy": ALLOW_COPY_SETTING_TAG,
    "redshift:DisableSnapshotCopy": ALLOW_COPY_SETTING_TAG,
}
# The last ARN segment names skyvault's own resource (``snapshot:skyvault-*``, ``snapshot:*/skyvault-*``).
_NAMESPACE = re.compile(r"[:/]skyvault-[^:/]*$")
# Actions the restricted policy does not grant, and why (the usage table and docs say so).
WITHHELD = {
    "kms:PutKeyPolicy": "withheld: IAM cannot prove a KMS key is skyvault's (add the vault account to its key "
    "policy yourself)",
}
# Tag-writing actions whose companion use on create IAM cannot tell from a call on an existing resource.
UNBOUND_TAG_WRITES = frozenset({"rds:AddTagsToResource", "redshift:CreateTags", "kms:TagResource"})


@dataclass(frozen=True)
class Restriction:
    """The condition the restricted policy puts on one action of one declaration (``block`` empty: none)."""

    # managed | allow-overwrite | own-tag-keys | create-with-tag | owned-prefix | tag-write | passable-role |
    # withheld | owner-opt-in | unconditionable | none
    kind: str
    block: ConditionBlock
    summary: str
    # Resource types the condition applies to (the one created or destroyed); empty: every resource.
    targets: frozenset[str] = frozenset()
    # tag-write only: the condition on ARNs in skyvault's namespace (``block`` applies to all others).
    owned_block: ConditionBlock | None = None

    def block_for(self, template: str) -> ConditionBlock:
        """The condition for one ARN template (a tag write in skyvault's namespace may also write its mark)."""
        if self.owned_block is not None and in_namespace(template):
            return self.owned_block
        return self.block


NONE = Restriction("none", {}, "")


def in_namespace(template: str) -> bool:
    """Does the ARN template name only resources in skyvault's namespace (``...:skyvault-*``)?"""
    return _NAMESPACE.search(template) is not None


def _declared_keys(permission: Permission) -> set[str]:
    return {key for _, key, _ in permission.conditions}


def _tag_write(permission: Permission, action_name: str) -> Restriction | None:
    if (
        action_name not in UNBOUND_TAG_WRITES
        or permission.destructive
        or "ec2:CreateAction" in _declared_keys(permission)
    ):
        return None
    never = {"ForAllValues:StringNotEquals": {"aws:TagKeys": list(OWNER_TAGS)}}
    return Restriction(
        "tag-write",
        {"ForAllValues:StringNotEquals": {"aws:TagKeys": list(CONTROL_TAGS)}},
        f"never {' or '.join(OWNER_TAGS)}; {MANAGED_TAG} only on skyvault-* names",
        owned_block=never,
    )


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


def _owner_opt_in(action_name: str, reference: IamReference) -> Restriction:
    tag = OWNER_OPT_IN[action_name]
    action = reference.action(action_name)
    key = f"aws:ResourceTag/{tag}"
    types: list[str | None] = list(action.required_resource_types) if action else []
    if action is None or not all(action.supports_key(key, rt) for rt in types or [None]):
        return Restriction("unconditionable", {}, f"IAM offers no resource-tag condition for {action_name}")
    return Restriction("owner-opt-in", {"StringEquals": {key: "true"}}, f"only resources their owner tagged {tag}=true")


def restriction_for(permission: Permission, action_name: str, reference: IamReference | None = None) -> Restriction:
    """The restricted policy's condition for one IAM action of one declaration."""
    if action_name in WITHHELD:
        return Restriction("withheld", {}, WITHHELD[action_name])
    tag_write = _tag_write(permission, action_name)
    if tag_write is not None:
        return tag_write
    if action_name == "iam:PassRole":
        return Restriction(
            "passable-role",
            {"StringEquals": {f"aws:ResourceTag/{PASSABLE_ROLE_TAG}": "true"}},
            f"only roles the owner tagged {PASSABLE_ROLE_TAG}=true",
        )
    if action_name in OWNER_OPT_IN:
        return _owner_opt_in(action_name, reference or iam_reference())
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
