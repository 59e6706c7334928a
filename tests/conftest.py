"""Shared fixtures: a safe environment, the local AWS lab, a per-test lab config, and an in-process CLI runner.

- ``lab`` / ``iam_lab`` (session): one lab process per xdist worker (``iam_lab`` enforces IAM; started only when
  a test asks for it). Both stop when the session ends, and die with the test process if it is killed.
- ``lab_env`` / ``iam_lab_env`` (function): reset the lab (fresh moto state + bootstrap), write a skyvault.toml
  into ``tmp_path``, chdir there and point ``SKYVAULT_CONFIG`` at it.
- ``cli``: run ``skyvault ...`` in-process: ``cli("--json", "lab", "status")`` -> ``CliResult``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials

# -- environment: set before any test imports boto3 or skyvault ----------------------------------------------
# Nothing in a test may reach real AWS with real credentials: dummy keys, no profiles, no shared files.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
for _name in list(os.environ):
    if _name.startswith("AWS_ENDPOINT_URL_"):
        os.environ.pop(_name)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["SKYVAULT_STRICT_PERMISSIONS"] = "1"

from skyvault.aws.clients import ClientFactory  # noqa: E402
from skyvault.config import SkyvaultConfig, state_dir  # noqa: E402
from skyvault.lab.accounts import write_lab_config  # noqa: E402
from skyvault.lab.control import reset_lab, start_lab, stop_lab  # noqa: E402
from skyvault.lab.labconfig import LabInfo, write_record  # noqa: E402


# -- the lab -------------------------------------------------------------------------------------------------
def _start(tmp_path_factory: pytest.TempPathFactory, name: str, *, enforce_iam: bool) -> Iterator[LabInfo]:
    where = tmp_path_factory.mktemp(name)
    info = start_lab(where, enforce_iam=enforce_iam, exit_with_parent=True)
    try:
        yield info
    finally:
        stop_lab(where)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """A running lab (no IAM enforcement), shared by this worker's tests. Use ``lab_env`` for a clean state."""
    yield from _start(tmp_path_factory, "lab", enforce_iam=False)


@pytest.fixture(scope="session")
def iam_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """A running lab that checks every request against the caller's IAM policies."""
    yield from _start(tmp_path_factory, "iam-lab", enforce_iam=True)


@dataclass
class LabEnv:
    lab: LabInfo
    config_path: Path
    config: SkyvaultConfig
    state_dir: Path

    def factory(self) -> ClientFactory:
        """A fresh client factory over the lab config, with the strict call guard."""
        return ClientFactory(self.config, base_dir=self.config_path.parent, strict_guard=True)


def _lab_env(info: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabEnv:
    reset_lab(info)
    config_path = tmp_path / "skyvault.toml"
    config = write_lab_config(config_path, info)
    where = state_dir(config, config_path)
    where.mkdir(parents=True, exist_ok=True)
    # 'skyvault lab status|write-blocks|checksum' run in this folder find the session's lab through this copy.
    write_record(where, info)  # 0600, like the lab's own record: it holds the control token
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKYVAULT_CONFIG", str(config_path))
    return LabEnv(lab=info, config_path=config_path, config=config, state_dir=where)


@pytest.fixture
def lab_env(lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabEnv:
    """A freshly reset lab and a skyvault.toml for it in ``tmp_path`` (the current directory)."""
    return _lab_env(lab, tmp_path, monkeypatch)


@pytest.fixture
def iam_lab_env(iam_lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabEnv:
    """Like ``lab_env``, on the IAM-enforcing lab."""
    return _lab_env(iam_lab, tmp_path, monkeypatch)


def credentials_of(session: boto3.Session) -> Credentials:
    """A session's credentials (None would mean boto3 found none: a test failure, not a case to handle)."""
    credentials = session.get_credentials()
    assert credentials is not None, "the session has no credentials"
    return credentials


# -- the CLI, in-process ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON (fails the test with the output if it is not)."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            pytest.fail(f"stdout is not JSON (exit {self.exit_code}):\n{self.stdout}\nstderr:\n{self.stderr}")


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """``cli(*args, input=None)`` runs ``skyvault.cli.main.main`` with those arguments in this process."""
    from skyvault.cli.main import main

    def run(*args: str, input: str | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "argv", ["skyvault", *map(str, args)])
        monkeypatch.setattr(sys, "stdin", io.StringIO(input or ""))
        code = 0
        # pytest's own log handlers make main()'s logging.basicConfig a no-op: route log records to this
        # call's stderr, as the real command would print them.
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main()
                except SystemExit as exc:
                    code = _exit_code(exc)
        finally:
            root.removeHandler(handler)
        return CliResult(exit_code=code, stdout=out.getvalue(), stderr=err.getvalue())

    return run
