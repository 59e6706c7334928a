"""Rebuild from snapshots: where to launch (subnet, security groups, key, profile), AMI, instance, volumes.

Placement follows the captured configuration where it still applies and says what it changed otherwise: a
subnet, security groups, key pairs and instance profiles belong to one account (and, but for profiles, one region),
so a restore elsewhere uses ``--subnet`` or the target region's default subnet, the VPC's default security group,
no key pair, no profile, and lists each of these in ``warnings``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConflictError, JobError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.ec2 import waiting
from skyvault.services.ec2.capture import InstanceConfig, VolumeConfig
from skyvault.services.ec2.tagging import tag_specifications, user_tags

_ARN = "arn:${Partition}:ec2:${Region}:${Account}:"


def _declare(operation: str, step: str, purpose: str, *, resources: tuple[str, ...] = ("*",), **flags: Any) -> Any:
    return declare(
        policy="ec2",
        service="ec2",
        operation=operation,
        feature=Feature.RESTORE,
        step=step,
        purpose=purpose,
        resources=resources,
        **flags,
    )


DESCRIBE_SUBNETS = _declare(
    "DescribeSubnets", "choose placement", "Find the target subnet (or the region's default subnet) and its VPC."
)
DESCRIBE_SNAPSHOTS = _declare(
    "DescribeSnapshots", "wait for snapshots", "Check the recovery point's snapshots exist and wait until completed."
)
REGISTER_IMAGE = _declare(
    "RegisterImage",
    "register restore AMI",
    "Register a temporary AMI over the restored snapshots to launch the instance (deregistered after launch).",
    resources=(_ARN.replace("${Account}", "") + "image/*", _ARN.replace("${Account}", "") + "snapshot/*"),
    tag_on_create=True,
)
DESCRIBE_IMAGES = _declare("DescribeImages", "register restore AMI", "Wait until the temporary AMI is available.")
# EC2 creates encrypted volumes from encrypted snapshots with the caller's KMS permissions on the key.
KMS_VOLUMES = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
KMS_KEYS = "arn:${Partition}:kms:${Region}:*:key/*"

RUN_INSTANCES = _declare(
    "RunInstances",
    "launch instance",
    "Launch the restored instance with the captured type, network, key, profile, user data and tags "
    "(KMS: encrypted volumes).",
    actions=("ec2:RunInstances", *KMS_VOLUMES),
    resources=(
        KMS_KEYS,
        _ARN + "instance/*",
        _ARN + "volume/*",
        _ARN + "network-interface/*",
        _ARN + "subnet/*",
        _ARN + "security-group/*",
        _ARN + "key-pair/*",
        _ARN.replace("${Account}", "") + "image/*",
    ),
    tag_on_create=True,
)
CREATE_TAGS = _declare(
    "CreateTags",
    "launch instance",
    "Tag the restored instance, volumes, AMI and snapshots in their create request (authorized as CreateTags).",
    resources=(_ARN + "instance/*", _ARN + "volume/*", _ARN.replace("${Account}", "") + "image/*"),
    conditions=(("StringEquals", "ec2:CreateAction", ("RunInstances", "CreateVolume", "RegisterImage")),),
    tags_write=True,
)
PASS_ROLE = declare(
    policy="ec2",
    service="iam",
    operation="PassRole",
    feature=Feature.RESTORE,
    step="launch instance",
    purpose="Launch the restored instance with its captured instance profile (only to EC2).",
    resources=("arn:${Partition}:iam::${Account}:role/*",),
    conditions=(("StringEquals", "iam:PassedToService", ("ec2.amazonaws.com",)),),
)
DESCRIBE_INSTANCES = _declare(
    "DescribeInstances", "verify instance", "Wait until the restored instance runs and check its volumes are attached."
)
DESCRIBE_VOLUMES = _declare(
    "DescribeVolumes", "verify instance", "Check each restored volume's size and type, and wait for new volumes."
)
CREATE_VOLUME = _declare(
    "CreateVolume",
    "create volumes",
    "Create the restored volumes (--volumes-only) with the captured type, size, IOPS, throughput and tags "
    "(KMS: encrypted volumes).",
    actions=("ec2:CreateVolume", *KMS_VOLUMES),
    resources=(_ARN + "volume/*", _ARN.replace("${Account}", "") + "snapshot/*", KMS_KEYS),
    tag_on_create=True,
)


@dataclass
class Placement:
    account: str
    region: str
    subnet_id: str
    vpc_id: str | None
    availability_zone: str
    security_group_ids: list[str]
    key_name: str | None
    iam_instance_profile_arn: str | None
    same_place: bool
    warnings: list[str] = field(default_factory=list)


def _subnet(factory: ClientFactory, account: str, region: str, subnet_id: str) -> dict[str, Any] | None:
    ec2 = factory.client(account, region, "ec2")
    found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}]).get("Subnets", [])
    return dict(found[0]) if found else None


def _default_subnet(factory: ClientFactory, account: str, region: str, zone_hint: str | None) -> dict[str, Any]:
    ec2 = factory.client(account, region, "ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}]).get("Subnets", [])
    if not subnets:
        raise NotFoundError(
            f"no default subnet in account {account!r}, {region}", hint="pass --subnet SUBNET_ID of the target VPC"
        )
    subnets = sorted(subnets, key=lambda s: str(s["AvailabilityZone"]))
    letter = zone_hint[-1] if zone_hint else None
    same_letter = [s for s in subnets if letter and str(s["AvailabilityZone"]).endswith(letter)]
    return dict((same_letter or subnets)[0])


def resolve_placement(
    factory: ClientFactory,
    config: InstanceConfig,
    *,
    account: str,
    region: str,
    target_account_id: str,
    subnet_id: str | None,
) -> Placement:
    same_place = target_account_id == config.account_id and region == config.region
    warnings: list[str] = []
    if subnet_id:
        subnet = _subnet(factory, account, region, subnet_id)
        if subnet is None:
            raise NotFoundError(f"subnet {subnet_id} not found in account {account!r}, {region}")
    else:
        subnet = _subnet(factory, account, region, config.subnet_id) if same_place and config.subnet_id else None
        if subnet is None:
            subnet = _default_subnet(factory, account, region, config.availability_zone)
            if config.subnet_id:
                warnings.append(f"subnet {config.subnet_id} is not available here; using {subnet['SubnetId']}")
    vpc_id = subnet.get("VpcId")
    groups = config.security_group_ids if same_place and vpc_id == config.vpc_id else []
    if config.security_group_ids and not groups:
        warnings.append(
            f"security groups {', '.join(config.security_group_ids)} belong to another VPC/account/region; "
            "the target VPC's default security group applies"
        )
    key_name = config.key_name if same_place else None
    if config.key_name and not key_name:
        warnings.append(f"key pair {config.key_name!r} is regional: launched without a key pair")
    profile = config.iam_instance_profile_arn if target_account_id == config.account_id else None
    if config.iam_instance_profile_arn and not profile:
        warnings.append(f"instance profile {config.iam_instance_profile_arn} is in another account: launched without")
    for eni in config.network_interfaces:
        if eni.private_ip:
            warnings.append(
                f"private IP {eni.private_ip} (device {eni.device_index}) is not reused: a new one is assigned"
            )
    return Placement(
        account=account,
        region=region,
        subnet_id=str(subnet["SubnetId"]),
        vpc_id=vpc_id,
        availability_zone=str(subnet["AvailabilityZone"]),
        security_group_ids=groups,
        key_name=key_name,
        iam_instance_profile_arn=profile,
        same_place=same_place,
        warnings=warnings,
    )


def _ebs_settings(volume: VolumeConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {"VolumeSize": volume.size_gib, "VolumeType": volume.volume_type}
    if volume.iops:
        settings["Iops"] = volume.iops
    if volume.throughput:
        settings["Throughput"] = volume.throughput
    return settings


def block_device_mappings(config: InstanceConfig, snapshots: dict[str, str]) -> list[dict[str, Any]]:
    """The captured devices, each on its restored snapshot, with type, size, IOPS, throughput, delete-on-termination."""
    mappings = []
    for volume in config.volumes:
        snapshot_id = snapshots.get(volume.volume_id)
        if snapshot_id is None:
            continue
        ebs = {"SnapshotId": snapshot_id, "DeleteOnTermination": volume.delete_on_termination, **_ebs_settings(volume)}
        mappings.append({"DeviceName": volume.device, "Ebs": ebs})
    return mappings


def boot_settings(config: InstanceConfig) -> dict[str, Any]:
    """RegisterImage parameters that carry the captured boot and security settings (the snapshots hold none)."""
    params: dict[str, Any] = {}
    if config.boot_mode:
        params["BootMode"] = config.boot_mode
    if config.tpm_support:
        params["TpmSupport"] = config.tpm_support
    if config.uefi_data:
        params["UefiData"] = config.uefi_data
    if config.imds_support:
        params["ImdsSupport"] = config.imds_support
    if config.sriov_net_support:
        params["SriovNetSupport"] = config.sriov_net_support
    return params


def refuse_unlicensable(config: InstanceConfig, source: str, *, volumes_only: bool) -> None:
    """A library restore writes snapshots through the EBS direct APIs, which carry no billing code: an instance of
    a licensed platform (Windows, RHEL, SUSE, SQL Server...) would launch as plain Linux/UNIX, wrongly licensed."""
    if source != "library" or volumes_only or not config.licensed_platform:
        return
    raise ConflictError(
        f"{config.instance_id} runs {config.platform_details or 'a licensed platform'} "
        f"(billing code {config.usage_operation}); snapshots written from the library carry no billing code, so an "
        "instance launched from them would be licensed wrongly",
        hint="restore from the native snapshots (--from snapshot, in the recovery point's account and region), "
        "or restore the volumes only (--volumes-only) and attach them to an instance launched from a licensed AMI",
    )


def register_image(
    factory: ClientFactory,
    placement: Placement,
    config: InstanceConfig,
    snapshots: dict[str, str],
    *,
    name: str,
    tags: dict[str, str],
    on_created: Callable[[str], None] | None = None,
) -> str:
    """A temporary AMI whose block device mappings are the restored snapshots (by device).

    ``on_created(image_id)`` runs as soon as AWS returns the ID, before waiting for the AMI (the job records it)."""
    mappings = block_device_mappings(config, snapshots)
    if not any(m["DeviceName"] == config.root_device_name for m in mappings):
        raise JobError(f"recovery point of {config.instance_id} has no root volume ({config.root_device_name})")
    params: dict[str, Any] = {
        "Name": name[:128],
        "Description": f"skyvault restore of {config.instance_id}"[:255],
        "RootDeviceName": config.root_device_name,
        "VirtualizationType": config.virtualization_type,
        "BlockDeviceMappings": mappings,
        "EnaSupport": config.ena_support,
        "TagSpecifications": tag_specifications(tags, "image"),
    }
    if config.architecture:
        params["Architecture"] = config.architecture
    params.update(boot_settings(config))
    ec2 = factory.client(placement.account, placement.region, "ec2")
    image_id = str(ec2.register_image(**params)["ImageId"])
    if on_created is not None:
        on_created(image_id)
    waiting.images_available(factory, placement.account, placement.region, [image_id])
    return image_id


def run_instance(
    factory: ClientFactory,
    placement: Placement,
    config: InstanceConfig,
    *,
    image_id: str,
    snapshots: dict[str, str],
    instance_type: str | None,
    tags: dict[str, str],
    client_token: str,
    on_created: Callable[[str], None] | None = None,
) -> str:
    """Launch the restored instance; ``on_created(instance_id)`` runs as soon as AWS returns the ID."""
    instance_tags = {**user_tags(config.tags), **tags}
    volume_tags = dict(tags)
    params: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": instance_type or config.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "SubnetId": placement.subnet_id,
        "EbsOptimized": config.ebs_optimized,
        "ClientToken": client_token,  # a retried launch never starts a second instance
        # The AMI already maps these snapshots; repeating the mappings (same snapshots) pins the captured volume
        # settings for this launch and does not depend on how the AMI's mappings are honoured.
        "BlockDeviceMappings": block_device_mappings(config, snapshots),
        "TagSpecifications": [
            *tag_specifications(instance_tags, "instance"),
            *tag_specifications(volume_tags, "volume"),
        ],
    }
    if placement.security_group_ids:
        params["SecurityGroupIds"] = placement.security_group_ids
    if placement.key_name:
        params["KeyName"] = placement.key_name
    if placement.iam_instance_profile_arn:
        params["IamInstanceProfile"] = {"Arn": placement.iam_instance_profile_arn}
    if config.metadata_options:
        params["MetadataOptions"] = dict(config.metadata_options)  # IMDSv2 required stays required
    if config.user_data_b64:
        params["UserData"] = base64.b64decode(config.user_data_b64)  # botocore base64-encodes it again
    ec2 = factory.client(placement.account, placement.region, "ec2")
    reservation = ec2.run_instances(**params)
    instance_id = str(reservation["Instances"][0]["InstanceId"])
    if on_created is not None:
        on_created(instance_id)
    return instance_id


def verify_instance(
    factory: ClientFactory, placement: Placement, config: InstanceConfig, instance_id: str
) -> dict[str, str]:
    """Wait until running; check every captured device is attached with its size. Returns device -> volume ID."""
    ec2 = factory.client(placement.account, placement.region, "ec2")
    waiting.instances_in(factory, placement.account, placement.region, [instance_id], "running")
    # Visible once running, but another endpoint may still answer NotFound (eventual consistency): retry it.
    reservations = waiting.retry_not_found(
        lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"], what=f"describing {instance_id}"
    )
    instance = reservations[0]["Instances"][0]
    attached = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m}
    missing = [v.device for v in config.volumes if v.device not in attached]
    if missing:
        raise JobError(f"restored instance {instance_id} lacks device(s) {', '.join(missing)}")
    ids = [attached[v.device] for v in sorted(config.volumes, key=lambda v: v.device)]
    volumes = waiting.retry_not_found(
        lambda: ec2.describe_volumes(VolumeIds=ids)["Volumes"], what=f"describing the volumes of {instance_id}"
    )
    sizes = {v["VolumeId"]: int(v["Size"]) for v in volumes}
    wrong = [
        f"{v.device}: {sizes.get(attached[v.device])} GiB"
        for v in config.volumes
        if sizes.get(attached[v.device]) != v.size_gib
    ]
    if wrong:
        raise JobError(f"restored instance {instance_id} has volumes of the wrong size ({'; '.join(wrong)})")
    return {v.device: attached[v.device] for v in sorted(config.volumes, key=lambda v: v.device)}


def create_volumes(
    factory: ClientFactory,
    placement: Placement,
    config: InstanceConfig,
    snapshots: dict[str, str],
    *,
    tags_for: dict[str, dict[str, str]],
    on_created: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """One volume per restored snapshot in the placement's zone; returns captured volume ID -> new volume ID.

    ``on_created(volume_id)`` runs for each volume as soon as AWS returns its ID, before waiting for them."""
    ec2 = factory.client(placement.account, placement.region, "ec2")
    created: dict[str, str] = {}
    for volume in config.volumes:
        snapshot_id = snapshots.get(volume.volume_id)
        if snapshot_id is None:
            continue
        params: dict[str, Any] = {
            "AvailabilityZone": placement.availability_zone,
            "SnapshotId": snapshot_id,
            "TagSpecifications": tag_specifications({**user_tags(volume.tags), **tags_for[volume.volume_id]}, "volume"),
            **_ebs_settings(volume),
        }
        params["Size"] = params.pop("VolumeSize")
        created[volume.volume_id] = str(ec2.create_volume(**params)["VolumeId"])
        if on_created is not None:
            on_created(created[volume.volume_id])
    if created:
        waiting.volumes_available(factory, placement.account, placement.region, list(created.values()))
    return created
