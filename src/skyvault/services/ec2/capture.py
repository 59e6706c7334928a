"""Capture what it takes to rebuild an EC2 instance: placement, network, identity, user data, tags and disks.

The result is a JSON-able ``InstanceConfig`` stored with the recovery point (catalog) and in each library
manifest (so a library alone can rebuild the instance after the source account is lost). Only what a launch can
reproduce is kept: private IPs are recorded for information (a replacement cannot reuse an address the original
still holds), instance store volumes are skipped (their data never survives a stop).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.services.base import tags_from_list

DESCRIBE_INSTANCES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeInstances",
    feature=Feature.BACKUP,
    step="capture instance configuration",
    purpose="Read the instance's type, AMI, network, security groups, key, profile, tags and block devices.",
)
DESCRIBE_VOLUMES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeVolumes",
    feature=Feature.BACKUP,
    step="capture instance configuration",
    purpose="Read each attached volume's type, size, IOPS, throughput and encryption to recreate it.",
)
DESCRIBE_USER_DATA = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeInstanceAttribute",
    feature=Feature.BACKUP,
    step="capture instance configuration",
    purpose="Read the instance's user data so a restored instance boots with the same bootstrap script.",
    resources=("arn:${Partition}:ec2:${Region}:${Account}:instance/*",),
)
GET_UEFI_DATA = declare(
    policy="ec2",
    service="ec2",
    operation="GetInstanceUefiData",
    feature=Feature.BACKUP,
    step="capture instance configuration",
    purpose="Read a UEFI instance's UEFI variable store (Secure Boot keys, boot entries) so a restore boots alike.",
    resources=("arn:${Partition}:ec2:${Region}:${Account}:instance/*",),
)
DESCRIBE_IMAGES = declare(
    policy="ec2",
    service="ec2",
    operation="DescribeImages",
    feature=Feature.BACKUP,
    step="capture instance configuration",
    purpose="Read the source AMI's architecture, virtualization type and ENA support to register a restore AMI.",
)


@dataclass
class VolumeConfig:
    device: str
    volume_id: str
    size_gib: int
    volume_type: str
    iops: int | None = None
    throughput: int | None = None
    encrypted: bool = False
    kms_key_id: str | None = None
    delete_on_termination: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return self.size_gib * 1024**3


@dataclass
class NetworkInterfaceConfig:
    device_index: int
    subnet_id: str | None
    private_ip: str | None
    secondary_private_ips: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    delete_on_termination: bool = True


@dataclass
class InstanceConfig:
    instance_id: str
    account_id: str
    region: str
    availability_zone: str | None
    instance_type: str
    image_id: str | None
    architecture: str | None
    virtualization_type: str
    ena_support: bool
    root_device_name: str
    subnet_id: str | None
    vpc_id: str | None
    security_group_ids: list[str]
    key_name: str | None
    iam_instance_profile_arn: str | None
    user_data_b64: str | None
    tags: dict[str, str]
    ebs_optimized: bool
    volumes: list[VolumeConfig]
    network_interfaces: list[NetworkInterfaceConfig]
    state: str | None = None
    # Boot and security settings a restore must carry over (none of them live in the snapshots).
    boot_mode: str | None = None  # legacy-bios | uefi | uefi-preferred
    tpm_support: str | None = None  # v2.0: NitroTPM
    uefi_data: str | None = None  # base64 UEFI variable store (GetInstanceUefiData)
    imds_support: str | None = None  # v2.0: the AMI forces IMDSv2
    metadata_options: dict[str, Any] = field(default_factory=dict)  # HttpTokens, HttpEndpoint, hop limit...
    sriov_net_support: str | None = None  # simple: Intel 82599 VF enhanced networking
    # Billing (AMI billing information fields): snapshots written through the EBS direct APIs carry no billing
    # code, so an instance whose UsageOperation is not plain "RunInstances" (Windows, RHEL, SUSE, SQL Server...)
    # cannot be rebuilt from the library with its licence.
    platform_details: str | None = None
    usage_operation: str | None = None

    @property
    def licensed_platform(self) -> bool:
        return bool(self.usage_operation) and self.usage_operation != "RunInstances"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceConfig:
        doc = dict(data)
        doc["volumes"] = [VolumeConfig(**v) for v in doc.get("volumes", [])]
        doc["network_interfaces"] = [NetworkInterfaceConfig(**n) for n in doc.get("network_interfaces", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in doc.items() if k in known})

    def volume(self, volume_id: str) -> VolumeConfig:
        for volume in self.volumes:
            if volume.volume_id == volume_id:
                return volume
        raise NotFoundError(f"instance {self.instance_id} has no captured volume {volume_id}")

    @property
    def root_volume(self) -> VolumeConfig | None:
        return next((v for v in self.volumes if v.device == self.root_device_name), None)


def _describe_instance(factory: ClientFactory, account: str, region: str, instance_id: str) -> dict[str, Any]:
    ec2 = factory.client(account, region, "ec2")
    reservations = ec2.describe_instances(InstanceIds=[instance_id]).get("Reservations", [])
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise NotFoundError(f"instance {instance_id} not found in account {account!r}, {region}")
    instance: dict[str, Any] = dict(instances[0])
    state = instance.get("State", {}).get("Name")
    if state in ("terminated", "shutting-down"):
        raise NotFoundError(f"instance {instance_id} is {state}: nothing left to back up")
    return instance


def _volumes(factory: ClientFactory, account: str, region: str, instance: dict[str, Any]) -> list[VolumeConfig]:
    mappings = [m for m in instance.get("BlockDeviceMappings", []) if "VolumeId" in m.get("Ebs", {})]
    if not mappings:
        return []
    ec2 = factory.client(account, region, "ec2")
    ids = [m["Ebs"]["VolumeId"] for m in mappings]
    described = {v["VolumeId"]: v for v in ec2.describe_volumes(VolumeIds=ids).get("Volumes", [])}
    volumes = []
    for mapping in mappings:
        volume_id = mapping["Ebs"]["VolumeId"]
        info = described.get(volume_id)
        if info is None:
            raise NotFoundError(f"volume {volume_id} of instance {instance['InstanceId']} vanished while capturing")
        volume_type = str(info.get("VolumeType") or "gp3")
        volumes.append(
            VolumeConfig(
                device=str(mapping["DeviceName"]),
                volume_id=volume_id,
                size_gib=int(info["Size"]),
                volume_type=volume_type,
                # IOPS are settable only for io1/io2/gp3 and throughput only for gp3; others report defaults.
                iops=int(info["Iops"]) if info.get("Iops") and volume_type in ("io1", "io2", "gp3") else None,
                throughput=int(info["Throughput"]) if info.get("Throughput") and volume_type == "gp3" else None,
                encrypted=bool(info.get("Encrypted", False)),
                kms_key_id=info.get("KmsKeyId") or None,
                delete_on_termination=bool(mapping["Ebs"].get("DeleteOnTermination", False)),
                tags=tags_from_list(info.get("Tags")),
            )
        )
    return volumes


def _user_data(factory: ClientFactory, account: str, region: str, instance_id: str) -> str | None:
    ec2 = factory.client(account, region, "ec2")
    value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData").get("UserData", {})
    data = value.get("Value") if isinstance(value, dict) else None
    return str(data) if data else None


def _image_facts(factory: ClientFactory, account: str, region: str, image_id: str | None) -> dict[str, Any]:
    if not image_id:
        return {}
    ec2 = factory.client(account, region, "ec2")
    try:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
    except NotFoundError:
        # A deregistered or no longer shared AMI is common and harmless: the instance itself says enough.
        return {}
    return dict(images[0]) if images else {}


# MetadataOptions fields RunInstances accepts back (State is a read-only status).
_METADATA_FIELDS = ("HttpTokens", "HttpPutResponseHopLimit", "HttpEndpoint", "HttpProtocolIpv6", "InstanceMetadataTags")


def _metadata_options(instance: dict[str, Any]) -> dict[str, Any]:
    options = instance.get("MetadataOptions") or {}
    return {k: options[k] for k in _METADATA_FIELDS if options.get(k) is not None}


def _uefi_data(
    factory: ClientFactory, account: str, region: str, instance_id: str, boot_mode: str | None
) -> str | None:
    if boot_mode not in ("uefi", "uefi-preferred"):
        return None
    ec2 = factory.client(account, region, "ec2")
    data = ec2.get_instance_uefi_data(InstanceId=instance_id).get("UefiData")
    return str(data) if data else None


def _interfaces(instance: dict[str, Any]) -> list[NetworkInterfaceConfig]:
    interfaces: list[NetworkInterfaceConfig] = []
    for eni in instance.get("NetworkInterfaces", []):
        addresses = eni.get("PrivateIpAddresses", [])
        interfaces.append(
            NetworkInterfaceConfig(
                device_index=int(eni.get("Attachment", {}).get("DeviceIndex", len(interfaces))),
                subnet_id=eni.get("SubnetId"),
                private_ip=eni.get("PrivateIpAddress"),
                secondary_private_ips=[a["PrivateIpAddress"] for a in addresses if not a.get("Primary")],
                security_group_ids=[g["GroupId"] for g in eni.get("Groups", [])],
                delete_on_termination=bool(eni.get("Attachment", {}).get("DeleteOnTermination", True)),
            )
        )
    return sorted(interfaces, key=lambda n: n.device_index)


def capture_instance(
    factory: ClientFactory, account: str, region: str, instance_id: str, *, account_id: str
) -> InstanceConfig:
    instance = _describe_instance(factory, account, region, instance_id)
    image = _image_facts(factory, account, region, instance.get("ImageId"))
    profile = instance.get("IamInstanceProfile") or {}
    boot_mode = instance.get("CurrentInstanceBootMode") or instance.get("BootMode") or image.get("BootMode")
    return InstanceConfig(
        instance_id=instance_id,
        account_id=account_id,
        region=region,
        availability_zone=instance.get("Placement", {}).get("AvailabilityZone"),
        instance_type=str(instance["InstanceType"]),
        image_id=instance.get("ImageId"),
        architecture=instance.get("Architecture") or image.get("Architecture"),
        virtualization_type=str(instance.get("VirtualizationType") or image.get("VirtualizationType") or "hvm"),
        ena_support=bool(instance.get("EnaSupport", image.get("EnaSupport", False))),
        root_device_name=str(instance.get("RootDeviceName") or image.get("RootDeviceName") or "/dev/xvda"),
        subnet_id=instance.get("SubnetId"),
        vpc_id=instance.get("VpcId"),
        security_group_ids=[g["GroupId"] for g in instance.get("SecurityGroups", [])],
        key_name=instance.get("KeyName"),
        iam_instance_profile_arn=profile.get("Arn"),
        user_data_b64=_user_data(factory, account, region, instance_id),
        tags=tags_from_list(instance.get("Tags")),
        ebs_optimized=bool(instance.get("EbsOptimized", False)),
        volumes=_volumes(factory, account, region, instance),
        network_interfaces=_interfaces(instance),
        state=instance.get("State", {}).get("Name"),
        boot_mode=boot_mode,
        tpm_support=instance.get("TpmSupport") or image.get("TpmSupport"),
        uefi_data=_uefi_data(factory, account, region, instance_id, boot_mode),
        imds_support=image.get("ImdsSupport"),
        metadata_options=_metadata_options(instance),
        sriov_net_support=instance.get("SriovNetSupport") or image.get("SriovNetSupport"),
        platform_details=instance.get("PlatformDetails") or image.get("PlatformDetails"),
        usage_operation=instance.get("UsageOperation") or image.get("UsageOperation"),
    )
