"""Model: AMIs keep the boot and security settings ``RegisterImage`` gives them, and pass them to instances.

Real AWS (EC2 API reference: ``RegisterImage``, ``Image``, ``ImageAttribute``, ``DescribeImageAttribute``,
``GetInstanceUefiData``; EC2 User Guide: boot modes, NitroTPM, UEFI Secure Boot, "Configure the AMI" for IMDSv2):
- ``RegisterImage`` takes ``BootMode`` (legacy-bios | uefi | uefi-preferred), ``TpmSupport`` (v2.0),
  ``UefiData`` (the base64 UEFI variable store), ``ImdsSupport`` (v2.0) and ``SriovNetSupport`` (simple); an AMI
  registered without them has none (no boot mode, no TPM...).
- ``DescribeImages`` returns ``BootMode``, ``TpmSupport``, ``ImdsSupport`` and ``SriovNetSupport``; the UEFI data
  only through ``DescribeImageAttribute`` ``uefiData``. ``DescribeImageAttribute`` answers ``bootMode``,
  ``tpmSupport``, ``uefiData``, ``imdsSupport`` and ``sriovNetSupport``, each empty when not set.
- An instance launched from the AMI boots that way: ``DescribeInstances`` ``BootMode`` /
  ``CurrentInstanceBootMode`` and ``TpmSupport``, ``GetInstanceUefiData`` the AMI's variable store, attribute
  ``sriovNetSupport``; with ``ImdsSupport`` v2.0 "instances launched from this AMI will have HttpTokens
  automatically set to required ... In addition, HttpPutResponseHopLimit is set to 2" (unless the launch sets them).

moto 5.2.1: ``RegisterImage`` ignores all five (every AMI reports ``bootMode`` uefi and ``sriovNetSupport``
simple); ``DescribeImageAttribute`` of ``tpmSupport``/``uefiData``/``imdsSupport`` fails with an internal error;
instances report no boot mode or TPM and ``GetInstanceUefiData`` returns nothing.

Lab: all of the above for AMIs registered through ``RegisterImage`` (moto's preloaded AMIs keep moto's values). It
refuses, as AWS does, a ``TpmSupport`` other than v2.0 or with ``BootMode`` legacy-bios, an ``ImdsSupport`` other
than v2.0 and a ``SriovNetSupport`` other than simple (``InvalidParameterValue``). ``uefi-preferred`` boots as
``uefi`` (the lab's instance types all support UEFI).
"""

from __future__ import annotations

from typing import Any

_MARK = "_skyvault_image_attributes_model"
_SETTINGS = "_skyvault_boot_settings"  # on an Ami registered by RegisterImage: the five parameters as given
# DescribeImageAttribute attribute -> the RegisterImage parameter (and ImageAttribute member) it reports.
ATTRIBUTES = {
    "bootMode": "BootMode",
    "tpmSupport": "TpmSupport",
    "uefiData": "UefiData",
    "imdsSupport": "ImdsSupport",
    "sriovNetSupport": "SriovNetSupport",
}


def settings_of(ami: Any) -> dict[str, str] | None:
    value: dict[str, str] | None = getattr(ami, _SETTINGS, None)
    return value


def _validate(params: dict[str, Any]) -> None:
    from moto.ec2.exceptions import InvalidParameterValueError

    boot = params.get("BootMode")
    if boot is not None and boot not in ("legacy-bios", "uefi", "uefi-preferred"):
        raise InvalidParameterValueError(f"BootMode {boot}")
    if params.get("TpmSupport") is not None:
        if params["TpmSupport"] != "v2.0":
            raise InvalidParameterValueError(f"TpmSupport {params['TpmSupport']}")
        if boot == "legacy-bios":
            raise InvalidParameterValueError("TpmSupport v2.0 requires BootMode uefi")
    if params.get("ImdsSupport") is not None and params["ImdsSupport"] != "v2.0":
        raise InvalidParameterValueError(f"ImdsSupport {params['ImdsSupport']}")
    if params.get("SriovNetSupport") is not None and params["SriovNetSupport"] != "simple":
        raise InvalidParameterValueError(f"SriovNetSupport {params['SriovNetSupport']}")


def _patch() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import Ami
    from moto.ec2.models.instances import MetadataOptions
    from moto.ec2.responses.amis import AmisResponse

    # The images model's RegisterImage (block device mappings) when it is applied first, as MODELS orders it.
    register: Any = AmisResponse.register_image
    describe_attribute: Any = AmisResponse.describe_image_attribute
    run_instances: Any = EC2Backend.run_instances

    def register_image(self: Any) -> Any:
        params = {name: self._get_param(name) for name in ATTRIBUTES.values()}
        _validate(params)
        result = register(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        given = {k: str(v) for k, v in params.items() if v is not None}
        setattr(ami, _SETTINGS, given)
        ami.boot_mode = given.get("BootMode")
        ami.sriov = given.get("SriovNetSupport")
        return result

    def _image_value(ami: Any, member: str) -> str | None:
        given = settings_of(ami)
        if given is not None:
            return given.get(member)
        return {"BootMode": getattr(ami, "boot_mode", None), "SriovNetSupport": getattr(ami, "sriov", None)}.get(member)

    def describe_image_attribute(self: Any) -> Any:
        name = self._get_param("Attribute")
        if name not in ATTRIBUTES:
            return describe_attribute(self)
        image_id = self._get_param("ImageId")
        ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]  # InvalidAMIID.NotFound like AWS
        result: dict[str, Any] = {"ImageId": image_id}
        value = _image_value(ami, ATTRIBUTES[name])
        if value is not None:
            result[ATTRIBUTES[name]] = {"Value": value}
        return ActionResult(result)

    # DescribeImages: the Image fields (UefiData is not one of them).
    Ami.tpm_support = property(lambda self: _image_value(self, "TpmSupport"))  # type: ignore[attr-defined]
    Ami.imds_support = property(lambda self: _image_value(self, "ImdsSupport"))  # type: ignore[attr-defined]
    Ami.sriov_net_support = property(lambda self: _image_value(self, "SriovNetSupport"))  # type: ignore[attr-defined]

    def launch(
        self: Any, image_id: str, count: int, user_data: Any, security_group_names: list[str], **kwargs: Any
    ) -> Any:
        ami = self.amis.get(image_id)
        given = settings_of(ami) if ami is not None else None
        requested = dict(kwargs.get("metadata_options") or {})
        reservation = run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
        if given is None:
            return reservation
        for instance in reservation.instances:
            boot = given.get("BootMode")
            instance.boot_mode = boot
            instance.current_instance_boot_mode = "uefi" if boot == "uefi-preferred" else boot
            instance.tpm_support = given.get("TpmSupport")
            instance.sriov_net_support = given.get("SriovNetSupport")
            setattr(instance, _SETTINGS, given)
            if given.get("ImdsSupport") == "v2.0":
                options = {"HttpTokens": "required", "HttpPutResponseHopLimit": 2, **requested}
                instance.metadata_options = MetadataOptions(options)
        return reservation

    get_uefi = EC2Backend.get_instance_uefi_data

    def get_instance_uefi_data(self: Any, instance_id: str) -> bytes:
        instance = self.get_instance(instance_id)
        data = (settings_of(instance) or {}).get("UefiData")
        # moto's response wraps these bytes as the already-encoded base64 text
        return data.encode("ascii") if data else bytes(get_uefi(self, instance_id))

    setattr(AmisResponse, "register_image", register_image)  # noqa: B010
    setattr(AmisResponse, "describe_image_attribute", describe_image_attribute)  # noqa: B010
    setattr(EC2Backend, "run_instances", launch)  # noqa: B010
    setattr(EC2Backend, "get_instance_uefi_data", get_instance_uefi_data)  # noqa: B010


def apply() -> None:
    from moto.ec2.models import EC2Backend

    if getattr(EC2Backend, _MARK, False):
        return
    _patch()
    setattr(EC2Backend, _MARK, True)
