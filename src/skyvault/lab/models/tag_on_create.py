"""Model: IAM enforcement asks for the tagging action when a request tags what it creates.

Real AWS: a request that carries tags for the resource it creates is authorised twice, for its own action and for
the service's tagging action: ``ec2:CreateTags`` (``TagSpecifications``), ``rds:AddTagsToResource`` (RDS and
DocumentDB ``Tags``), ``redshift:CreateTags``, ``kms:TagResource`` (``CreateKey`` with ``Tags``) and
``dynamodb:TagResource`` (``CreateTable`` with ``Tags``). A policy without it cannot create tagged resources.

moto 5.2.1 authorises only the request's own action, so a policy missing the tagging action passes in the lab and
fails on AWS. This model authorises the tagging action as well, whenever the request carries tags (except for
the tagging action itself).
"""

from __future__ import annotations

import json
from typing import Any

_MARK = "_skyvault_tag_on_create_model"
COMPANION = {
    "ec2": "CreateTags",
    "rds": "AddTagsToResource",
    "redshift": "CreateTags",
    "kms": "TagResource",
    "dynamodb": "TagResource",
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
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse, _MARK, False):
        return
    original = BaseResponse._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        original(self, resource)
        companion = COMPANION.get(getattr(self, "service_name", ""))
        if companion is None or self._get_action() == companion:
            return
        if not carries_tags(dict(self.querystring or {}), getattr(self, "body", None)):
            return
        self._get_action = lambda: companion  # the instance's action, for this second check only
        try:
            original(self, resource)
        finally:
            del self._get_action

    setattr(BaseResponse, "_authenticate_and_authorize_normal_action", authorize)  # noqa: B010
    setattr(BaseResponse, _MARK, True)
