"""Model: IAM enforcement does not refuse a resource-scoped statement when moto does not know the resource.

Real AWS authorises each request against the ARNs of the resources it touches, so a statement scoped to
``arn:aws:rds:*:*:cluster:*`` allows ``rds:DescribeDBClusters`` on clusters. moto 5.2.1 knows the request's
resource only for S3, IAM and STS; for every other service it authorises against the literal resource ``*``,
which no ARN pattern matches, so any least-privilege (resource-scoped) policy is refused there although AWS
would allow it.

This model makes a statement's Resource match when moto's resource is ``*`` (unknown): actions stay fully
enforced, and resource scoping of the other services is proven where it can be, by validating every ARN template
against AWS's IAM reference (``tests/permissions/test_iamref.py``). S3, IAM and STS keep moto's real ARN checks.
"""

from __future__ import annotations

from typing import Any

_MARK = "_skyvault_unknown_resource_model"


def apply() -> None:
    from moto.iam.access_control import IAMPolicyStatement

    if getattr(IAMPolicyStatement, _MARK, False):
        return
    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        if resource == "*" and "Resource" in self._statement:
            # Unknown resource: judge the statement on its action (and principal/conditions) only.
            unscoped = IAMPolicyStatement({**self._statement, "Resource": "*"})
            return original(unscoped, action, resource, principal, incoming_condition_values)
        return original(self, action, resource, principal, incoming_condition_values)

    setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)  # noqa: B010
    setattr(IAMPolicyStatement, _MARK, True)
