"""The permission registry: every AWS operation skyvault performs, declared next to the code that calls it.

A driver module declares its calls at import time (pure data, no I/O)::

    DESCRIBE_INSTANCES = declare(
        policy="ec2", service="ec2", operation="DescribeInstances", feature=Feature.DISCOVER,
        step="discover instances", purpose="List instances and their volumes to build the inventory.",
    )

``operation`` is the botocore operation name (what the client's ``before-call`` event carries);
``actions`` default to ``<iam prefix>:<operation>``; ``resources`` are ARN templates with ``${Partition}``,
``${Region}`` and ``${Account}`` placeholders (``*`` where IAM has no resource type for the action).
``destructive`` marks actions the restricted policy only allows on resources carrying skyvault's tag;
``tag_on_create`` marks creations the restricted policy only allows with that tag in the request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

MANAGED_TAG = "skyvault:managed"
ALLOW_OVERWRITE_TAG = "skyvault:allow-overwrite"
# The owner's permission for skyvault to change a Redshift cluster's cross-region snapshot-copy setting.
ALLOW_COPY_SETTING_TAG = "skyvault:allow-copy-setting"
TAG_PREFIX = "skyvault:"

# botocore service name -> IAM action prefix where they differ.
IAM_PREFIX = {"s3control": "s3", "s3outposts": "s3-outposts", "docdb": "rds", "dynamodbstreams": "dynamodb"}


class Feature(StrEnum):
    AUTH = "auth"
    DISCOVER = "discover"
    BACKUP = "backup"
    COPY = "copy"
    RESTORE = "restore"
    RESTORE_OVERWRITE = "restore-overwrite"
    CLEANUP = "cleanup"
    CONVERT = "convert"
    LIBRARY = "library"
    CHECK = "check"
    # Lab tooling only (the demo estate seeder), declared under policy="lab": never part of a generated policy.
    LAB = "lab"


@dataclass(frozen=True)
class Permission:
    policy: str
    service: str
    operation: str
    feature: Feature
    step: str
    purpose: str
    actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ("*",)
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    destructive: bool = False
    tag_on_create: bool = False
    tags_write: bool = False

    @property
    def iam_actions(self) -> tuple[str, ...]:
        if self.actions:
            return self.actions
        prefix = IAM_PREFIX.get(self.service, self.service)
        return (f"{prefix}:{self.operation}",)

    def resources_for(self, action: str) -> tuple[str, ...]:
        """The ARN templates that apply to one of the actions: those of the action's own service (and ``*``).

        A declaration with companion actions lists every resource once, e.g. an encrypted copy declares
        ``actions=("rds:CopyDBSnapshot", "kms:CreateGrant")`` with the snapshot ARNs *and* the KMS key ARN; each
        action is granted on its own service's ARNs. Without a template of its service an action gets them all.
        """
        prefix = action.split(":", 1)[0]
        own = tuple(t for t in self.resources if t == "*" or t.split(":")[2:3] == [prefix])
        return own or self.resources


@dataclass
class Registry:
    """All declarations, indexed by (botocore service, operation)."""

    _items: list[Permission] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, permission: Permission) -> Permission:
        with self._lock:
            if permission not in self._items:
                self._items.append(permission)
        return permission

    def __iter__(self) -> Iterator[Permission]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def for_operation(self, service: str, operation: str) -> list[Permission]:
        return [p for p in self._items if p.service == service and p.operation == operation]

    def is_declared(self, service: str, operation: str) -> bool:
        return any(p.service == service and p.operation == operation for p in self._items)

    def select(
        self, *, policies: Iterable[str] | None = None, features: Iterable[Feature] | None = None
    ) -> list[Permission]:
        wanted_policies = set(policies) if policies is not None else None
        wanted_features = set(features) if features is not None else None
        return [
            p
            for p in self._items
            if (wanted_policies is None or p.policy in wanted_policies)
            and (wanted_features is None or p.feature in wanted_features)
        ]

    def policies(self) -> list[str]:
        """The product's policy rows. Lab tooling (the demo-estate seeder) declares its calls too, so the guard
        accepts them, but they belong to no policy a user deploys."""
        return sorted({p.policy for p in self._items if p.feature is not Feature.LAB})


REGISTRY = Registry()


def declare(
    *,
    policy: str,
    service: str,
    operation: str,
    feature: Feature,
    step: str,
    purpose: str,
    actions: Iterable[str] = (),
    resources: Iterable[str] = ("*",),
    conditions: Iterable[tuple[str, str, tuple[str, ...]]] = (),
    destructive: bool = False,
    tag_on_create: bool = False,
    tags_write: bool = False,
) -> Permission:
    """Declare one use of one AWS operation and return it (kept in the module that makes the call)."""
    return REGISTRY.add(
        Permission(
            policy=policy,
            service=service,
            operation=operation,
            feature=feature,
            step=step,
            purpose=purpose,
            actions=tuple(actions),
            resources=tuple(resources),
            conditions=tuple(conditions),
            destructive=destructive,
            tag_on_create=tag_on_create,
            tags_write=tags_write,
        )
    )
