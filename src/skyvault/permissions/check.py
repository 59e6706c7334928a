"""What the preflight check asks and how it reports: the actions a job needs, as IAM will judge them.

Pure data: for every action of the requested rows, the sample ARNs of its declared resources and the request
context skyvault's own calls carry (its tags), and the per-row, per-feature report built from the answers. The
check itself (it calls IAM and EC2) is ``skyvault.engine.preflight``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skyvault.errors import AccessDeniedError
from skyvault.permissions.iamref import iam_reference
from skyvault.permissions.registry import Permission
from skyvault.permissions.render import NO_PERMISSION_ACTIONS, POLICY_ROWS, substitute
from skyvault.permissions.restricted import restriction_for
from skyvault.permissions.service_use import service_use_block

# Rows checked when none is named: everything a tenant account runs (admin is the admin account's own row).
DEFAULT_EXCLUDED_ROWS = frozenset({"admin", "check"})
SAMPLE_NAME = "skyvault-preflight"  # stands for every name a wildcard matches in a sample ARN


@dataclass
class FeatureResult:
    policy: str
    feature: str
    status: str  # ok | missing | unverified
    missing: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "feature": self.feature,
            "status": self.status,
            "missing": self.missing,
            "unverified": self.unverified,
        }


@dataclass
class PreflightReport:
    account: str
    principal: str
    method: str  # simulate | dryrun | root
    results: list[FeatureResult]
    simulate_denied: AccessDeniedError | None = None  # why the check fell back to DryRun probes

    @property
    def ok(self) -> bool:
        return all(r.status != "missing" for r in self.results)

    def missing_actions(self) -> list[str]:
        return sorted({a for r in self.results for a in r.missing})

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "principal": self.principal,
            "method": self.method,
            "ok": self.ok,
            "simulate_denied": self.simulate_denied.message if self.simulate_denied else None,
            "results": [r.to_json() for r in self.results],
        }


def principal_arn(caller_arn: str) -> str:
    """The IAM principal to simulate: an assumed-role session is its role (path unknown here: assumed '/')."""
    parts = caller_arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
    return caller_arn


def sample_arn(template: str, values: Mapping[str, str]) -> str:
    """A concrete ARN the template names: placeholders and wildcard account/region filled, other '*' sampled."""
    arn = substitute(template, values)
    if arn == "*":
        return "*"
    parts = arn.split(":", 5)
    if len(parts) == 6:
        if parts[3] == "*":
            parts[3] = values.get("Region", "us-east-1")
        if parts[4] == "*":
            parts[4] = values.get("Account", "")
        arn = ":".join(parts)
    return arn.replace("*", SAMPLE_NAME)


def context_entries(
    permission: Permission, action: str, values: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The request context skyvault's own call carries (its tags; the service using KMS on its behalf), as the
    simulator's ContextEntries."""
    values = values or {}
    restriction = restriction_for(permission, action)
    # A tag write IAM cannot bind to creation is checked with a tag key skyvault writes everywhere.
    written = ["skyvault:job"] if restriction.kind == "tag-write" else ["skyvault:managed"]
    entries = []
    for operator, keys in restriction.block.items():
        if operator == "Null":
            continue
        for key in keys:
            if key.lower() == "aws:tagkeys":
                entries.append({"ContextKeyName": key, "ContextKeyValues": written, "ContextKeyType": "stringList"})
            else:
                entries.append({"ContextKeyName": key, "ContextKeyValues": ["true"], "ContextKeyType": "string"})
    region = values.get("Region", "us-east-1")
    for keys in service_use_block(permission, action, {**values, "Region": region}).values():
        for key, value in keys.items():
            kind = "boolean" if value == "true" else "string"
            entries.append({"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": kind})
    return entries


@dataclass(frozen=True)
class Need:
    """One action a row's feature needs, on the sample resources and with the context it is checked with."""

    row: str
    feature: str
    action: str
    resources: tuple[str, ...]
    context: tuple[tuple[str, str, tuple[str, ...]], ...]
    permission: Permission


def needs_of(permissions: Sequence[Permission], values: Mapping[str, str]) -> list[Need]:
    """Every action the permissions need, with its sample resources and request context."""
    reference = iam_reference()
    needs = []
    for permission in permissions:
        for action in permission.iam_actions:
            if action in NO_PERMISSION_ACTIONS:
                continue
            context = tuple(
                (e["ContextKeyName"], e["ContextKeyType"], tuple(e["ContextKeyValues"]))
                for e in context_entries(permission, action, values)
            )
            resources = tuple(dict.fromkeys(sample_arn(t, values) for t in reference.templates_for(permission, action)))
            needs.append(Need(permission.policy, str(permission.feature), action, resources, context, permission))
    return needs


def need_key(need: Need) -> str:
    """Identifies a need by action, resources and context: the same action may be allowed on one and not another."""
    return f"{need.action}|{need.resources}|{need.context}"


def feature_results(needs: Sequence[Need], denied_keys: set[str], unverified: set[str]) -> list[FeatureResult]:
    """One result per row and feature, in policy-row order: the needs denied (by ``need_key``) are missing."""
    by_feature: dict[tuple[str, str], FeatureResult] = {}
    for need in needs:
        result = by_feature.setdefault((need.row, need.feature), FeatureResult(need.row, need.feature, "ok"))
        if need_key(need) in denied_keys and need.action not in result.missing:
            result.missing.append(need.action)
        elif need.action in unverified and need.action not in result.unverified:
            result.unverified.append(need.action)
    for result in by_feature.values():
        result.missing.sort()
        result.unverified.sort()
        result.status = "missing" if result.missing else "unverified" if result.unverified else "ok"
    return sorted(by_feature.values(), key=lambda r: (list(POLICY_ROWS).index(r.policy), r.feature))
