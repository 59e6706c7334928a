"""A small IAM policy evaluator for the condition operators skyvault's policies use.

moto's IAM enforcement ignores Condition blocks, so the restricted policy's tag conditions are proven here: the
evaluator decides a request (action, resource ARN, request context) against policy documents the way AWS's
documented evaluation logic does for identity policies: an explicit Deny wins, otherwise any Allow allows,
otherwise the request is implicitly denied.

Supported operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringNotEqualsIgnoreCase,
StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Bool, Null, each with the
``ForAnyValue:``/``ForAllValues:`` set qualifiers and the ``...IfExists`` suffix. Anything else raises
``UnsupportedConditionError``: the evaluator refuses to guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from skyvault.errors import SkyvaultError

ContextValue = str | bool | Sequence[str]
RequestContext = Mapping[str, ContextValue]


class UnsupportedConditionError(SkyvaultError):
    """A policy uses a condition operator this evaluator does not implement."""


class Decision(StrEnum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


def _wildcard(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _string_like(policy_value: str, value: str) -> bool:
    return _wildcard(policy_value).fullmatch(value) is not None


def arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: the six colon-separated parts match one by one; wildcards never cross the first five colons."""
    p_parts = pattern.split(":", 5)
    a_parts = arn.split(":", 5)
    if pattern == "*":
        return True
    if len(p_parts) != 6 or len(a_parts) != 6:
        return False
    return all(_wildcard(p).fullmatch(a) is not None for p, a in zip(p_parts, a_parts, strict=True))


def _bool(policy_value: str, value: str) -> bool:
    return policy_value.lower() == value.lower()


_MATCHERS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # operator -> (does one policy value match one context value, is the operator negated)
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (arn_like, False),
    "ArnLike": (arn_like, False),
    "ArnNotEquals": (arn_like, True),
    "ArnNotLike": (arn_like, True),
    "Bool": (_bool, False),
}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str):
        return [value]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in value]


def _lookup(context: RequestContext, key: str) -> list[str] | None:
    # Condition key names are case-insensitive; values are not (except with the IgnoreCase operators).
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return _as_list(value)
    return None


def _evaluate_key(operator: str, key: str, policy_values: list[str], context: RequestContext) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    values = _lookup(context, key)

    if base == "Null":
        # Null: "true" asks for the key to be absent, "false" for it to be present.
        wanted_absent = policy_values[0].lower() == "true"
        return (values is None or values == []) == wanted_absent
    if base not in _MATCHERS:
        raise UnsupportedConditionError(f"condition operator {operator!r} is not supported by skyvault's evaluator")
    match, negated = _MATCHERS[base]

    def matches_any(value: str) -> bool:
        return any(match(policy_value, value) for policy_value in policy_values)

    if qualifier == "ForAllValues":
        # True when every context value matches (vacuously true when the key is absent or empty).
        if not values:
            return True
        return all(matches_any(v) != negated for v in values)
    if qualifier == "ForAnyValue":
        if not values:
            return False
        return any(matches_any(v) != negated for v in values)
    if qualifier:
        raise UnsupportedConditionError(f"condition qualifier {qualifier!r} is not supported")
    if values is None:
        # A missing key never matches; negated operators then hold, as do ...IfExists operators.
        return if_exists or negated
    found = any(matches_any(v) for v in values)
    return not found if negated else found


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: RequestContext) -> bool:
    """All operators, all keys within each operator must hold (AND); the values of one key are alternatives (OR)."""
    for operator, keys in block.items():
        for key, policy_values in keys.items():
            if not _evaluate_key(operator, key, _as_list(policy_values), context):
                return False
    return True


def _action_matches(patterns: Iterable[str], action: str) -> bool:
    return any(_wildcard(p, ignore_case=True).fullmatch(action) for p in patterns)


def _resource_matches(patterns: Iterable[str], resource: str) -> bool:
    return any(arn_like(p, resource) for p in patterns)


@dataclass(frozen=True)
class Request:
    action: str
    resource: str = "*"
    context: RequestContext = field(default_factory=dict)


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not _action_matches(_as_list(statement["Action"]), request.action):
            return False
    elif _action_matches(_as_list(statement.get("NotAction", [])), request.action):
        return False
    if "Resource" in statement:
        if not _resource_matches(_as_list(statement["Resource"]), request.resource):
            return False
    elif "NotResource" in statement and _resource_matches(_as_list(statement["NotResource"]), request.resource):
        return False
    return conditions_hold(statement.get("Condition", {}), request.context)


def evaluate(policies: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """Decide one request against identity policy documents (explicit deny > allow > implicit deny)."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            if not statement_applies(statement, request):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY
