"""Multi-account bootstrap, run inside the lab process directly on moto's IAM backends.

What it builds, per account (the shape ``skyvault policy trust|admin`` describes for real AWS):
- admin account: IAM user ``skyvault-admin`` with one access key and an allow-all inline policy; the key is written
  to the lab credentials file as profile ``skyvault-lab-admin`` (the only place the secret lives).
- each tenant: role ``skyvault-tenant`` trusting ``arn:aws:iam::<admin>:root`` on the condition
  ``sts:ExternalId = <per-tenant external ID>``, with a permissive inline policy that tests replace.

It runs in-process rather than through HTTP so it never counts against IAM enforcement, and it is idempotent:
existing users/roles are kept (their policies are put again), so ``bootstrap-accounts`` can be called any time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyvault.lab.labconfig import (
    ADMIN_POLICY_NAME,
    ADMIN_PROFILE,
    ADMIN_USER_NAME,
    TENANT_INLINE_POLICY,
    TENANT_ROLE_NAME,
    write_atomically,
)

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass
class LabAccounts:
    admin_account_id: str
    tenants: dict[str, str]
    external_ids: dict[str, str]
    credentials_file: Path
    admin_access_key_id: str = field(default="", repr=False)


def trust_policy(admin_account_id: str, external_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{admin_account_id}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                }
            ],
        }
    )


def _iam(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def _ensure_admin(accounts: LabAccounts) -> tuple[str, str]:
    iam = _iam(accounts.admin_account_id)
    if ADMIN_USER_NAME not in iam.users:
        iam.create_user(region_name="us-east-1", user_name=ADMIN_USER_NAME, tags=[])
    iam.put_user_policy(ADMIN_USER_NAME, ADMIN_POLICY_NAME, ALLOW_ALL)
    keys = [k for k in iam.list_access_keys(ADMIN_USER_NAME) if k.access_key_id == accounts.admin_access_key_id]
    key = keys[0] if keys else iam.create_access_key(ADMIN_USER_NAME)
    return str(key.access_key_id), str(key.secret_access_key)


def _ensure_tenant_role(admin_account_id: str, tenant_account_id: str, external_id: str) -> None:
    iam = _iam(tenant_account_id)
    document = trust_policy(admin_account_id, external_id)
    if TENANT_ROLE_NAME in {role.name for role in iam.roles.values()}:
        iam.update_assume_role_policy(TENANT_ROLE_NAME, document)
    else:
        iam.create_role(
            role_name=TENANT_ROLE_NAME,
            assume_role_policy_document=document,
            path="/",
            permissions_boundary=None,
            description="skyvault tenant role (lab)",
            tags=[],
            max_session_duration="43200",
        )
    iam.put_role_policy(TENANT_ROLE_NAME, TENANT_INLINE_POLICY, ALLOW_ALL)


def _write_credentials(path: Path, access_key_id: str, secret: str) -> None:
    text = f"[{ADMIN_PROFILE}]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}\n"
    write_atomically(path, text, mode=0o600)


def bootstrap_accounts(accounts: LabAccounts) -> None:
    """Create (or re-assert) the admin user, its key file, and each tenant's trusted role."""
    key_id, secret = _ensure_admin(accounts)
    if key_id != accounts.admin_access_key_id:
        accounts.admin_access_key_id = key_id
        _write_credentials(accounts.credentials_file, key_id, secret)
    for name, account_id in accounts.tenants.items():
        _ensure_tenant_role(accounts.admin_account_id, account_id, accounts.external_ids[name])
