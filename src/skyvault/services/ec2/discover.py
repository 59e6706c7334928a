"""Discover EC2 instances (each with its attached EBS volumes) and EBS volumes in one account and region.

EC2 Describe* actions have no resource-level permissions in IAM, so they are declared on ``*``.
Terminated and shutting-down instances are left out: nothing remains to protect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.permissions import Feature, declare
from skyvault.services.base import Resource, Target, chunks, gib_to_bytes, tags_from_list

DESCRIBE_INSTANCES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeInstances",
    feature=Feature.DISCOVER,
    step="discover instances",
    purpose="List the account's EC2 instances, their tags and the EBS volumes attached to them.",
)
DESCRIBE_INSTANCE_VOLUMES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeVolumes",
    feature=Feature.DISCOVER,
    step="discover instances",
    purpose="Read the size of each volume attached to an instance, to report the instance's size.",
)
DESCRIBE_VOLUMES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeVolumes",
    feature=Feature.DISCOVER,
    step="discover volumes",
    purpose="List the account's EBS volumes with their size, type, encryption, attachments and tags.",
)

LIVE_STATES = ["pending", "running", "stopping", "stopped"]
# DescribeVolumes accepts many IDs, but very long requests are refused; 200 keeps each one well below limits.
VOLUME_IDS_PER_CALL = 200


def _name(tags: dict[str, str]) -> str | None:
    return tags.get("Name") or None


def _volume_sizes(factory: ClientFactory, target: Target, volume_ids: list[str]) -> dict[str, int]:
    client = factory.client(target.account, target.region, "ec2")
    sizes: dict[str, int] = {}
    for batch in chunks(sorted(set(volume_ids)), VOLUME_IDS_PER_CALL):
        # A volume can vanish between the two calls (instance terminated meanwhile): filter by ID instead of
        # naming the IDs, which would fail the whole batch with InvalidVolume.NotFound.
        for page in client.get_paginator("describe_volumes").paginate(Filters=[{"Name": "volume-id", "Values": batch}]):
            for volume in page.get("Volumes", []):
                sizes[volume["VolumeId"]] = int(volume["Size"])
    return sizes


def _instance_resource(target: Target, instance: Mapping[str, Any], sizes: dict[str, int]) -> Resource:
    tags = tags_from_list(instance.get("Tags"))
    volumes = []
    for mapping in instance.get("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs")
        if not ebs or "VolumeId" not in ebs:
            continue
        size = sizes.get(ebs["VolumeId"])
        volumes.append(
            {
                "volume_id": ebs["VolumeId"],
                "device": mapping.get("DeviceName"),
                "size_bytes": gib_to_bytes(size),
                "delete_on_termination": bool(ebs.get("DeleteOnTermination", False)),
            }
        )
    known = [v["size_bytes"] for v in volumes if v["size_bytes"] is not None]
    instance_id = instance["InstanceId"]
    return Resource(
        account=target.account,
        region=target.region,
        service="ec2",
        id=instance_id,
        arn=target.arn("ec2", f"instance/{instance_id}"),
        name=_name(tags),
        # Only when every volume's size is known: a partial sum would understate what a backup reads.
        size_bytes=sum(known) if volumes and len(known) == len(volumes) else None,
        tags=tags,
        details={
            "state": instance.get("State", {}).get("Name"),
            "instance_type": instance.get("InstanceType"),
            "availability_zone": instance.get("Placement", {}).get("AvailabilityZone"),
            "vpc_id": instance.get("VpcId"),
            "subnet_id": instance.get("SubnetId"),
            "image_id": instance.get("ImageId"),
            "root_device": instance.get("RootDeviceName"),
            "platform": instance.get("PlatformDetails") or instance.get("Platform"),
            "volumes": volumes,
        },
    )


def discover_instances(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "ec2")
    instances: list[Mapping[str, Any]] = []
    for page in client.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}]
    ):
        for reservation in page.get("Reservations", []):
            instances.extend(reservation.get("Instances", []))
    volume_ids = [
        m["Ebs"]["VolumeId"]
        for i in instances
        for m in i.get("BlockDeviceMappings", [])
        if "VolumeId" in m.get("Ebs", {})
    ]
    sizes = _volume_sizes(factory, target, volume_ids) if volume_ids else {}
    return [_instance_resource(target, instance, sizes) for instance in instances]


def _volume_resource(target: Target, volume: Mapping[str, Any]) -> Resource:
    tags = tags_from_list(volume.get("Tags"))
    volume_id = volume["VolumeId"]
    attachments = [
        {"instance_id": a.get("InstanceId"), "device": a.get("Device"), "state": a.get("State")}
        for a in volume.get("Attachments", [])
    ]
    return Resource(
        account=target.account,
        region=target.region,
        service="ebs",
        id=volume_id,
        arn=target.arn("ec2", f"volume/{volume_id}"),
        name=_name(tags),
        size_bytes=gib_to_bytes(volume.get("Size")),
        tags=tags,
        details={
            "state": volume.get("State"),
            "volume_type": volume.get("VolumeType"),
            "availability_zone": volume.get("AvailabilityZone"),
            "encrypted": bool(volume.get("Encrypted", False)),
            "kms_key_id": volume.get("KmsKeyId"),
            "iops": volume.get("Iops"),
            "snapshot_id": volume.get("SnapshotId") or None,
            "attachments": attachments,
        },
    )


def discover_volumes(factory: ClientFactory, target: Target) -> list[Resource]:
    client = factory.client(target.account, target.region, "ec2")
    return [
        _volume_resource(target, volume)
        for page in client.get_paginator("describe_volumes").paginate()
        for volume in page.get("Volumes", [])
    ]
