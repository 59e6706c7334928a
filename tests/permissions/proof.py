"""The proof harness: a principal holding only a generated policy runs a feature; without any one action, it fails.

A ``Scenario`` names the policy rows and features it exercises, an optional ``setup`` (run with the lab's
permissive credentials, e.g. to create what is then discovered) and ``run``: the feature through skyvault's real
code, raising on failure and asserting on its results. ``proof_tests(SCENARIOS)`` returns two parametrised tests:

- ``test_generated_policy_suffices``: the principal (the tenant role, or the admin user for ``principal="admin"``)
  holds only the generated policy for the scenario's rows and features; ``run`` succeeds.
- ``test_each_action_is_needed``: for each action of that policy, the same principal holds the policy minus that
  action; ``run`` fails with an ``AccessDeniedError`` (possibly as the cause of another error) naming the action.
  The first ``SAMPLE`` actions of each scenario run by default; the rest are marked ``slow`` (``make test`` runs
  all of them; ``-m "not slow"`` skips them while iterating).

Add a driver's proof in one small file::

    from permissions.proof import Proof, Scenario, proof_tests

    def run(proof: Proof) -> None: ...
    SCENARIOS = [Scenario("ec2-backup", rows=("ec2",), features=(Feature.BACKUP,), run=run, setup=setup)]
    test_generated_policy_suffices, test_each_action_is_needed = proof_tests(SCENARIOS)

moto's IAM enforcement checks actions (and resource ARNs for S3, IAM and STS) but ignores Condition blocks: the
restricted policy's conditions are proven by ``test_restricted.py`` with skyvault's evaluator instead. Actions
moto cannot see (it authorises some requests as another action) are listed per scenario in ``moto_blind`` with
the reason; they are proven by the IAM reference and evaluator tests instead, and reported as skipped here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from conftest import LabEnv, credentials_of
from skyvault.aws.clients import ClientFactory
from skyvault.errors import AccessDeniedError
from skyvault.lab.labconfig import ADMIN_POLICY_NAME, ADMIN_USER_NAME, TENANT_INLINE_POLICY, TENANT_ROLE_NAME
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.registry import Feature
from skyvault.permissions.render import render_policies

SAMPLE = 3
REGION = "us-east-1"
PROOF_POLICY = "skyvault-proof"


@dataclass(frozen=True)
class Scenario:
    name: str
    rows: tuple[str, ...]
    features: tuple[Feature, ...]
    run: Callable[[Proof], object]
    setup: Callable[[Proof], None] | None = None
    principal: str = "tenant-a"  # a tenant (its skyvault role) or "admin" (the admin user)
    values: Mapping[str, str] = field(default_factory=dict)  # placeholders for rendering (Bucket, Prefix...)
    policy: Callable[[], list[dict[str, Any]]] | None = None  # default: render rows x features with values
    moto_blind: Mapping[str, str] = field(default_factory=dict)  # action -> why moto cannot check it

    def documents(self) -> list[dict[str, Any]]:
        if self.policy is not None:
            return self.policy()
        load_declarations()
        return [d.document() for d in render_policies(self.rows, features=self.features, values=dict(self.values))]

    def actions(self) -> list[str]:
        return sorted({a for d in self.documents() for s in d["Statement"] for a in _as_list(s["Action"])})


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def without(documents: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The documents with one action removed everywhere (statements left empty are dropped)."""
    result = []
    for document in copy.deepcopy(documents):
        statements = []
        for statement in document["Statement"]:
            kept = [a for a in _as_list(statement["Action"]) if a != action]
            if kept:
                statements.append({**statement, "Action": kept})
        if statements:
            result.append({**document, "Statement": statements})
    return result


def credentials(factory: ClientFactory, account: str) -> dict[str, Any]:
    frozen = credentials_of(factory.session(account)).get_frozen_credentials()
    return {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
        "aws_session_token": frozen.token,
    }


class Proof:
    """One run of a scenario on a freshly reset IAM-enforcing lab."""

    def __init__(self, env: LabEnv, scenario: Scenario) -> None:
        self.env = env
        self.scenario = scenario
        self.region = REGION
        self.state: dict[str, Any] = {}
        self._setup_factory = env.factory()
        self._credentials: dict[str, dict[str, Any]] = {}

    def factory(self) -> ClientFactory:
        """A fresh skyvault client factory (strict guard) over the lab config."""
        return self.env.factory()

    def raw(self, service: str, account: str | None = None) -> Any:
        """A plain boto3 client with the lab's permissive credentials (setup only: not guarded, not skyvault)."""
        account = account or self.scenario.principal
        if account not in self._credentials:
            self._credentials[account] = credentials(self._setup_factory, account)
        return boto3.client(
            service, region_name=self.region, endpoint_url=self.env.lab.endpoint, **self._credentials[account]
        )

    def grant_only(self, documents: list[dict[str, Any]]) -> None:
        """Make the principal hold exactly these policy documents (its permissive lab policy is removed)."""
        principal = self.scenario.principal
        iam = self.raw("iam", principal)
        if principal == "admin":
            for n, document in enumerate(documents):
                iam.put_user_policy(UserName=ADMIN_USER_NAME, PolicyName=f"{PROOF_POLICY}-{n}",
                                    PolicyDocument=json.dumps(document))  # fmt: skip
            # Last: until the permissive policy goes, these calls are allowed; after it, only the proof's are.
            iam.delete_user_policy(UserName=ADMIN_USER_NAME, PolicyName=ADMIN_POLICY_NAME)
        else:
            for n, document in enumerate(documents):
                iam.put_role_policy(RoleName=TENANT_ROLE_NAME, PolicyName=f"{PROOF_POLICY}-{n}",
                                    PolicyDocument=json.dumps(document))  # fmt: skip
            iam.delete_role_policy(RoleName=TENANT_ROLE_NAME, PolicyName=TENANT_INLINE_POLICY)


def denied_actions(error: BaseException) -> tuple[str, ...]:
    """The actions an AccessDeniedError names, found on the error or along its cause chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AccessDeniedError):
            return seen.actions
        seen = seen.__cause__ or seen.__context__
    return ()


def prepare(env: LabEnv, scenario: Scenario, documents: list[dict[str, Any]]) -> Proof:
    proof = Proof(env, scenario)
    if scenario.setup is not None:
        scenario.setup(proof)
    proof.grant_only(documents)
    return proof


def proof_tests(scenarios: list[Scenario]) -> tuple[Callable[..., None], Callable[..., None]]:
    """The two parametrised tests for these scenarios (assign them to module-level test names)."""
    by_name = {s.name: s for s in scenarios}

    @pytest.mark.lab
    @pytest.mark.parametrize("name", list(by_name))
    def test_generated_policy_suffices(iam_lab_env: LabEnv, name: str) -> None:
        scenario = by_name[name]
        documents = scenario.documents()
        assert documents, f"{name}: the generated policy is empty"
        proof = prepare(iam_lab_env, scenario, documents)
        scenario.run(proof)

    cases = []
    for scenario in scenarios:
        for index, action in enumerate(scenario.actions()):
            marks = [pytest.mark.slow] if index >= SAMPLE else []
            cases.append(pytest.param(scenario.name, action, marks=marks, id=f"{scenario.name}-{action}"))

    @pytest.mark.lab
    @pytest.mark.parametrize(("name", "action"), cases)
    def test_each_action_is_needed(iam_lab_env: LabEnv, name: str, action: str) -> None:
        scenario = by_name[name]
        if action in scenario.moto_blind:
            pytest.skip(f"moto cannot check {action}: {scenario.moto_blind[action]}")
        proof = prepare(iam_lab_env, scenario, without(scenario.documents(), action))
        # Any error will do, as long as it (or its cause) is an access denial naming the removed action.
        with pytest.raises(Exception) as caught:
            scenario.run(proof)
        named = denied_actions(caught.value)
        assert action in named, f"{name} without {action} failed, but not for that action: {caught.value!r}"

    return test_generated_policy_suffices, test_each_action_is_needed
