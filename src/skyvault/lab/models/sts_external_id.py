"""Model: ``sts:AssumeRole`` honours the role's trust policy and its ``sts:ExternalId`` condition.

Real AWS: AssumeRole succeeds only if the role exists and its trust policy allows the caller (principal = the
caller's account root, the caller's user/role ARN, or ``*``) for ``sts:AssumeRole`` with every condition met;
otherwise it answers ``AccessDenied`` (HTTP 403): "User: <caller> is not authorized to perform: sts:AssumeRole on
resource: <role>". A missing or wrong external ID is the same ``AccessDenied``.

moto 5.2.1 hands out credentials for any role ARN, existing or not, and ignores trust policies unless IAM
enforcement is on (and then ignores conditions). This model wraps ``STSResponse.assume_role`` to evaluate the
trust policy first. Supported condition operators: StringEquals, StringLike, StringNotEquals, StringNotLike (and
their IfExists forms); keys: ``sts:ExternalId``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``. Anything else
fails closed (the statement does not match), so a policy the lab cannot evaluate never grants access.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

_MARK = "_skyvault_trust_model"
_ALLOWED_ACTIONS = {"sts:assumerole", "sts:*", "*"}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _role_arn_of(caller_arn: str) -> str:
    # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION is the role arn:aws:iam::ACCOUNT:role/NAME
    parts = caller_arn.split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        name = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{name}"
    return caller_arn


def principal_matches(principal: Any, caller_arn: str, caller_account: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry in ("*", caller_account, f"arn:aws:iam::{caller_account}:root"):
            return True
        if entry in (caller_arn, _role_arn_of(caller_arn)):
            return True
    return False


def _condition_matches(conditions: Any, context: dict[str, str | None]) -> bool:
    if not conditions:
        return True
    if not isinstance(conditions, dict):
        return False
    for operator, clauses in conditions.items():
        if not isinstance(clauses, dict):
            return False
        base = operator.removesuffix("IfExists")
        if_exists = operator.endswith("IfExists")
        for key, expected in clauses.items():
            lowered = key.lower()
            if lowered not in context:
                return False  # a key the lab does not know: fail closed
            actual = context[lowered]
            if actual is None:
                if if_exists or base in ("StringNotEquals", "StringNotLike"):
                    continue
                return False
            values = [str(v) for v in _as_list(expected)]
            if base == "StringEquals":
                ok = actual in values
            elif base == "StringLike":
                ok = any(fnmatch.fnmatchcase(actual, v) for v in values)
            elif base == "StringNotEquals":
                ok = actual not in values
            elif base == "StringNotLike":
                ok = not any(fnmatch.fnmatchcase(actual, v) for v in values)
            else:
                return False
            if not ok:
                return False
    return True


def _statement_applies(statement: dict[str, Any], caller_arn: str, context: dict[str, str | None]) -> bool:
    actions = {str(a).lower() for a in _as_list(statement.get("Action"))}
    if not actions & _ALLOWED_ACTIONS:
        return False
    caller_account = str(context["aws:principalaccount"])
    if not principal_matches(statement.get("Principal"), caller_arn, caller_account):
        return False
    return _condition_matches(statement.get("Condition"), context)


def trust_allows(document: str, *, caller_arn: str, caller_account: str, external_id: str | None) -> bool:
    """Whether a trust policy lets ``caller_arn`` assume the role (explicit Deny wins, default deny)."""
    try:
        policy = json.loads(document)
    except ValueError:
        policy = json.loads(unquote(document))
    context: dict[str, str | None] = {
        "sts:externalid": external_id,
        "aws:principalarn": _role_arn_of(caller_arn),
        "aws:principalaccount": caller_account,
    }
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, dict) or not _statement_applies(statement, caller_arn, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


class AssumeRoleDeniedError(Exception):
    def __init__(self, caller_arn: str, role_arn: str) -> None:
        super().__init__(f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")

    def response(self) -> tuple[str, dict[str, Any]]:
        """STS's own error document with HTTP 403, as AWS sends it (moto's serializer would say 400)."""
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{escape(str(self))}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        return body, {"status": 403, "Content-Type": "text/xml"}


def check_assume_role(response: Any) -> None:
    """Raise ``AccessDenied`` unless the target role exists and trusts the caller."""
    from moto.iam.models import iam_backends

    role_arn = str(response._get_param("RoleArn") or "")
    external_id = response._get_param("ExternalId")
    _, caller_arn, caller_account = response.backend.get_caller_identity(response.get_access_key(), response.region)
    parts = role_arn.split(":")
    if len(parts) != 6 or not parts[5].startswith("role/"):
        raise AssumeRoleDeniedError(caller_arn, role_arn)
    try:
        role = iam_backends[parts[4]][parts[1] or "aws"].get_role_by_arn(role_arn)
    except Exception:
        raise AssumeRoleDeniedError(caller_arn, role_arn) from None
    if not trust_allows(
        role.assume_role_policy_document, caller_arn=caller_arn, caller_account=caller_account, external_id=external_id
    ):
        raise AssumeRoleDeniedError(caller_arn, role_arn)


def apply() -> None:
    from moto.sts.responses import TokenResponse as STSResponse

    original: Callable[[Any], Any] = STSResponse.assume_role
    if getattr(original, _MARK, False):
        return

    def assume_role(self: Any) -> Any:
        try:
            check_assume_role(self)
        except AssumeRoleDeniedError as denied:
            return denied.response()
        return original(self)

    setattr(assume_role, _MARK, True)
    setattr(STSResponse, "assume_role", assume_role)  # noqa: B010 - patching a method on purpose
