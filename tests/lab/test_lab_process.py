"""The lab process through the CLI: up (idempotent), status, down, stale records; and the config it writes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliResult
from skyvault.config import AuthMethod, load_config
from skyvault.errors import LabError
from skyvault.lab.control import StaleLabError, lab_status, ping
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID, TENANT_ACCOUNT_IDS, LabInfo, read_record, record_path

pytestmark = pytest.mark.lab


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return True  # our child (started in-process by the CLI): reaped
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_up_status_down_through_the_cli(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    where = str(tmp_path / "state")
    up = cli("--json", "lab", "up", "--state-dir", where)
    assert up.exit_code == 0, up.stderr
    started = up.json()
    try:
        assert started["reused"] is False
        assert started["endpoint"].startswith("http://127.0.0.1:")
        assert started["enforce_iam"] is False
        assert started["admin"] == ADMIN_ACCOUNT_ID
        assert started["tenants"] == TENANT_ACCOUNT_IDS
        record = read_record(Path(where))
        assert record is not None
        assert ping(record)["pid"] == started["pid"]

        again = cli("--json", "lab", "up", "--state-dir", where)
        assert again.exit_code == 0, again.stderr
        assert again.json()["reused"] is True
        assert again.json()["pid"] == started["pid"]

        mode_clash = cli("lab", "up", "--enforce-iam", "--state-dir", where)
        assert mode_clash.exit_code == LabError.exit_code
        assert "without IAM enforcement" in mode_clash.stderr

        status = cli("--json", "lab", "status", "--state-dir", where)
        assert status.exit_code == 0, status.stderr
        shown = status.json()
        for key in ("endpoint", "pid", "enforce_iam", "admin", "tenants"):
            assert shown[key] == started[key]
    finally:
        down = cli("--json", "lab", "down", "--state-dir", where)
    assert down.exit_code == 0, down.stderr
    assert down.json() == {"stopped": True, "pid": started["pid"], "stale": False}
    assert _wait_gone(started["pid"])
    assert not record_path(Path(where)).exists()

    after = cli("lab", "status", "--state-dir", where)
    assert after.exit_code == LabError.exit_code
    assert "no lab is running" in after.stderr
    assert cli("--json", "lab", "down", "--state-dir", where).json() == {"stopped": False, "pid": None, "stale": False}


def test_a_killed_lab_leaves_a_stale_record_that_is_reported_and_replaced(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    where = tmp_path / "state"
    first = cli("--json", "lab", "up", "--state-dir", str(where)).json()
    os.kill(first["pid"], signal.SIGKILL)
    assert _wait_gone(first["pid"])
    assert read_record(where) is not None  # SIGKILL gives no chance to clean up

    with pytest.raises(StaleLabError, match="not running"):
        lab_status(where)
    status = cli("lab", "status", "--state-dir", str(where))
    assert status.exit_code == LabError.exit_code
    assert "stale lab record" in status.stderr

    cleared = cli("lab", "down", "--state-dir", str(where))
    assert cleared.exit_code == 0 and "removed the stale lab record" in cleared.stdout + cleared.stderr
    assert read_record(where) is None
    os.kill(cli("--json", "lab", "up", "--state-dir", str(where)).json()["pid"], signal.SIGKILL)

    second = cli("--json", "lab", "up", "--state-dir", str(where))
    try:
        assert second.exit_code == 0, second.stderr
        assert second.json()["pid"] != first["pid"]
        assert "stale" in second.stderr
    finally:
        cli("lab", "down", "--state-dir", str(where))


def test_the_record_is_json_with_the_documented_keys(lab: object) -> None:
    from skyvault.lab.labconfig import LabInfo

    assert isinstance(lab, LabInfo)
    data = json.loads(record_path(Path(lab.state_dir)).read_text())
    assert {"endpoint", "pid", "enforce_iam", "admin", "tenants", "external_ids", "credentials_file"} <= set(data)
    credentials = Path(data["credentials_file"]).read_text()
    assert "[skyvault-lab-admin]" in credentials
    assert oct(Path(data["credentials_file"]).stat().st_mode & 0o777) == "0o600"


def test_lab_env_writes_a_valid_config(lab_env: object) -> None:
    from conftest import LabEnv

    assert isinstance(lab_env, LabEnv)
    config = load_config(lab_env.config_path)
    assert config.accounts["admin"].auth is AuthMethod.KEYS
    assert config.accounts["admin"].endpoint_url == lab_env.lab.endpoint
    for name, account_id in TENANT_ACCOUNT_IDS.items():
        tenant = config.accounts[name]
        assert tenant.auth is AuthMethod.ASSUME_ROLE
        assert tenant.source_account == "admin"
        assert tenant.role_arn == f"arn:aws:iam::{account_id}:role/skyvault-tenant"
        assert tenant.external_id == lab_env.lab.external_ids[name]
        assert tenant.regions == ["us-east-1", "eu-west-1"]
    assert Path.cwd() == lab_env.config_path.parent


def test_lab_seed_bootstraps_writes_a_config_only_when_missing_and_calls_the_seeder(
    lab_env: object, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from conftest import LabEnv
    from skyvault.lab import estate

    assert isinstance(lab_env, LabEnv)
    calls: list[dict[str, object]] = []

    def recording_seeder(factory: object, lab: object, *, accounts: list[str], seed: int) -> dict[str, object]:
        from skyvault.aws.clients import ClientFactory

        assert isinstance(factory, ClientFactory)
        assert isinstance(lab, LabInfo) and lab.token  # the seeder drives the lab's control routes
        calls.append({"accounts": accounts, "seed": seed, "tenant": factory.account_id("tenant-b")})
        return {"created": 3, "accounts": {"admin": {"resources": {"ec2": ["i-1"]}}}}

    monkeypatch.setattr(estate, "seed_estate", recording_seeder)
    fresh = tmp_path / "fresh"
    (fresh / ".skyvault").mkdir(parents=True)
    shutil.copyfile(record_path(lab_env.state_dir), record_path(fresh / ".skyvault"))
    monkeypatch.chdir(fresh)
    monkeypatch.delenv("SKYVAULT_CONFIG")

    seeded = cli("--json", "lab", "seed", "--seed", "5")
    assert seeded.exit_code == 0, seeded.stderr
    assert seeded.json()["wrote_config"] is True
    assert seeded.json()["estate"]["created"] == 3
    assert calls == [{"accounts": ["admin", "tenant-a", "tenant-b"], "seed": 5, "tenant": "222222222222"}]
    written = (fresh / "skyvault.toml").read_text()

    again = cli("lab", "seed")
    assert again.exit_code == 0, again.stderr
    assert "admin: resources: ec2 1" in again.stderr + again.stdout
    assert (fresh / "skyvault.toml").read_text() == written  # an existing config is never rewritten
    assert [c["seed"] for c in calls] == [5, 1]


def test_a_copied_record_never_stops_the_lab_it_points_at(lab_env: object, cli: Callable[..., CliResult]) -> None:
    from conftest import LabEnv

    assert isinstance(lab_env, LabEnv)
    assert record_path(lab_env.state_dir).exists()  # lab_env copied the session lab's record here
    down = cli("lab", "down")
    assert down.exit_code == 0, down.stderr
    assert "keeps running" in " ".join((down.stdout + down.stderr).split())  # rich wraps long lines
    assert not record_path(lab_env.state_dir).exists()
    assert ping(lab_env.lab)["pid"] == lab_env.lab.pid


def test_cli_fixture_captures_log_warnings_on_stderr(cli: Callable[..., CliResult]) -> None:
    import logging

    from skyvault.cli import main as cli_main

    def noisy() -> None:
        logging.getLogger("skyvault.test").warning("heads up from a library")
        raise SystemExit(3)

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_main, "app", lambda **_: noisy())
        result = cli("--version")
    assert result.exit_code == 3
    assert "WARNING skyvault.test: heads up from a library" in result.stderr
