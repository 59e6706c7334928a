"""The preflight check against the IAM-enforcing lab, and the lab's SimulatePrincipalPolicy model."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LabEnv
from permissions.proof import Proof, Scenario, prepare, proof_tests
from skyvault.engine.preflight import preflight
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS, TENANT_ROLE_NAME
from skyvault.permissions.check import principal_arn, sample_arn
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import Feature
from skyvault.permissions.render import render_policies

pytestmark = pytest.mark.lab
ACCOUNT = "tenant-a"
ROLE = f"arn:aws:iam::{TENANT_ACCOUNT_IDS[ACCOUNT]}:role/{TENANT_ROLE_NAME}"


def documents(rows: list[str], **kwargs: Any) -> list[dict[str, Any]]:
    load_declarations()
    return [d.document() for d in render_policies(rows, **kwargs)]


def _rows_policy(*rows: str) -> Scenario:
    return Scenario(f"check-{'-'.join(rows)}", rows=rows, features=tuple(Feature), run=lambda proof: None)


def test_simulate_principal_policy_model(iam_lab_env: LabEnv) -> None:
    """SimulatePrincipalPolicy (absent from moto) decides with the principal's policies, conditions included."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
            {"Effect": "Allow", "Action": "ec2:DeleteSnapshot", "Resource": "arn:aws:ec2:*::snapshot/*",
             "Condition": {"StringEquals": {"aws:ResourceTag/skyvault:managed": "true"}}},
            {"Effect": "Allow", "Action": "iam:SimulatePrincipalPolicy", "Resource": ROLE},
        ],
    }  # fmt: skip
    proof = prepare(iam_lab_env, _rows_policy("ec2"), [policy])
    iam = proof.raw("iam")  # fresh credentials of the role, which now holds only this policy

    def decide(action: str, resource: str, context: list[dict[str, Any]] | None = None) -> str:
        params: dict[str, Any] = {"PolicySourceArn": ROLE, "ActionNames": [action], "ResourceArns": [resource]}
        if context:
            params["ContextEntries"] = context
        results = iam.simulate_principal_policy(**params)["EvaluationResults"]
        assert [(r["EvalActionName"], r["EvalResourceName"]) for r in results] == [(action, resource)]
        return str(results[0]["EvalDecision"])

    snapshot = "arn:aws:ec2:us-east-1::snapshot/snap-0123"
    tagged = [{"ContextKeyName": "aws:ResourceTag/skyvault:managed", "ContextKeyValues": ["true"],
               "ContextKeyType": "string"}]  # fmt: skip
    assert decide("ec2:DescribeVolumes", "*") == "allowed"
    assert decide("ec2:RunInstances", "*") == "implicitDeny"
    assert decide("ec2:DeleteSnapshot", snapshot) == "implicitDeny"
    assert decide("ec2:DeleteSnapshot", snapshot, tagged) == "allowed"
    # The simulation is authorised against the simulated principal's ARN, as on AWS.
    with pytest.raises(ClientError) as caught:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{TENANT_ACCOUNT_IDS[ACCOUNT]}:user/someone", ActionNames=["s3:GetObject"]
        )
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_preflight_ok_missing_and_fallback(iam_lab_env: LabEnv) -> None:
    # The tenant role holds the ec2 discover policy plus the check row: simulation works and all is OK.
    scenario = Scenario("check", rows=("ec2", "check"), features=(Feature.DISCOVER, Feature.CHECK),
                        run=lambda proof: None)  # fmt: skip
    proof = prepare(iam_lab_env, scenario, scenario.documents())
    report = preflight(proof.factory(), ACCOUNT, rows=["ec2"], registry=load_declarations())
    assert report.method == "simulate" and report.principal == ROLE
    by_feature = {r.feature: r for r in report.results}
    assert by_feature["discover"].status == "ok"
    # Features the policy does not cover are reported with every missing action.
    others = [r for r in report.results if r.feature != "discover"]
    assert others and all(r.status == "missing" and r.missing for r in others)
    assert not report.ok


def test_preflight_names_a_missing_action(iam_lab_env: LabEnv) -> None:
    full = documents(["ec2", "check"], features=[Feature.DISCOVER, Feature.CHECK])
    reduced = [
        {**d, "Statement": [{**s, "Action": [a for a in s["Action"] if a != "ec2:DescribeVolumes"]}
                            for s in d["Statement"]]}
        for d in full
    ]  # fmt: skip
    scenario = Scenario("check-missing", rows=("ec2",), features=(Feature.DISCOVER,), run=lambda proof: None)
    proof = prepare(iam_lab_env, scenario, reduced)
    report = preflight(proof.factory(), ACCOUNT, rows=["ec2"], registry=load_declarations())
    discover = next(r for r in report.results if r.feature == "discover")
    assert discover.status == "missing" and discover.missing == ["ec2:DescribeVolumes"]


def test_preflight_falls_back_to_dryrun_probes(iam_lab_env: LabEnv) -> None:
    # Without iam:SimulatePrincipalPolicy, EC2 actions are probed with DryRun: granted ones verify as OK,
    # the rest are missing; actions DryRun cannot probe are reported unverified, never guessed.
    reduced = documents(["ec2"], features=[Feature.DISCOVER])
    for document in reduced:
        for statement in document["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != "ec2:DescribeVolumes"]
    scenario = Scenario("check-dryrun", rows=("ec2",), features=(Feature.DISCOVER,), run=lambda proof: None)
    proof = prepare(iam_lab_env, scenario, reduced)
    report = preflight(proof.factory(), ACCOUNT, rows=["ec2"], registry=load_declarations())
    assert report.method == "dryrun" and report.simulate_denied is not None
    assert "iam:SimulatePrincipalPolicy" in report.simulate_denied.actions
    discover = next(r for r in report.results if r.feature == "discover")
    assert discover.missing == ["ec2:DescribeVolumes"]
    assert "ec2:DescribeInstances" not in discover.unverified


def test_principal_and_sample_arns() -> None:
    assert principal_arn("arn:aws:sts::111111111111:assumed-role/skyvault-tenant/s1") == ROLE
    assert principal_arn("arn:aws:iam::111111111111:user/ops") == "arn:aws:iam::111111111111:user/ops"
    values = {"Partition": "aws", "Region": "eu-west-1", "Account": "111111111111"}
    assert (
        sample_arn("arn:${Partition}:ec2:*::snapshot/*", values) == "arn:aws:ec2:eu-west-1::snapshot/skyvault-preflight"
    )
    assert sample_arn("arn:${Partition}:iam::*:role/skyvault-*", values) == (
        "arn:aws:iam::111111111111:role/skyvault-skyvault-preflight"
    )


# -- the check row itself: the preflight simulates only with iam:SimulatePrincipalPolicy ----------------------
def run_check(proof: Proof) -> None:
    report = preflight(proof.factory(), ACCOUNT, rows=["ec2"], registry=load_declarations())
    if report.simulate_denied is not None:
        raise report.simulate_denied
    assert report.method == "simulate"


SCENARIOS = [Scenario("check-simulate", rows=("check",), features=(Feature.CHECK,), run=run_check)]
test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)
