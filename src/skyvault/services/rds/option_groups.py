"""The option group a cross-region copy of a DB snapshot names in the destination region.

AWS facts (RDS API reference ``CopyDBSnapshot`` ``OptionGroupName``; User Guide "Copying a DB snapshot" and
"Working with option groups"): option groups belong to a region; a DB snapshot is associated with its instance's
option group and a restore gets it by default. A copy into another region must name a group there when the
instance uses a non-default one, and must when the group holds persistent options such as Oracle or SQL Server TDE
(else AWS refuses: "The snapshot requires a target option group with the following options: ..."); a copy that
names none gets the destination's default group, and the source's options are lost.

So before a cross-region copy skyvault picks the destination group, in this order:
1. an explicit mapping (``--option-group-map SOURCE=DEST``): it must exist in the destination;
2. a group of the same name in the destination;
3. ``skyvault-<name>``, created there with the source's engine, major version and options (their settings;
   options that name security groups, which are region-bound, or an IAM role, which skyvault never passes, are
   left out, and the backup's warnings say so), tagged ``skyvault:managed`` (reused by later jobs).
Persistent or permanent options (TDE, TIMEZONE) are never created by skyvault: they bind keys, wallets or
certificates that only the owner can set up in the destination. A group that has them needs case 1 or 2, and the
backup refuses before taking any snapshot, naming the options. Default groups (``default:...``) need nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skyvault.errors import ConflictError, NotFoundError
from skyvault.permissions import Feature, declare
from skyvault.permissions.registry import MANAGED_TAG

if TYPE_CHECKING:
    from types_boto3_rds.type_defs import OptionConfigurationTypeDef, OptionSettingTypeDef

    from skyvault.aws.clients import RDSClient

PREFIX = "skyvault-"
_OG = "arn:${Partition}:rds:${Region}:${Account}:og:*"
_OWN_OG = "arn:${Partition}:rds:${Region}:${Account}:og:" + PREFIX + "*"

declare(
    policy="rds",
    service="rds",
    operation="DescribeOptionGroups",
    feature=Feature.COPY,
    step="map option group",
    purpose="Read the source instance's option group (engine, version, options) and find its counterpart in the "
    "destination region of a cross-region copy.",
    resources=(_OG,),
)
declare(
    policy="rds",
    service="rds",
    operation="CreateOptionGroup",
    feature=Feature.COPY,
    step="map option group",
    purpose="Create skyvault-<name> in the destination region of a cross-region copy when no group of the source's "
    "name exists there, tagged skyvault:managed on create.",
    actions=("rds:CreateOptionGroup", "rds:AddTagsToResource"),
    resources=(_OWN_OG,),
    tag_on_create=True,
)
declare(
    policy="rds",
    service="rds",
    operation="ModifyOptionGroup",
    feature=Feature.COPY,
    step="map option group",
    purpose="Add the source group's options to the skyvault-<name> group skyvault created in the destination.",
    resources=(_OWN_OG,),
)


@dataclass
class Mapping:
    """The destination group of a cross-region copy (``None``: the snapshot's group is a default one)."""

    source: str | None
    target: str | None
    how: str  # default | explicit | same-name | created | reused
    left_out: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "how": self.how, "left_out": self.left_out}


def is_default(name: str | None) -> bool:
    return not name or name.startswith("default:")


def describe(client: RDSClient, name: str) -> dict[str, Any] | None:
    try:
        found = client.describe_option_groups(OptionGroupName=name).get("OptionGroupsList", [])
    except NotFoundError:
        return None
    return dict(found[0]) if found else None


def persistent(group: dict[str, Any]) -> list[str]:
    return sorted(o["OptionName"] for o in group.get("Options", []) if o.get("Persistent") or o.get("Permanent"))


def _names(group: dict[str, Any]) -> set[str]:
    return {str(o["OptionName"]).upper() for o in group.get("Options", [])}


def _check_carries(source: dict[str, Any], target: dict[str, Any], region: str) -> None:
    missing = sorted(set(persistent(source)) - _names(target))
    if missing:
        raise ConflictError(
            f"option group {target['OptionGroupName']} in {region} lacks the persistent option(s) "
            f"{', '.join(missing)} of the source's group {source['OptionGroupName']}: AWS refuses such a copy",
            hint=f"add {', '.join(missing)} to it, or map the group to one that has them (--option-group-map)",
        )
    if target.get("EngineName") and target.get("EngineName") != source.get("EngineName"):
        raise ConflictError(
            f"option group {target['OptionGroupName']} in {region} is for {target.get('EngineName')}, the source "
            f"is {source.get('EngineName')}",
            hint="map the group to one of the same engine (--option-group-map)",
        )


def _copyable(group: dict[str, Any]) -> tuple[list[OptionConfigurationTypeDef], list[str]]:
    kept: list[OptionConfigurationTypeDef] = []
    left_out: list[str] = []
    for option in group.get("Options", []):
        if option.get("VpcSecurityGroupMemberships") or option.get("DBSecurityGroupMemberships"):
            left_out.append(f"{option['OptionName']} (names security groups of the source region)")
            continue
        if any(":iam::" in str(s.get("Value") or "") for s in option.get("OptionSettings", [])):
            left_out.append(f"{option['OptionName']} (names an IAM role: skyvault passes no role)")
            continue
        config: OptionConfigurationTypeDef = {"OptionName": option["OptionName"]}
        settings: list[OptionSettingTypeDef] = [
            {"Name": s["Name"], "Value": s["Value"]}
            for s in option.get("OptionSettings", [])
            if s.get("Name") and s.get("Value") is not None
        ]
        if settings:
            config["OptionSettings"] = settings
        if option.get("Port"):
            config["Port"] = option["Port"]
        if option.get("OptionVersion"):
            config["OptionVersion"] = option["OptionVersion"]
        kept.append(config)
    return kept, left_out


def map_group(
    source: RDSClient, destination: RDSClient, name: str | None, explicit: dict[str, str] | None = None
) -> Mapping:
    """The destination group for a copy of a snapshot of an instance in group ``name`` (see the module doc)."""
    if is_default(name):
        return Mapping(name, None, "default")
    assert name is not None
    group = describe(source, name)
    if group is None:
        raise NotFoundError(f"option group {name} of the source instance not found in {source.region}")
    region = destination.region
    wanted = (explicit or {}).get(name)
    if wanted:
        target = describe(destination, wanted)
        if target is None:
            raise NotFoundError(
                f"option group {wanted} (mapped from {name}) not found in {region}",
                hint=f"create it in {region} first",
            )
        _check_carries(group, target, region)
        return Mapping(name, str(target["OptionGroupName"]), "explicit")
    same = describe(destination, name)
    if same is not None:
        _check_carries(group, same, region)
        return Mapping(name, str(same["OptionGroupName"]), "same-name")
    required = persistent(group)
    if required:
        raise ConflictError(
            f"the source's option group {name} has persistent option(s) {', '.join(required)} (e.g. TDE) and no "
            f"group of that name exists in {region}: AWS requires the copy to name a group there that has them, "
            "and skyvault does not create those options for you (they bind keys or wallets); nothing was changed",
            hint=f"create an option group with {', '.join(required)} in {region}, then back up with "
            f"--option-group-map {name}=<that group>",
        )
    own = PREFIX + name.lower()
    options, left_out = _copyable(group)
    existing = describe(destination, own)
    if existing is not None:
        return Mapping(name, own, "reused", left_out)
    destination.create_option_group(
        OptionGroupName=own,
        EngineName=str(group["EngineName"]),
        MajorEngineVersion=str(group["MajorEngineVersion"]),
        OptionGroupDescription=f"skyvault: copy of {name} from {source.region}"[:255],
        Tags=[
            {"Key": MANAGED_TAG, "Value": "true"},
            {"Key": "skyvault:copy-of", "Value": str(group.get("OptionGroupArn") or name)[:256]},
        ],
    )
    if options:
        destination.modify_option_group(OptionGroupName=own, OptionsToInclude=options, ApplyImmediately=True)
    return Mapping(name, own, "created", left_out)
