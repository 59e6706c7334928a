"""The ``convert`` policy row: every AWS call ``skyvault convert --method direct`` makes, and why; and the EC2
calls of ``convert-vmimport`` (``--method vmimport``) that launch or create volumes from the import (its S3, IAM
and VM Import calls are declared in services/image/vmimport.py, next to them).

The calls themselves run through the EC2 driver's helpers (``ebs_direct.SnapshotWriter``, ``launch``, ``waiting``,
the EC2 cleaners of the job's intermediates); these declarations say that ``convert`` makes them, so
``skyvault policy convert`` is complete on its own (proven under IAM enforcement in tests/permissions).
"""

from __future__ import annotations

from typing import Any

from skyvault.permissions import Feature, declare

_ARN = "arn:${Partition}:ec2:${Region}:${Account}:"
_NO_ACCOUNT = "arn:${Partition}:ec2:${Region}::"  # snapshots and AMIs: IAM's ARNs carry no account
SNAPSHOTS = _NO_ACCOUNT + "snapshot/*"
IMAGES = _NO_ACCOUNT + "image/*"


def _declare(
    service: str, operation: str, step: str, purpose: str, *, feature: Feature = Feature.CONVERT, **more: Any
) -> Any:
    return declare(
        policy="convert", service=service, operation=operation, feature=feature, step=step, purpose=purpose, **more
    )


# -- preflight --------------------------------------------------------------------------------------------------
DESCRIBE_SUBNETS = _declare(
    "ec2", "DescribeSubnets", "preflight", "Find the target subnet (or the region's default subnet) and its zone."
)
# -- write each disk into a snapshot (EBS direct APIs) -------------------------------------------------------------
START_SNAPSHOT = _declare(
    "ebs",
    "StartSnapshot",
    "write snapshots",
    "Create a new snapshot, tagged as skyvault's, for each disk of the image.",
    resources=(SNAPSHOTS,),
    tag_on_create=True,
)
START_SNAPSHOT_TAGS = _declare(
    "ec2",
    "CreateTags",
    "write snapshots",
    "Tag the snapshot StartSnapshot creates in the same request (EBS authorizes its Tags as ec2:CreateTags); tag "
    "the AMI, instance and volumes in their create requests.",
    resources=(SNAPSHOTS, IMAGES, _ARN + "instance/*", _ARN + "volume/*"),
    conditions=(
        ("StringEquals", "ec2:CreateAction", ("StartSnapshot", "RegisterImage", "RunInstances", "CreateVolume")),
    ),
    tags_write=True,
)
PUT_SNAPSHOT_BLOCK = _declare(
    "ebs",
    "PutSnapshotBlock",
    "write snapshots",
    "Write each non-zero block of the image with its SHA-256 checksum (EBS verifies it); zero and unallocated "
    "blocks are never sent.",
    resources=(SNAPSHOTS,),
)
COMPLETE_SNAPSHOT = _declare(
    "ebs",
    "CompleteSnapshot",
    "write snapshots",
    "Seal each written snapshot with the aggregate checksum of all its blocks.",
    resources=(SNAPSHOTS,),
)
DESCRIBE_SNAPSHOTS = _declare(
    "ec2", "DescribeSnapshots", "write snapshots", "Wait until the written snapshots are completed."
)
# -- AMI and instance, or volumes ----------------------------------------------------------------------------------
REGISTER_IMAGE = _declare(
    "ec2",
    "RegisterImage",
    "launch instance",
    "Register a temporary AMI over the written snapshots (root device, boot mode, ENA, architecture) to launch "
    "the instance; deregistered at the end of the job.",
    resources=(IMAGES, SNAPSHOTS),
    tag_on_create=True,
)
DESCRIBE_IMAGES = _declare("ec2", "DescribeImages", "launch instance", "Wait until the temporary AMI is available.")
RUN_INSTANCES = _declare(
    "ec2",
    "RunInstances",
    "launch instance",
    "Launch the converted instance from the temporary AMI (boot disk and data disks), tagged as skyvault's.",
    resources=(
        _ARN + "instance/*",
        _ARN + "volume/*",
        _ARN + "network-interface/*",
        _ARN + "subnet/*",
        _ARN + "security-group/*",
        IMAGES,
    ),
    tag_on_create=True,
)
DESCRIBE_INSTANCES = _declare(
    "ec2", "DescribeInstances", "launch instance", "Wait until the instance runs and check its volumes are attached."
)
DESCRIBE_VOLUMES = _declare(
    "ec2", "DescribeVolumes", "launch instance", "Check each volume's size, and wait for --volumes-only volumes."
)
CREATE_VOLUME = _declare(
    "ec2",
    "CreateVolume",
    "create volumes",
    "Create one volume per disk from its snapshot (--volumes-only), tagged as skyvault's.",
    resources=(_ARN + "volume/*", SNAPSHOTS),
    tag_on_create=True,
)
# -- intermediates ---------------------------------------------------------------------------------------------------
DELETE_SNAPSHOT = _declare(
    "ec2",
    "DeleteSnapshot",
    "clean up intermediates",
    "Delete the snapshots written from the image once the instance or volumes exist (or the job failed).",
    feature=Feature.CLEANUP,
    resources=(SNAPSHOTS,),
    destructive=True,
)
DEREGISTER_IMAGE = _declare(
    "ec2",
    "DeregisterImage",
    "clean up intermediates",
    "Deregister the temporary AMI after launch (or when the job failed).",
    feature=Feature.CLEANUP,
    resources=(IMAGES,),
    destructive=True,
)
DELETE_VOLUME = _declare(
    "ec2",
    "DeleteVolume",
    "clean up intermediates",
    "Delete volumes a failed --volumes-only conversion created.",
    feature=Feature.CLEANUP,
    resources=(_ARN + "volume/*",),
    destructive=True,
)
TERMINATE_INSTANCES = _declare(
    "ec2",
    "TerminateInstances",
    "clean up intermediates",
    "Terminate an instance a failed conversion launched (never one skyvault did not create).",
    feature=Feature.CLEANUP,
    resources=(_ARN + "instance/*",),
    destructive=True,
)


# -- convert-vmimport: the launch / volumes / cleanup calls it shares with the direct path -------------------------
def _vmimport(operation: str, step: str, purpose: str, *, feature: Feature = Feature.CONVERT, **more: Any) -> Any:
    return declare(policy="convert-vmimport", service="ec2", operation=operation, feature=feature, step=step,
                   purpose=purpose, **more)  # fmt: skip


VMIMPORT_DESCRIBE_SUBNETS = _vmimport(
    "DescribeSubnets", "preflight", "Find the target subnet (or the region's default subnet) and its zone."
)
VMIMPORT_DESCRIBE_IMAGES = _vmimport(
    "DescribeImages", "import", "Wait until the imported AMI is available and read which snapshot each disk became."
)
VMIMPORT_RUN_INSTANCES = _vmimport(
    "RunInstances",
    "launch instance",
    "Launch the converted instance from the imported AMI, tagged as skyvault's.",
    resources=(
        _ARN + "instance/*",
        _ARN + "volume/*",
        _ARN + "network-interface/*",
        _ARN + "subnet/*",
        _ARN + "security-group/*",
        IMAGES,
        SNAPSHOTS,
    ),
    tag_on_create=True,
)
VMIMPORT_DESCRIBE_INSTANCES = _vmimport(
    "DescribeInstances", "launch instance", "Wait until the instance runs and check its volumes are attached."
)
VMIMPORT_DESCRIBE_VOLUMES = _vmimport(
    "DescribeVolumes", "launch instance", "Check each volume's size, and wait for --volumes-only volumes."
)
VMIMPORT_CREATE_VOLUME = _vmimport(
    "CreateVolume",
    "create volumes",
    "Create one volume per imported snapshot (--volumes-only), tagged as skyvault's.",
    resources=(_ARN + "volume/*", SNAPSHOTS),
    tag_on_create=True,
)
VMIMPORT_DELETE_SNAPSHOT = _vmimport(
    "DeleteSnapshot",
    "clean up intermediates",
    "Delete the snapshots the import made once the instance or volumes exist (or the job failed).",
    feature=Feature.CLEANUP,
    resources=(SNAPSHOTS,),
    destructive=True,
)
VMIMPORT_DEREGISTER_IMAGE = _vmimport(
    "DeregisterImage",
    "clean up intermediates",
    "Deregister the imported AMI after launch (it is the job's: the instance is the result), or on failure.",
    feature=Feature.CLEANUP,
    resources=(IMAGES,),
    destructive=True,
)
VMIMPORT_DELETE_VOLUME = _vmimport(
    "DeleteVolume",
    "clean up intermediates",
    "Delete volumes a failed --volumes-only conversion created.",
    feature=Feature.CLEANUP,
    resources=(_ARN + "volume/*",),
    destructive=True,
)
VMIMPORT_TERMINATE_INSTANCES = _vmimport(
    "TerminateInstances",
    "clean up intermediates",
    "Terminate an instance a failed conversion launched (never one skyvault did not create).",
    feature=Feature.CLEANUP,
    resources=(_ARN + "instance/*",),
    destructive=True,
)
