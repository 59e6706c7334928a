"""Proof: the generated tenant trust policy lets the admin account in with the external ID, and nobody else."""

from __future__ import annotations

import json

import pytest

from conftest import LabEnv
from permissions.proof import Proof, Scenario
from skyvault.aws.clients import ClientFactory
from skyvault.errors import AuthError
from skyvault.lab.labconfig import TENANT_ACCOUNT_IDS, TENANT_ROLE_NAME
from skyvault.permissions.registry import Feature
from skyvault.permissions.trust import tenant_trust_policy

pytestmark = pytest.mark.lab
ACCOUNT = "tenant-a"


def _factory(env: LabEnv, external_id: str | None) -> ClientFactory:
    tenant = env.config.accounts[ACCOUNT].model_copy(update={"external_id": external_id})
    config = env.config.model_copy(update={"accounts": {**env.config.accounts, ACCOUNT: tenant}})
    return ClientFactory(config, base_dir=env.config_path.parent, strict_guard=True)


@pytest.mark.parametrize("named_principal", [False, True], ids=["admin-account", "admin-user"])
def test_generated_trust_policy(iam_lab_env: LabEnv, named_principal: bool) -> None:
    proof = Proof(iam_lab_env, Scenario("trust", rows=("admin",), features=(Feature.AUTH,), run=lambda p: None))
    admin_id = iam_lab_env.lab.admin_account_id
    admin_user = proof.raw("sts", "admin").get_caller_identity()["Arn"]
    external_id = "tenant-a-proof-7f3c"
    trust = tenant_trust_policy(admin_id, external_id, admin_principals=[admin_user] if named_principal else [])
    proof.raw("iam").update_assume_role_policy(RoleName=TENANT_ROLE_NAME, PolicyDocument=json.dumps(trust))

    assert _factory(iam_lab_env, external_id).account_id(ACCOUNT) == TENANT_ACCOUNT_IDS[ACCOUNT]
    for wrong in ("guessed", None):
        with pytest.raises(AuthError, match="sts:AssumeRole"):
            _factory(iam_lab_env, wrong).account_id(ACCOUNT)
