"""``skyvault.toml`` for the lab: the admin account (lab access key) and the tenants reached by AssumeRole.

The file holds no secret: the admin key lives in the lab credentials file (profile ``skyvault-lab-admin``),
tenants are reached with ``sts:AssumeRole`` + external ID from the admin account, exactly like real AWS.
"""

from __future__ import annotations

from pathlib import Path

from skyvault.config import AccountConfig, AuthMethod, SkyvaultConfig, load_config, save_config
from skyvault.lab.labconfig import ADMIN_PROFILE, LAB_REGIONS, LabInfo, tenant_role_arn

ADMIN_ACCOUNT_NAME = "admin"


def lab_accounts(lab: LabInfo, *, regions: tuple[str, ...] = LAB_REGIONS) -> dict[str, AccountConfig]:
    accounts = {
        ADMIN_ACCOUNT_NAME: AccountConfig(
            auth=AuthMethod.KEYS,
            account_id=lab.admin_account_id,
            regions=list(regions),
            endpoint_url=lab.endpoint,
            profile=ADMIN_PROFILE,
            credentials_file=lab.credentials_file,
        )
    }
    for name, account_id in sorted(lab.tenants.items()):
        accounts[name] = AccountConfig(
            auth=AuthMethod.ASSUME_ROLE,
            account_id=account_id,
            regions=list(regions),
            endpoint_url=lab.endpoint,
            role_arn=tenant_role_arn(account_id),
            external_id=lab.external_ids.get(name),
            source_account=ADMIN_ACCOUNT_NAME,
        )
    return accounts


def write_lab_config(config_path: Path, lab: LabInfo) -> SkyvaultConfig:
    """Write (or update) ``config_path`` with the lab's accounts; other accounts and libraries are kept."""
    existing = load_config(config_path, missing_ok=True)
    accounts = dict(existing.accounts)
    accounts.update(lab_accounts(lab))
    config = existing.model_copy(update={"accounts": accounts})
    # model_copy skips validation: round-trip through the validator so a bad merge never reaches disk.
    config = SkyvaultConfig.model_validate(config.model_dump())
    save_config(config, config_path)
    return config
