"""``skyvault -vv`` against the lab: the credentials the lab issued and the request signatures never reach stderr."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from conftest import LabEnv
from skyvault.lab.control import control_headers
from skyvault.lab.labconfig import ADMIN_PROFILE

pytestmark = pytest.mark.lab


def _issued_role_secrets(env: LabEnv) -> set[str]:
    """Every SecretAccessKey and SessionToken the lab's STS handed out (moto's model dump)."""
    request = urllib.request.Request(f"{env.lab.endpoint}/moto-api/data.json", headers=control_headers(env.lab))
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    roles = data.get("sts", {}).get("AssumedRole", [])
    return {str(role[key]) for role in roles for key in ("secret_access_key", "session_token") if role.get(key)}


def test_debug_log_of_an_assume_role_run_holds_no_secret(lab_env: LabEnv) -> None:
    command = [sys.executable, "-m", "skyvault.cli.main", "-vv", "accounts", "list", "--verify"]
    env = {**os.environ, "SKYVAULT_CONFIG": str(lab_env.config_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=lab_env.config_path.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    # The run did log what used to leak: the AssumeRole response, signed headers and signatures.
    assert "AssumeRoleResponse" in log and "X-Amz-Security-Token" in log and "Signature" in log

    issued = _issued_role_secrets(lab_env)
    assert len(issued) >= 4  # two tenants, a key and a token each
    credentials = configparser.ConfigParser()
    credentials.read(lab_env.lab.credentials_file)
    issued.add(credentials[ADMIN_PROFILE]["aws_secret_access_key"])
    leaked = sorted(secret[:12] + "..." for secret in issued if secret in log)
    assert not leaked, f"{len(leaked)} secrets in the -vv log: {leaked}"
    signatures = re.findall(r"Signature=([0-9a-f]{16,})", log) + re.findall(r"Signature:\s*\n([0-9a-f]{64})", log)
    assert not signatures, signatures[:3]
    assert not re.search(r"(?i)x-amz-security-token:(?!\s*\[redacted\])", log)
