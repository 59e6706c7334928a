"""The lab's fixed shape: account IDs, tenant role, file locations, and the ``LabInfo`` record.

Pure data (no moto, no I/O beyond reading/writing the record): the CLI, the control API and the server process
all share these definitions.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skyvault.errors import LabError

ADMIN_ACCOUNT_ID = "123456789012"  # moto's default account: unknown credentials land here, as in moto
TENANT_ACCOUNT_IDS: dict[str, str] = {"tenant-a": "111111111111", "tenant-b": "222222222222"}
TENANT_ROLE_NAME = "skyvault-tenant"
TENANT_INLINE_POLICY = "skyvault-lab-permissive"  # tests replace it with a generated policy
ADMIN_USER_NAME = "skyvault-admin"
ADMIN_POLICY_NAME = "skyvault-lab-admin"
ADMIN_PROFILE = "skyvault-lab-admin"
LAB_REGIONS = ("us-east-1", "eu-west-1")

RECORD_NAME = "lab.json"
LAB_SUBDIR = "lab"
CREDENTIALS_NAME = "credentials"
LOG_NAME = "server.log"
BLOCKS_NAME = "blocks"
CONTROL_PREFIX = "/_skyvault"
MOTO_API_PREFIX = "/moto-api"  # moto's own control routes (reset, state dump): guarded like ours
TOKEN_HEADER = "X-Skyvault-Lab-Token"
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def record_path(state_dir: Path) -> Path:
    return state_dir / RECORD_NAME


def lab_dir(state_dir: Path) -> Path:
    return state_dir / LAB_SUBDIR


def credentials_path(state_dir: Path) -> Path:
    return lab_dir(state_dir) / CREDENTIALS_NAME


def log_path(state_dir: Path) -> Path:
    return lab_dir(state_dir) / LOG_NAME


def blocks_path(state_dir: Path) -> Path:
    """Where the lab keeps EBS block data while it runs (emptied at start, removed at stop)."""
    return lab_dir(state_dir) / BLOCKS_NAME


def tenant_role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{TENANT_ROLE_NAME}"


@dataclass(frozen=True)
class LabInfo:
    """A running lab as recorded in ``<state_dir>/lab.json`` (written by the server process once it listens)."""

    endpoint: str
    pid: int
    enforce_iam: bool
    state_dir: str
    admin_account_id: str = ADMIN_ACCOUNT_ID
    tenants: dict[str, str] = field(default_factory=lambda: dict(TENANT_ACCOUNT_IDS))
    external_ids: dict[str, str] = field(default_factory=dict)
    credentials_file: str = ""
    started_at: str = ""
    moto_version: str = ""
    # The secret a client shows (header TOKEN_HEADER) to use the control routes; only the 0600 record holds it.
    token: str = field(default="", repr=False)
    # S3 on Outposts hosts are HTTPS only: clients reach them through this proxy, trusting this CA (lab/tls/).
    https_proxy: str = ""
    ca_bundle: str = ""

    def to_json(self) -> dict[str, Any]:
        """``lab status --json``: endpoint, pid, enforce_iam, account IDs, external IDs, files (not the token)."""
        data = asdict(self)
        del data["token"]
        data["admin"] = self.admin_account_id
        return data

    def to_record(self) -> dict[str, Any]:
        """What ``lab.json`` holds: ``to_json()`` and the control token."""
        return {**self.to_json(), "token": self.token}

    def to_public_json(self) -> dict[str, Any]:
        """What the status route tells a caller without the token: no external IDs, no file paths."""
        public = ("endpoint", "pid", "enforce_iam", "admin_account_id", "tenants", "started_at", "moto_version")
        data = {name: value for name, value in self.to_json().items() if name in public}
        data["admin"] = self.admin_account_id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabInfo:
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise LabError(f"lab record is incomplete: {exc}") from None


def read_record(state_dir: Path) -> LabInfo | None:
    path = record_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: unreadable lab record: {exc}", hint="remove it, then 'skyvault lab up'") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}: lab record is not a JSON object", hint="remove it, then 'skyvault lab up'")
    return LabInfo.from_json(data)


def write_atomically(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Readers never see a half-written record or credentials file (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(state_dir: Path, info: LabInfo) -> None:
    """Owner-only (0600): the record holds the control token and the tenants' external IDs."""
    write_atomically(record_path(state_dir), json.dumps(info.to_record(), indent=2) + "\n", mode=0o600)


def remove_record(state_dir: Path) -> None:
    record_path(state_dir).unlink(missing_ok=True)
