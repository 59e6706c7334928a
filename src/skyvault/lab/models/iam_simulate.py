"""Model: ``iam:SimulatePrincipalPolicy`` (and ``SimulateCustomPolicy``) evaluate identity policies.

Real AWS: SimulatePrincipalPolicy takes a user or role ARN (``PolicySourceArn``), actions, optional resource ARNs
and context entries, and answers per action and resource ``allowed``, ``explicitDeny`` or ``implicitDeny``,
evaluating every identity policy of the principal (inline, attached, and its groups' for a user) with their
conditions. The caller needs ``iam:SimulatePrincipalPolicy`` on the principal's ARN.

moto 5.2.1 does not implement either operation. This model adds them to moto's IAM responses on top of moto's own
IAM data (the principal's policies), decided by skyvault's policy evaluator (``skyvault.permissions.conditions``),
which, unlike moto's request enforcement, honours Condition blocks. It also makes moto's IAM enforcement
authorise the simulation against ``PolicySourceArn`` (moto authorises IAM calls against ``*`` otherwise), so a
policy scoped to ``user/*`` or ``role/*`` works as it does on AWS.
Not modelled: permission boundaries, SCPs, resource policies (``ResourcePolicy``), ``CallerArn``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from skyvault.permissions.conditions import Request, evaluate

_MARK = "_skyvault_simulate_model"


def _document(policy: Any) -> dict[str, Any]:
    from moto.iam.access_control import IAMPolicy

    if isinstance(policy, tuple):  # get_role_policy returns (name, document)
        policy = policy[1]
    if isinstance(policy, str):
        text = policy
        try:
            return dict(json.loads(text))
        except ValueError:
            return dict(json.loads(unquote(text)))
    return dict(IAMPolicy(policy)._policy_json)


def principal_policies(backend: Any, principal_arn: str) -> list[dict[str, Any]]:
    """Every identity policy document of a user (incl. its groups) or role, from moto's IAM backend."""
    from moto.iam.exceptions import NoSuchEntity

    resource = principal_arn.split(":", 5)[5]
    kind, _, path_and_name = resource.partition("/")
    name = path_and_name.rsplit("/", 1)[-1]
    documents: list[Any] = []
    if kind == "user":
        documents += [backend.get_user_policy(name, p)["policy_document"] for p in backend.list_user_policies(name)]
        documents += list(backend.list_attached_user_policies(name)[0])
        for group in backend.get_groups_for_user(name):
            documents += [
                backend.get_group_policy(group.name, p)["policy_document"]
                for p in backend.list_group_policies(group.name)
            ]
            documents += list(backend.list_attached_group_policies(group.name)[0])
    elif kind == "role":
        documents += [backend.get_role_policy(name, p) for p in backend.list_role_policies(name)]
        documents += list(backend.list_attached_role_policies(name)[0])
    else:
        raise NoSuchEntity(f"PolicySourceArn {principal_arn} is not a user or role")
    return [_document(d) for d in documents]


def _context(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for entry in entries or []:
        values = list(entry.get("ContextKeyValues") or [])
        multi = str(entry.get("ContextKeyType", "string")).endswith("List")
        context[str(entry["ContextKeyName"])] = values if multi else (values[0] if values else "")
    return context


def simulate(
    policies: list[dict[str, Any]], actions: list[str], resources: list[str], context: dict[str, Any]
) -> list[dict[str, Any]]:
    """One EvaluationResult per action (and resource), the shape IAM returns."""
    results = []
    for action in actions:
        for resource in resources or ["*"]:
            decision = evaluate(policies, Request(action=action, resource=resource, context=context))
            results.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": str(decision),
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                }
            )
    return results


def apply() -> None:
    from moto.iam.responses import IamResponse

    if getattr(IamResponse, _MARK, False):
        return
    from moto.core.responses import ActionResult

    original_determine_resource = IamResponse._determine_resource

    def _determine_resource(self: Any) -> str:
        source = self._get_param("PolicySourceArn")
        if self._get_action() == "SimulatePrincipalPolicy" and source:
            return str(source)
        return str(original_determine_resource(self))

    def simulate_principal_policy(self: Any) -> Any:
        source = str(self._get_param("PolicySourceArn"))
        policies = principal_policies(self.backend, source)
        policies += [json.loads(p) for p in self._get_param("PolicyInputList", []) or []]
        results = simulate(
            policies,
            list(self._get_param("ActionNames", [])),
            list(self._get_param("ResourceArns", []) or []),
            _context(self._get_param("ContextEntries", [])),
        )
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    def simulate_custom_policy(self: Any) -> Any:
        policies = [json.loads(p) for p in self._get_param("PolicyInputList", [])]
        results = simulate(
            policies,
            list(self._get_param("ActionNames", [])),
            list(self._get_param("ResourceArns", []) or []),
            _context(self._get_param("ContextEntries", [])),
        )
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    # moto dispatches an action to the response method of the same (snake_case) name.
    setattr(IamResponse, "_determine_resource", _determine_resource)  # noqa: B010
    setattr(IamResponse, "simulate_principal_policy", simulate_principal_policy)  # noqa: B010
    setattr(IamResponse, "simulate_custom_policy", simulate_custom_policy)  # noqa: B010
    setattr(IamResponse, _MARK, True)
