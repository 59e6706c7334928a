"""Preflight: evaluate an account's real credentials against the registry before a job runs.

The caller's principal (a user, or the role behind an assumed-role session) is simulated with
``iam:SimulatePrincipalPolicy`` for every action of the requested rows, on sample ARNs of the declared resources
and with the request context skyvault's own calls carry (its tags), so a restricted policy is judged as AWS will
judge the real calls. When simulation is itself denied, EC2 actions are probed with ``DryRun`` (AWS checks the
permission and answers ``DryRunOperation`` without acting); other actions are then reported as unverified.
The result is per row and feature: OK, or the missing actions. What is asked and the report are pure data in
``skyvault.permissions.check``; this module makes the calls.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from botocore import xform_name

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AccessDeniedError, AwsError
from skyvault.permissions.check import (
    DEFAULT_EXCLUDED_ROWS,
    SAMPLE_NAME,
    Need,
    PreflightReport,
    feature_results,
    need_key,
    needs_of,
    principal_arn,
)
from skyvault.permissions.registry import REGISTRY, Feature, Registry, declare
from skyvault.permissions.render import POLICY_ROWS, check_rows

SIMULATE_PRINCIPAL_POLICY = declare(
    policy="check",
    service="iam",
    operation="SimulatePrincipalPolicy",
    feature=Feature.CHECK,
    step="preflight check",
    purpose="Ask IAM whether skyvault's own credentials allow every action a job needs, before the job starts.",
    resources=("arn:${Partition}:iam::${Account}:user/*", "arn:${Partition}:iam::${Account}:role/*"),
)

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


def _simulate(factory: ClientFactory, account: str, region: str, principal: str, needs: list[Need]) -> set[str]:
    """The keys (``need_key``) of the needs the simulator does not allow. Needs sharing resources and context are
    asked together, in batches."""
    iam = factory.client(account, region, "iam")
    groups: dict[tuple[tuple[str, ...], tuple[Any, ...]], list[Need]] = defaultdict(list)
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
        denied.update(need_key(n) for n in grouped if n.action in refused)
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
    return SAMPLE_NAME


def _dryrun(factory: ClientFactory, account: str, region: str, needs: list[Need]) -> tuple[set[str], set[str]]:
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
    needs = needs_of(registry.select(policies=rows), filled)
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
            denied_keys = {need_key(n) for n in needs if n.action in denied_actions}
            unverified = {n.action for n in needs if n.action not in verified}

    return PreflightReport(
        account=account,
        principal=principal,
        method=method,
        results=feature_results(needs, denied_keys, unverified),
        simulate_denied=simulate_denied,
    )
