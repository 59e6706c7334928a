"""Generated artefacts: trust/admin/vmimport policies, CloudFormation (cfn-lint), Terraform, usage table, docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from permissions.fakes import ec2_registry
from skyvault.errors import ConfigError
from skyvault.permissions import cloudformation, terraform
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.render import MANAGED_POLICY_MAX_CHARS, POLICY_ROWS, render_policies
from skyvault.permissions.trust import admin_policy, tenant_trust_policy, vmimport_policies
from skyvault.permissions.usage import markdown_document, usage_rows

ROOT = Path(__file__).resolve().parents[2]


def cfn_problems(template: str) -> list[str]:
    """cfn-lint's errors and warnings (what its CLI reports by default; informational rules are advice)."""
    return [str(m) for m in lint_all(template) if m.rule.id[0] in "EW"]


REGISTRY = load_declarations()
ROWS_WITH_CODE = [r for r in POLICY_ROWS if REGISTRY.select(policies=[r])]


@pytest.fixture
def fake_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudFormation/Terraform over the fake EC2 registry (independent of which drivers landed)."""
    registry = ec2_registry()
    original = render_policies

    def render(rows: Any, **kwargs: Any) -> Any:
        return original(rows, registry=registry, **kwargs)

    monkeypatch.setattr(cloudformation, "render_policies", render)
    monkeypatch.setattr(terraform, "render_policies", render)


def test_tenant_trust_policy() -> None:
    policy = tenant_trust_policy("111122223333", "tenant-a-7f3c")
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "tenant-a-7f3c"}}
    named = tenant_trust_policy("111122223333", "x1", admin_principals=["arn:aws:iam::111122223333:role/skyvault"])
    assert named["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:role/skyvault"}
    with pytest.raises(ConfigError):
        tenant_trust_policy("1234", "x1")
    with pytest.raises(ConfigError):
        tenant_trust_policy("111122223333", "x1", admin_principals=["arn:aws:iam::999999999999:role/other"])


def test_admin_policy_scopes_assume_role_to_the_tenant_roles() -> None:
    roles = ["arn:aws:iam::222222222222:role/skyvault-tenant", "arn:aws:iam::333333333333:role/skyvault-tenant"]
    (document,) = admin_policy(roles)
    grants = {a: s["Resource"] for s in document.statements for a in s["Action"]}
    assert grants == {"sts:AssumeRole": roles}  # GetCallerIdentity needs no permission: not granted
    with pytest.raises(ConfigError):
        admin_policy(["arn:aws:s3:::bucket"])
    (default,) = admin_policy([])
    assert default.statements[0]["Resource"] == "arn:aws:iam::*:role/skyvault-*"


def test_vmimport_role() -> None:
    role = vmimport_policies("images-bucket")
    assert role["role_name"] == "vmimport"
    (trust,) = role["trust_policy"]["Statement"]
    assert trust["Principal"] == {"Service": "vmie.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"sts:Externalid": "vmimport"}}
    resources = {r for s in role["policy"]["Statement"] for r in [s["Resource"]]}
    assert {"arn:aws:s3:::images-bucket", "arn:aws:s3:::images-bucket/*"} <= resources
    assert "kms:Decrypt" in json.dumps(vmimport_policies("images-bucket", kms_key="arn:aws:kms:us-east-1:1:key/k"))
    with pytest.raises(ConfigError):
        vmimport_policies("Not_A_Bucket")


@pytest.mark.parametrize("restricted", [False, True])
def test_cloudformation_template_is_valid(fake_rows: None, restricted: bool) -> None:
    template = json.loads(cloudformation.render_cloudformation(["ec2", "rds"], restricted=restricted))
    assert not cfn_problems(json.dumps(template))
    assert set(template["Parameters"]) == {"AdminAccountId", "ExternalId", "RoleName"}
    role = template["Resources"]["SkyvaultRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert role["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert policies and all(p["Properties"]["Roles"] == [{"Ref": "SkyvaultRole"}] for p in policies)
    text = json.dumps(policies)
    assert '{"Fn::Sub": "arn:${AWS::Partition}:ec2:*::snapshot/*"}' in text
    assert ("aws:ResourceTag/skyvault:managed" in text) is restricted


def test_cloudformation_of_every_row_with_code_is_valid() -> None:
    template = cloudformation.render_cloudformation([r for r in ROWS_WITH_CODE if r != "admin"])
    assert not cfn_problems(template)


def test_terraform_module_structure(fake_rows: None) -> None:
    text = terraform.render_terraform(["ec2"], restricted=True)
    for block in (
        'variable "admin_account_id"',
        'variable "external_id"',
        'resource "aws_iam_role" "skyvault"',
        'resource "aws_iam_policy" "skyvault_ec2_restricted"',
        'resource "aws_iam_role_policy_attachment" "skyvault_ec2_restricted"',
        'output "role_arn"',
    ):
        assert block in text
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")
    # Each jsonencode(...) body is JSON once skyvault's interpolations are resolved.
    bodies = re.findall(r"jsonencode\((\{.*?\n  \})\)", text, flags=re.DOTALL)
    assert len(bodies) == 2
    for body in bodies:
        resolved = body.replace("${data.aws_partition.current.partition}", "aws")
        resolved = resolved.replace("${data.aws_caller_identity.current.account_id}", "123456789012")
        resolved = resolved.replace("${var.admin_account_id}", "111122223333").replace("${var.external_id}", "x")
        document = json.loads(resolved)
        assert document["Version"] == "2012-10-17"
    assert "arn:${data.aws_partition.current.partition}:ec2:*::snapshot/*" in text


def test_terraform_escapes_iam_policy_variables() -> None:
    assert terraform.hcl_value({"Resource": "arn:aws:iam::*:user/${aws:username}"}).count("$${aws:username}") == 1
    assert "${var.external_id}" in terraform.hcl_value({"x": "${var.external_id}"})


def test_generated_policies_of_rows_with_code_are_valid_and_small() -> None:
    for row in ROWS_WITH_CODE:
        for restricted in (False, True):
            for document in render_policies([row], restricted=restricted):
                assert document.size() <= MANAGED_POLICY_MAX_CHARS
                json.loads(json.dumps(document.document()))
                assert document.statements, row


def test_usage_rows_explain_every_action() -> None:
    rows = usage_rows(POLICY_ROWS)
    assert rows
    for row in rows:
        assert row.features and row.steps and row.purposes and row.policies
        assert all(p in POLICY_ROWS for p in row.policies)
    declared = {a for p in REGISTRY.select(policies=POLICY_ROWS) for a in p.iam_actions}
    assert {r.action for r in rows} == declared


def test_every_declared_row_is_a_product_row() -> None:
    unknown = sorted(set(REGISTRY.policies()) - set(POLICY_ROWS) - {"lab"})
    assert not unknown, f"declarations name rows that 'skyvault policy' does not know: {unknown}"


def test_docs_permissions_md_is_current() -> None:
    committed = (ROOT / "docs/permissions.md").read_text()
    assert committed == markdown_document(REGISTRY), (
        "docs/permissions.md is stale: run 'skyvault permissions --format markdown > docs/permissions.md'"
    )
