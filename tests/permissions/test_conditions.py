"""The condition evaluator: AWS's documented semantics for the operators skyvault's policies use."""

from __future__ import annotations

from typing import Any

import pytest

from skyvault.permissions.conditions import (
    Decision,
    Request,
    UnsupportedConditionError,
    arn_like,
    conditions_hold,
    evaluate,
)


def holds(block: dict[str, Any], **context: Any) -> bool:
    return conditions_hold(block, {k.replace("__", "/").replace("_", ":", 1): v for k, v in context.items()})


def test_string_equals_and_missing_keys() -> None:
    block = {"StringEquals": {"aws:ResourceTag/skyvault:managed": "true"}}
    assert conditions_hold(block, {"aws:ResourceTag/skyvault:managed": "true"})
    assert conditions_hold(block, {"AWS:RESOURCETAG/skyvault:managed": "true"})  # key names ignore case
    assert not conditions_hold(block, {"aws:ResourceTag/skyvault:managed": "TRUE"})  # values do not
    assert not conditions_hold(block, {})  # a missing key never matches
    assert conditions_hold({"StringEqualsIfExists": {"k": "v"}}, {})
    assert conditions_hold({"StringNotEquals": {"k": "v"}}, {})  # negated operators hold on a missing key
    assert not conditions_hold({"StringNotEquals": {"k": "v"}}, {"k": "v"})
    assert conditions_hold({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"})


def test_values_are_alternatives_and_keys_and_operators_all_apply() -> None:
    assert conditions_hold({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"})
    block = {"StringEquals": {"a": "1", "b": "2"}, "Bool": {"aws:SecureTransport": "true"}}
    assert conditions_hold(block, {"a": "1", "b": "2", "aws:SecureTransport": True})
    assert not conditions_hold(block, {"a": "1", "b": "2", "aws:SecureTransport": "false"})
    assert not conditions_hold(block, {"a": "1", "aws:SecureTransport": "true"})


def test_string_like_and_arn_like() -> None:
    assert conditions_hold({"StringLike": {"s3:prefix": "lib/*"}}, {"s3:prefix": "lib/packs/x"})
    assert conditions_hold({"StringLike": {"k": "a?c"}}, {"k": "abc"})
    assert not conditions_hold({"StringLike": {"k": "a?c"}}, {"k": "abbc"})
    assert conditions_hold({"StringNotLike": {"k": "x*"}}, {"k": "abc"})
    assert arn_like("arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:us-east-1:123456789012:volume/vol-1")
    assert arn_like("arn:aws:ec2:*::snapshot/*", "arn:aws:ec2:us-east-1::snapshot/snap-1")
    # Wildcards do not cross the colons that separate an ARN's parts.
    assert not arn_like("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:123456789012:volume/vol-1")
    assert conditions_hold({"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:role/skyvault-*"}},
                           {"aws:SourceArn": "arn:aws:iam::123456789012:role/skyvault-tenant"})  # fmt: skip


def test_set_qualifiers() -> None:
    own_keys: dict[str, dict[str, Any]] = {"ForAllValues:StringLike": {"aws:TagKeys": ["skyvault:*"]}}
    assert conditions_hold(own_keys, {"aws:TagKeys": ["skyvault:managed", "skyvault:job"]})
    assert not conditions_hold(own_keys, {"aws:TagKeys": ["skyvault:managed", "Name"]})
    assert conditions_hold(own_keys, {})  # ForAllValues is vacuously true on a missing key...
    guarded: dict[str, dict[str, Any]] = {**own_keys, "Null": {"aws:TagKeys": "false"}}
    assert not conditions_hold(guarded, {})  # ...which is why skyvault adds Null=false
    assert conditions_hold(guarded, {"aws:TagKeys": ["skyvault:job"]})
    any_value = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["skyvault:managed"]}}
    assert conditions_hold(any_value, {"aws:TagKeys": ["Name", "skyvault:managed"]})
    assert not conditions_hold(any_value, {"aws:TagKeys": ["Name"]})
    assert not conditions_hold(any_value, {})


def test_null_and_bool() -> None:
    assert conditions_hold({"Null": {"aws:RequestTag/x": "true"}}, {})
    assert not conditions_hold({"Null": {"aws:RequestTag/x": "true"}}, {"aws:RequestTag/x": "1"})
    assert conditions_hold({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": True})
    assert not conditions_hold({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {})


def test_unknown_operator_is_refused_not_guessed() -> None:
    with pytest.raises(UnsupportedConditionError):
        conditions_hold({"NumericLessThan": {"k": "1"}}, {"k": "0"})
    with pytest.raises(UnsupportedConditionError):
        conditions_hold({"ForSomeValues:StringEquals": {"k": "1"}}, {"k": "1"})


def test_policy_evaluation_order() -> None:
    allow = {"Statement": [{"Effect": "Allow", "Action": "ec2:Delete*", "Resource": "arn:aws:ec2:*::snapshot/*"}]}
    deny = {"Statement": {"Effect": "Deny", "Action": "ec2:DeleteSnapshot", "Resource": "*"}}
    snap = "arn:aws:ec2:us-east-1::snapshot/snap-1"
    assert evaluate([allow], Request("ec2:DeleteSnapshot", snap)) is Decision.ALLOWED
    assert evaluate([allow], Request("EC2:deletesnapshot", snap)) is Decision.ALLOWED  # actions ignore case
    assert evaluate([allow, deny], Request("ec2:DeleteSnapshot", snap)) is Decision.EXPLICIT_DENY
    assert evaluate([allow], Request("ec2:DeleteVolume", "arn:aws:ec2:us-east-1:1:volume/v")) is Decision.IMPLICIT_DENY
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert evaluate([not_action], Request("iam:CreateUser")) is Decision.IMPLICIT_DENY
    assert evaluate([not_action], Request("s3:GetObject")) is Decision.ALLOWED
