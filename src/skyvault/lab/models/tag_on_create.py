"""Model: IAM enforcement asks for the tagging action when a request tags what it creates.

Real AWS: a request that carries tags for the resource it creates is authorised twice, for its own action and for
the service's tagging action: ``ec2:CreateTags`` (``TagSpecifications``), ``rds:AddTagsToResource`` (RDS and
DocumentDB ``Tags``), ``redshift:CreateTags``, ``kms:TagResource`` (``CreateKey`` with ``Tags``) and
``dynamodb:TagResource`` (``CreateTable`` with ``Tags``). The EBS direct API's ``StartSnapshot`` with ``Tags`` is
authorised as ``ebs:StartSnapshot`` *and* ``ec2:CreateTags`` (Service Authorization Reference, "API operations
defined by Amazon Elastic Block Store"): the companion belongs to another service. A policy without it cannot
create tagged resources.

moto 5.2.1 authorises only the request's own action, so a policy missing the tagging action passes in the lab and
fails on AWS. This model authorises the tagging action as well, whenever the request carries tags (except for
the tagging action itself).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

_MARK = "_skyvault_tag_on_create_model"
# botocore service -> the IAM action (prefix:name) that authorises tags on create.
COMPANION = {
    "ec2": "ec2:CreateTags",
    "ebs": "ec2:CreateTags",
    "rds": "rds:AddTagsToResource",
    "redshift": "redshift:CreateTags",
    "kms": "kms:TagResource",
    "dynamodb": "dynamodb:TagResource",
}


def carries_tags(querystring: dict[str, Any], body: Any) -> bool:
    """Tags for the created resource: query parameters (EC2, RDS, Redshift) or a JSON ``Tags`` member."""
    if any(k.startswith(("TagSpecification.", "Tags.")) for k in querystring):
        return True
    if isinstance(body, bytes | str) and body[:1] in ("{", b"{"):
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return isinstance(data, dict) and bool(data.get("Tags"))
    return False


def apply() -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.responses import BaseResponse
    from moto.iam.access_control import IAMRequest

    if getattr(BaseResponse, _MARK, False):
        return
    original = BaseResponse._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        original(self, resource)
        companion = COMPANION.get(getattr(self, "service_name", ""))
        if companion is None or f"{self.service_name}:{self._get_action()}" == companion:
            return
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            return  # enforcement is off (the first check counted this request)
        if not carries_tags(dict(self.querystring or {}), getattr(self, "body", None)):
            return
        path = urlparse(self.uri).path
        request = IAMRequest(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=companion.split(":", 1)[1],
        )
        # The signature was verified by the first check; the companion may belong to another service (EBS asks
        # for ec2:CreateTags), so the action is named in full rather than from the request's credential scope.
        request._action = companion
        request.check_action_permitted(resource)

    setattr(BaseResponse, "_authenticate_and_authorize_normal_action", authorize)  # noqa: B010
    setattr(BaseResponse, _MARK, True)
