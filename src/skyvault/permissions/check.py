"""Preflight: evaluate an account's real credentials against the registry before a job runs.

The caller's principal (a user, or the role behind an assumed-role session) is simulated with
``iam:SimulatePrincipalPolicy`` for every action of the requested rows, on sample ARNs of the declared resources
and with the request context skyvault's own calls carry (its tags), so a restricted policy is judged as AWS will
judge the real calls. When simulation is itself denied, EC2 actions are probed with ``DryRun`` (AWS checks the
permission and answers ``DryRunOperation`` without acting); other actions are then reported as unverified.
The result is per row and feature: OK, or the missing actions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AccessDeniedError, AwsError
from skyvault.permissions.iamref import iam_reference
from skyvault.permissions.registry import REGISTRY, Feature, Permission, Registry, declare
from skyvault.permissions.render import NO_PERMISSION_ACTIONS, POLICY_ROWS, check_rows, substitute
from skyvault.permissions.restricted import restriction_for
from skyvault.permissions.service_use import service_use_block

SIMULATE_PRINCIPAL_POLICY = declare(
    policy="check",
    service="iam",
    operation="SimulatePrincipalPolicy",
    feature=Feature.CHECK,
    step="preflight check",
    purpose="Ask IAM whether skyvault's own credentials allow every action a job needs, before the job starts.",
    resources=("arn:${Partition}:iam::${Account}:user/*", "arn:${Partition}:iam::${Account}:role/*"),
)

# Rows checked when none is named: everything a tenant account runs (admin is the admin account's own row).
DEFAULT_EXCLUDED_ROWS = frozenset({"admin", "check"})
_SAMPLE = "skyvault-preflight"
_BATCH = 20
_ID_PREFIXES = {
    "Instance": "i-",
    "Volume": "vol-",
    "Snapshot": "snap-",
    "Image": "ami-",
    "Subnet": "subnet-",
    "Vpc": "vpc-",
    "Group": "sg-",
    "NetworkInterface": "eni-",
}


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
    return arn.replace("*", _SAMPLE)


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
class _Need:
    row: str
    feature: str
    action: str
    resources: tuple[str, ...]
    context: tuple[tuple[str, str, tuple[str, ...]], ...]
    permission: Permission


def _needs(permissions: Sequence[Permission], values: Mapping[str, str]) -> list[_Need]:
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
            needs.append(_Need(permission.policy, str(permission.feature), action, resources, context, permission))
    return needs


def _simulate(factory: ClientFactory, account: str, region: str, principal: str, needs: list[_Need]) -> set[str]:
    """The keys (``_key``) of the needs the simulator does not allow. Needs sharing resources and context are
    asked together, in batches."""
    iam = factory.client(account, region, "iam")
    groups: dict[tuple[tuple[str, ...], tuple[Any, ...]], list[_Need]] = defaultdict(list)
    for need in needs:
        groups[(need.resources, need.context)].append(need)
    denied: set[str] = set()
    for (resources, context), grouped in groups.items():
        ordered = sorted({n.action for n in grouped})
        refused: set[str] = set()
        for start in range(0, len(ordered), _BATCH):
            params: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": ordered[start : start + _BATCH]}
            if resources != ("*",):
                params["ResourceArns"] = list(resources)
            if context:
                params["ContextEntries"] = [
                    {"ContextKeyName": k, "ContextKeyType": t, "ContextKeyValues": list(v)} for k, t, v in context
                ]
            for page in iam.get_paginator("simulate_principal_policy").paginate(**params):
                for result in page.get("EvaluationResults", []):
                    decisions = [result["EvalDecision"]] + [
                        r["EvalResourceDecision"] for r in result.get("ResourceSpecificResults", [])
                    ]
                    if any(d != "allowed" for d in decisions):
                        refused.add(result["EvalActionName"])
        denied.update(_key(n) for n in grouped if n.action in refused)
    return denied


def _dummy(name: str, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "list":
        return [_dummy(name.rstrip("s"), shape.member)]
    if kind == "structure":
        return {m: _dummy(m, shape.members[m]) for m in shape.required_members}
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return False
    base = re.sub(r"Ids?$", "", name)
    for noun, prefix in _ID_PREFIXES.items():
        if base.endswith(noun):
            return prefix + "0" * 17
    return _SAMPLE


def _dryrun(factory: ClientFactory, account: str, region: str, needs: list[_Need]) -> tuple[set[str], set[str]]:
    """(denied, verified) actions by EC2 DryRun probes; actions of other services stay unverified."""
    denied: set[str] = set()
    verified: set[str] = set()
    probed: set[str] = set()
    for need in needs:
        permission = need.permission
        if permission.service != "ec2" or permission.operation in probed:
            continue
        client = factory.client(account, region, "ec2")
        model = client.raw.meta.service_model.operation_model(permission.operation)
        if model.input_shape is None or "DryRun" not in model.input_shape.members:
            continue
        probed.add(permission.operation)
        params = {m: _dummy(m, model.input_shape.members[m]) for m in model.input_shape.required_members}
        try:
            getattr(client, xform_name(permission.operation))(DryRun=True, **params)
        except AccessDeniedError:
            denied.update(permission.iam_actions)
            verified.update(permission.iam_actions)
        except AwsError as exc:
            if exc.code == "DryRunOperation":
                verified.update(permission.iam_actions)
    return denied, verified


def preflight(
    factory: ClientFactory,
    account: str,
    *,
    rows: Sequence[str] = (),
    region: str | None = None,
    values: Mapping[str, str] | None = None,
    registry: Registry = REGISTRY,
) -> PreflightReport:
    """Check the account's credentials for the rows (default: every tenant row with declarations)."""
    rows = list(rows) or [r for r in POLICY_ROWS if r not in DEFAULT_EXCLUDED_ROWS and registry.select(policies=[r])]
    check_rows(rows, registry)
    region = region or factory.config.account(account).regions[0]
    sts = factory.client(account, region, "sts")
    identity = sts.get_caller_identity()
    caller = str(identity["Arn"])
    account_id = str(identity["Account"])
    partition = caller.split(":")[1]
    filled = {"Partition": partition, "Account": account_id, "Region": region, **(values or {})}
    needs = _needs(registry.select(policies=rows), filled)
    principal = principal_arn(caller)

    unverified: set[str] = set()
    denied_keys: set[str] = set()
    simulate_denied: AccessDeniedError | None = None
    if caller.endswith(":root"):
        method = "root"
    else:
        try:
            method = "simulate"
            denied_keys = _simulate(factory, account, region, principal, needs)
        except AccessDeniedError as exc:
            method, simulate_denied = "dryrun", exc
            denied_actions, verified = _dryrun(factory, account, region, needs)
            denied_keys = {_key(n) for n in needs if n.action in denied_actions}
            unverified = {n.action for n in needs if n.action not in verified}

    by_feature: dict[tuple[str, str], FeatureResult] = {}
    for need in needs:
        result = by_feature.setdefault((need.row, need.feature), FeatureResult(need.row, need.feature, "ok"))
        if _key(need) in denied_keys and need.action not in result.missing:
            result.missing.append(need.action)
        elif need.action in unverified and need.action not in result.unverified:
            result.unverified.append(need.action)
    for result in by_feature.values():
        result.missing.sort()
        result.unverified.sort()
        result.status = "missing" if result.missing else "unverified" if result.unverified else "ok"
    ordered = sorted(by_feature.values(), key=lambda r: (list(POLICY_ROWS).index(r.policy), r.feature))
    return PreflightReport(
        account=account, principal=principal, method=method, results=ordered, simulate_denied=simulate_denied
    )


def _key(need: _Need) -> str:
    return f"{need.action}|{need.resources}|{need.context}"
