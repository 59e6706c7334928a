"""A private registry with EC2-like declarations, so rendering is tested independently of which drivers landed."""

from __future__ import annotations

from typing import Any

from skyvault.permissions.registry import Feature, Permission, Registry

SNAPSHOTS = "arn:${Partition}:ec2:${Region}::snapshot/*"
VOLUMES = "arn:${Partition}:ec2:${Region}:${Account}:volume/*"
INSTANCES = "arn:${Partition}:ec2:${Region}:${Account}:instance/*"


def declare_into(registry: Registry, **fields: Any) -> Permission:
    fields.setdefault("feature", Feature.BACKUP)
    fields.setdefault("step", f"step {fields['operation']}")
    fields.setdefault("purpose", f"why {fields['operation']}")
    fields["resources"] = tuple(fields.get("resources", ("*",)))
    fields["actions"] = tuple(fields.get("actions", ()))
    fields["conditions"] = tuple(fields.get("conditions", ()))
    return registry.add(Permission(**fields))


def ec2_registry() -> Registry:
    registry = Registry()
    d = declare_into
    d(registry, policy="ec2", service="ec2", operation="DescribeInstances", feature=Feature.DISCOVER)
    d(registry, policy="ec2", service="ec2", operation="DescribeVolumes", feature=Feature.DISCOVER)
    d(registry, policy="ec2", service="ec2", operation="CreateSnapshot", resources=(SNAPSHOTS, VOLUMES),
      tag_on_create=True)  # fmt: skip
    d(registry, policy="ec2", service="ec2", operation="CreateTags", resources=(SNAPSHOTS,), tags_write=True)
    d(registry, policy="ec2", service="ec2", operation="DeleteSnapshot", resources=(SNAPSHOTS,),
      feature=Feature.CLEANUP, destructive=True)  # fmt: skip
    d(registry, policy="ec2", service="ec2", operation="DetachVolume", resources=(VOLUMES, INSTANCES),
      feature=Feature.RESTORE, destructive=True)  # fmt: skip
    d(registry, policy="ec2", service="ec2", operation="TerminateInstances", resources=(INSTANCES,),
      feature=Feature.RESTORE_OVERWRITE, destructive=True)  # fmt: skip
    d(registry, policy="ec2", service="ec2", operation="TerminateInstances", resources=(INSTANCES,),
      feature=Feature.CLEANUP, destructive=True)  # fmt: skip
    d(registry, policy="ec2", service="ec2", operation="DeleteTags", resources=(SNAPSHOTS,),
      feature=Feature.CLEANUP, destructive=True, tags_write=True)  # fmt: skip
    d(registry, policy="rds", service="rds", operation="CopyDBSnapshot", feature=Feature.COPY, tag_on_create=True,
      actions=("rds:CopyDBSnapshot", "kms:CreateGrant"),
      resources=("arn:${Partition}:rds:${Region}:${Account}:snapshot:*", "arn:${Partition}:kms:*:*:key/*"))  # fmt: skip
    d(registry, policy="rds", service="rds", operation="DeleteDBSnapshot", feature=Feature.CLEANUP,
      resources=("arn:${Partition}:rds:${Region}:${Account}:snapshot:*",), destructive=True)  # fmt: skip
    return registry
