"""Model: ``sts:AssumeRole`` refuses sessions longer than the role's ``MaxSessionDuration`` and, for role
chaining, longer than one hour.

Real AWS (STS API reference, AssumeRole ``DurationSeconds``; IAM User Guide, "Update the maximum session duration
for a role" and "Role chaining"): ``DurationSeconds`` may be 900 s up to the role's ``MaxSessionDuration`` (3,600 s
unless the role's owner raised it, at most 43,200 s); a larger value fails with ``ValidationError`` ("The requested
DurationSeconds exceeds the MaxSessionDuration set for this role."). A role assumed with credentials that are
themselves an assumed role's (role chaining, e.g. an EC2 instance role assuming a tenant role) is limited to one
hour whatever the role's maximum ("... exceeds the 1 hour session limit for roles assumed by role chaining.").

moto 5.2.1 grants any duration. This model checks both limits before the trust policy (``sts_external_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

_MARK = "_skyvault_session_duration_model"
CHAINED_LIMIT_S = 3600
DEFAULT_MAX_SESSION_S = 3600


def _validation_error(message: str) -> tuple[str, dict[str, Any]]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>ValidationError</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return body, {"status": 400, "Content-Type": "text/xml"}


def refusal(*, duration_s: int, caller_arn: str, role_max_s: int | None) -> str | None:
    """AWS's message refusing ``duration_s``, or None when it is allowed."""
    if ":assumed-role/" in caller_arn and duration_s > CHAINED_LIMIT_S:
        return "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    if role_max_s is not None and duration_s > role_max_s:
        return "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    return None


def _role_max_session(role_arn: str) -> int | None:
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return None  # the trust model answers AccessDenied for it
    try:
        role = iam_backends[parts[4]][parts[1] or "aws"].get_role_by_arn(role_arn)
    except Exception:
        return None
    return int(role.max_session_duration or DEFAULT_MAX_SESSION_S)


def apply() -> None:
    from moto.sts.responses import TokenResponse as STSResponse

    original: Callable[[Any], Any] = STSResponse.assume_role
    if getattr(original, _MARK, False):
        return

    def assume_role(self: Any) -> Any:
        duration = int(self._get_param("DurationSeconds") or 3600)
        _, caller_arn, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
        role_arn = str(self._get_param("RoleArn") or "")
        refused = refusal(duration_s=duration, caller_arn=str(caller_arn), role_max_s=_role_max_session(role_arn))
        if refused:
            return _validation_error(refused)
        return original(self)

    setattr(assume_role, _MARK, True)
    setattr(STSResponse, "assume_role", assume_role)  # noqa: B010 - patching a method on purpose
