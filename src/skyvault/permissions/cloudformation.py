"""A deployable CloudFormation template: the tenant role, its trust policy and skyvault's managed policies.

Parameters: ``AdminAccountId`` and ``ExternalId`` (the trust), ``RoleName`` (``skyvault-*`` so that the admin
policy's ``role/skyvault-*`` scope reaches it). ARNs use the stack's own partition and account through
``Fn::Sub``, so one template deploys in any account and partition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from skyvault.permissions.render import POLICY_VERSION, render_policies

CFN_VALUES = {"Partition": "${AWS::Partition}", "Account": "${AWS::AccountId}"}
DEFAULT_ROLE_NAME = "skyvault-tenant"


def _sub(value: Any) -> Any:
    """Wrap every string that names a pseudo parameter in Fn::Sub (recursively)."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${AWS::" in value else value
    if isinstance(value, list):
        return [_sub(v) for v in value]
    if isinstance(value, dict):
        return {k: _sub(v) for k, v in value.items()}
    return value


def _logical_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-") if part.isalnum())


def cloudformation_template(rows: Sequence[str], *, restricted: bool = False) -> dict[str, Any]:
    documents = render_policies(rows, restricted=restricted, values=CFN_VALUES)
    kind = "restricted " if restricted else ""
    resources: dict[str, Any] = {
        "SkyvaultRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": {"Ref": "RoleName"},
                "Description": f"skyvault tenant role ({', '.join(rows)})",
                "MaxSessionDuration": 43200,
                "AssumeRolePolicyDocument": {
                    "Version": POLICY_VERSION,
                    "Statement": [
                        {
                            "Sid": "SkyvaultAdminAssumesWithExternalId",
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AdminAccountId}:root"}},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                        }
                    ],
                },
            },
        }
    }
    for document in documents:
        resources[_logical_id(document.name) + "Policy"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": f"skyvault {kind}permissions: {', '.join(rows)} (generated from its registry)",
                "Roles": [{"Ref": "SkyvaultRole"}],
                "PolicyDocument": _sub(document.document()),
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"skyvault tenant role with its {kind}least-privilege policies for: {', '.join(rows)}",
        "Parameters": {
            "AdminAccountId": {
                "Type": "String",
                "AllowedPattern": "^[0-9]{12}$",
                "Description": "The account skyvault runs in (it assumes this role from there).",
            },
            "ExternalId": {
                "Type": "String",
                "MinLength": 2,
                "MaxLength": 1224,
                "AllowedPattern": "^[A-Za-z0-9+=,.@:/_-]+$",
                "NoEcho": True,
                "Description": "The external ID skyvault presents for this tenant (one per tenant).",
            },
            "RoleName": {
                "Type": "String",
                "Default": DEFAULT_ROLE_NAME,
                "AllowedPattern": "^skyvault-[A-Za-z0-9+=,.@_-]+$",
                "Description": "Name of the role (skyvault-*: the admin policy's default scope).",
            },
        },
        "Resources": resources,
        "Outputs": {
            "RoleArn": {
                "Description": "Configure this ARN as the account's role_arn in skyvault.toml",
                "Value": {"Fn::GetAtt": ["SkyvaultRole", "Arn"]},
            }
        },
    }


def render_cloudformation(rows: Sequence[str], *, restricted: bool = False) -> str:
    return json.dumps(cloudformation_template(rows, restricted=restricted), indent=2) + "\n"
