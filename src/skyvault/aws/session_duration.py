"""How long to ask ``sts:AssumeRole`` for: the configured ``session_duration_s``, clamped to what AWS accepts.

AWS accepts ``DurationSeconds`` up to the role's ``MaxSessionDuration`` (3,600 s unless its owner raised it, at most
43,200 s), and never more than 3,600 s under role chaining (credentials that are themselves an assumed role's, e.g.
an EC2 instance role assuming a tenant role); beyond either it answers ``ValidationError``. The configuration allows
up to 43,200 s because the role may allow it; when AWS refuses, the session is asked again for 3,600 s (valid for
every role and under chaining) and a warning names the setting. Sessions are refreshed before they expire, so a
shorter one costs only more AssumeRole calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from skyvault.errors import AwsError

T = TypeVar("T")
ALWAYS_ACCEPTED_S = 3600  # the role-chaining limit, and the smallest MaxSessionDuration a role can have

_log = logging.getLogger(__name__)


def refuses_duration(error: AwsError) -> bool:
    return error.code == "ValidationError" and "DurationSeconds" in error.message


class SessionLength:
    """The ``DurationSeconds`` of one account's AssumeRole calls: the configured value until AWS refuses it."""

    def __init__(self, account: str, role_arn: str, configured_s: int) -> None:
        self.account = account
        self.role_arn = role_arn
        self.seconds = configured_s

    def assume(self, call: Callable[[int], T]) -> T:
        """``call(seconds)``; on AWS's refusal of a duration over 3,600 s, once more with 3,600 s (and a warning)."""
        try:
            return call(self.seconds)
        except AwsError as exc:
            if self.seconds <= ALWAYS_ACCEPTED_S or not refuses_duration(exc):
                raise
            _log.warning(
                "account %r: session_duration_s = %d is more than %s allows (%s); using %d s. Raise the role's "
                "MaxSessionDuration, or set session_duration_s <= %d (at most 3600 when the source credentials are "
                "themselves a role's: role chaining).",
                self.account,
                self.seconds,
                self.role_arn,
                exc.message,
                ALWAYS_ACCEPTED_S,
                ALWAYS_ACCEPTED_S,
            )
            self.seconds = ALWAYS_ACCEPTED_S
            return call(self.seconds)
