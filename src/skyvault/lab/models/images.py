"""Model: AMIs keep their block device mappings, and instances launched from them get those volumes and data.

Real AWS:
- ``CreateImage`` snapshots every EBS volume attached to the instance (minus devices the request maps to
  ``NoDevice``) and records one mapping per device: snapshot ID, size, type, delete-on-termination, encryption.
  ``TagSpecifications`` may tag the image and/or those snapshots.
- ``RegisterImage`` with ``BlockDeviceMappings`` builds an AMI from existing snapshots (the restore path);
  ``RootDeviceName`` names the boot device. While the AMI is registered its snapshots cannot be deleted.
- ``RunInstances`` from such an AMI creates a volume from each mapped snapshot (carrying its data) and attaches
  it at the mapped device, root device first; request mappings override size/type/delete-on-termination per
  device or drop a device with ``NoDevice``. ``DescribeImages`` returns the mappings.
- ``CopyImage`` copies the mapped snapshots into the destination region.

moto 5.2.1 ignores all of that: every AMI has one fake 15 GiB root snapshot and instances get an empty 8 GiB root
volume. This model records the mappings on moto's ``Ami`` objects (``block_device_mappings`` is overridden),
removes moto's fake snapshot from AMIs it builds, and lets ``RunInstances`` launch from the mappings. Volume data
comes from the EBS model (``ebs_blocks``), which must be applied too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_MARK = "_skyvault_images_model"
_MAPPINGS_ATTR = "_skyvault_mappings"
# moto's Instance.add_block_device drops Iops/Throughput (so io1/io2 mappings fail): RunInstances hands each
# device's extra settings to it through this per-request (per-thread) slot.
_launch = threading.local()


def _mappings(ami: Any) -> list[dict[str, Any]] | None:
    value: list[dict[str, Any]] | None = getattr(ami, _MAPPINGS_ATTR, None)
    return value


def _drop_fake_snapshot(backend: Any, ami: Any) -> None:
    # moto's Ami.__init__ made a 15 GiB snapshot that AWS would not have: remove it from the account.
    fake = getattr(ami, "ebs_snapshot", None)
    if fake is not None:
        backend.snapshots.pop(fake.id, None)


def _ebs_mapping(
    device: str,
    snapshot: Any,
    *,
    size: int,
    volume_type: str | None,
    delete: bool,
    encrypted: bool,
    iops: int | None = None,
    throughput: int | None = None,
) -> dict[str, Any]:
    ebs: dict[str, Any] = {
        "SnapshotId": snapshot.id,
        "VolumeSize": size,
        "DeleteOnTermination": delete,
        "VolumeType": volume_type or "gp3",
        "Encrypted": bool(encrypted),
    }
    if iops:
        ebs["Iops"] = int(iops)
    if throughput:
        ebs["Throughput"] = int(throughput)
    if getattr(snapshot, "kms_key_id", None):
        ebs["KmsKeyId"] = snapshot.kms_key_id
    return {"DeviceName": device, "Ebs": ebs}


def _root_first(mappings: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    return sorted(mappings, key=lambda m: (m["DeviceName"] != root, m["DeviceName"]))


def _tags_for(tag_specifications: list[dict[str, Any]], resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in tag_specifications or []:
        if spec.get("ResourceType") == resource_type:
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tags", [])})
    return tags


def create_image_from_instance(
    backend: Any,
    original: Callable[..., Any],
    instance_id: str,
    name: str,
    description: str,
    tag_specifications: list[dict[str, Any]],
    request_mappings: list[dict[str, Any]],
) -> Any:
    instance = backend.get_instance(instance_id)
    image_specs = [s for s in tag_specifications or [] if s.get("ResourceType") != "snapshot"]
    ami = original(backend, instance_id, name, description, tag_specifications=image_specs)
    _drop_fake_snapshot(backend, ami)
    excluded = {m.get("DeviceName") for m in request_mappings or [] if "NoDevice" in m}
    snapshot_tags = _tags_for(tag_specifications, "snapshot")
    mappings = []
    for device, attachment in list(instance.block_device_mapping.items()):
        if device in excluded:
            continue
        volume = backend.get_volume(attachment.volume_id)
        snapshot = backend.create_snapshot(
            volume.id, f"Created by CreateImage({instance_id}) for {ami.id}", from_ami=ami.id
        )
        snapshot.add_tags(snapshot_tags)
        mappings.append(
            _ebs_mapping(
                device,
                snapshot,
                size=int(volume.size),
                volume_type=volume.volume_type,
                delete=bool(attachment.delete_on_termination),
                encrypted=bool(volume.encrypted),
                iops=volume.iops,
                throughput=volume.throughput,
            )
        )
    ami.root_device_name = instance.root_device_name
    ami.root_device_type = "ebs"
    setattr(ami, _MAPPINGS_ATTR, _root_first(mappings, ami.root_device_name))
    return ami


def register_image_with_mappings(backend: Any, original: Callable[..., Any], params: dict[str, Any]) -> Any:
    from moto.ec2.exceptions import InvalidParameter

    request = params.get("BlockDeviceMappings") or []
    root = params.get("RootDeviceName") or "/dev/xvda"
    mappings = []
    snapshots = []
    for mapping in request:
        device = mapping.get("DeviceName")
        ebs = mapping.get("Ebs")
        if "NoDevice" in mapping or not ebs:
            continue
        snapshot_id = ebs.get("SnapshotId")
        if not snapshot_id:
            raise InvalidParameter(f"block device mapping {device}: SnapshotId is required for EBS")
        snapshot = backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound like AWS
        size = int(ebs.get("VolumeSize") or snapshot.volume.size)
        snapshots.append(snapshot)
        mappings.append(
            _ebs_mapping(
                device,
                snapshot,
                size=size,
                volume_type=ebs.get("VolumeType"),
                delete=str(ebs.get("DeleteOnTermination", True)).lower() == "true",
                encrypted=bool(snapshot.encrypted),
                iops=ebs.get("Iops"),
                throughput=ebs.get("Throughput"),
            )
        )
    if mappings and root not in {m["DeviceName"] for m in mappings}:
        raise InvalidParameter(f"RootDeviceName {root} is not one of the block device mappings")
    ami = original(backend, params.get("Name"), params.get("Description") or "")
    if not mappings:
        return ami
    _drop_fake_snapshot(backend, ami)
    ami.root_device_name = root
    ami.root_device_type = "ebs"
    ami.architecture = params.get("Architecture") or "x86_64"
    ami.virtualization_type = params.get("VirtualizationType") or "hvm"
    ami.boot_mode = params.get("BootMode") or ami.boot_mode
    for snapshot in snapshots:
        snapshot.from_ami = ami.id  # DeleteSnapshot now fails with InvalidSnapshot.InUse while registered
    ami.add_tags(_tags_for(params.get("TagSpecifications") or [], "image"))
    setattr(ami, _MAPPINGS_ATTR, _root_first(mappings, root))
    return ami


def merged_launch_mappings(ami: Any, requested: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The AMI's mappings with the request's per-device overrides; NoDevice drops a device. Root first."""
    by_device = {m["DeviceName"]: {"DeviceName": m["DeviceName"], "Ebs": dict(m["Ebs"])} for m in _mappings(ami) or []}
    for mapping in requested or []:
        device = mapping.get("DeviceName")
        if mapping.get("NoDevice") is not None:
            by_device.pop(device, None)
            continue
        override = {k: v for k, v in (mapping.get("Ebs") or {}).items() if v is not None}
        if device in by_device:
            if "DeleteOnTermination" not in (mapping.get("Ebs") or {}):
                override.pop("DeleteOnTermination", None)
            by_device[device]["Ebs"].update(override)
        else:
            by_device[device] = {"DeviceName": device, "Ebs": override}
    return _root_first(list(by_device.values()), ami.root_device_name)


def _patch() -> None:
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import Ami
    from moto.ec2.models.instances import Instance
    from moto.ec2.responses.amis import AmisResponse

    original_create_image: Callable[..., Any] = EC2Backend.create_image
    original_register_image: Callable[..., Any] = EC2Backend.register_image
    original_copy_image: Callable[..., Any] = EC2Backend.copy_image
    original_run_instances: Callable[..., Any] = EC2Backend.run_instances
    original_mappings: Any = Ami.__dict__["block_device_mappings"]  # the property object itself
    original_add_block_device: Callable[..., Any] = Instance.add_block_device

    def block_device_mappings(self: Any) -> list[dict[str, Any]]:
        mapped = _mappings(self)
        return [dict(m, Ebs=dict(m["Ebs"])) for m in mapped] if mapped is not None else original_mappings.fget(self)

    def create_image(self: Any) -> Any:
        from moto.core.responses import ActionResult

        self.error_on_dryrun()
        image = create_image_from_instance(
            self.ec2_backend,
            original_create_image,
            self._get_param("InstanceId"),
            self._get_param("Name"),
            self._get_param("Description", ""),
            self._get_param("TagSpecifications", []),
            self._get_param("BlockDeviceMappings", []),
        )
        return ActionResult({"ImageId": image.id})

    def register_image(self: Any) -> Any:
        from moto.core.responses import ActionResult

        self.error_on_dryrun()
        params = {
            name: self._get_param(name)
            for name in (
                "Name",
                "Description",
                "RootDeviceName",
                "BlockDeviceMappings",
                "Architecture",
                "VirtualizationType",
                "BootMode",
                "TagSpecifications",
            )
        }
        image = register_image_with_mappings(self.ec2_backend, original_register_image, params)
        return ActionResult({"ImageId": image.id})

    def copy_image(
        self: Any, source_image_id: str, source_region: str, name: str | None = None, description: str | None = None
    ) -> Any:
        from moto.ec2.models import ec2_backends

        image = original_copy_image(self, source_image_id, source_region, name, description)
        source = ec2_backends[self.account_id][source_region].amis[source_image_id]
        mapped = _mappings(source)
        if mapped is None:
            return image
        _drop_fake_snapshot(self, image)
        copies = []
        for mapping in mapped:
            copy = self.copy_snapshot(
                mapping["Ebs"]["SnapshotId"], source_region, f"Copied for {image.id} from {source_image_id}", None
            )
            copy.from_ami = image.id
            copies.append({"DeviceName": mapping["DeviceName"], "Ebs": dict(mapping["Ebs"], SnapshotId=copy.id)})
        image.root_device_name = source.root_device_name
        image.root_device_type = "ebs"
        setattr(image, _MAPPINGS_ATTR, copies)
        return image

    def run_instances(
        self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any
    ) -> Any:
        ami = self.amis.get(image_id)
        if ami is not None and _mappings(ami) is not None:
            kwargs["block_device_mappings"] = merged_launch_mappings(ami, kwargs.get("block_device_mappings"))
        _launch.extra = {
            m["DeviceName"]: {k: (m.get("Ebs") or {}).get(k) for k in ("Iops", "Throughput")}
            for m in kwargs.get("block_device_mappings") or []
        }
        try:
            return original_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
        finally:
            _launch.extra = {}

    def add_block_device(
        self: Any,
        size: int,
        device_path: str,
        snapshot_id: str | None,
        encrypted: bool,
        delete_on_termination: bool,
        kms_key_id: str | None,
        volume_type: str | None,
    ) -> None:
        extra = getattr(_launch, "extra", {}).get(device_path) or {}
        if not extra.get("Iops") and not extra.get("Throughput"):
            original_add_block_device(
                self, size, device_path, snapshot_id, encrypted, delete_on_termination, kms_key_id, volume_type
            )
            return
        volume = self.ec2_backend.create_volume(
            size=size,
            zone_name=self._placement.zone,
            snapshot_id=snapshot_id,
            encrypted=encrypted,
            kms_key_id=kms_key_id,
            volume_type=volume_type,
            iops=extra.get("Iops"),
            throughput=extra.get("Throughput"),
        )
        self.ec2_backend.attach_volume(volume.id, self.id, device_path, delete_on_termination)

    Ami.block_device_mappings = property(block_device_mappings)  # type: ignore[method-assign,assignment]
    setattr(AmisResponse, "create_image", create_image)  # noqa: B010
    setattr(AmisResponse, "register_image", register_image)  # noqa: B010
    setattr(EC2Backend, "copy_image", copy_image)  # noqa: B010
    setattr(EC2Backend, "run_instances", run_instances)  # noqa: B010
    setattr(Instance, "add_block_device", add_block_device)  # noqa: B010


def apply() -> None:
    from moto.ec2.models import EC2Backend

    if getattr(EC2Backend, _MARK, False):
        return
    _patch()
    setattr(EC2Backend, _MARK, True)
