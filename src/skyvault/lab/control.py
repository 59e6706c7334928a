"""Start, inspect, reset and stop the lab, and drive its ``/_skyvault`` control routes (stdlib HTTP only).

``start_lab`` runs ``python -m skyvault.lab.server`` in the background and waits until it answers; the server
writes ``<state_dir>/lab.json`` once it listens. A record whose process is gone is *stale*: ``lab_status``
raises ``StaleLabError`` naming it, ``start_lab`` replaces it. Nothing here imports moto.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyvault.errors import LabError, NotFoundError
from skyvault.lab.labconfig import (
    ADMIN_ACCOUNT_ID,
    CONTROL_PREFIX,
    TOKEN_HEADER,
    LabInfo,
    lab_dir,
    log_path,
    read_record,
    remove_record,
)

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0


class StaleLabError(LabError):
    """A lab record names a process that is no longer the lab (crashed, killed, or the machine rebooted)."""


@dataclass(frozen=True)
class WrittenBlocks:
    volume_id: str
    indices: list[int]
    sha256: dict[int, str]  # block index -> hex SHA-256 of the 512 KiB written there
    volume_size_gib: int


@dataclass(frozen=True)
class Checksum:
    resource_id: str
    sha256: str
    size_bytes: int
    blocks_present: int


# -- control HTTP ---------------------------------------------------------------------------------------
def control_headers(lab: LabInfo) -> dict[str, str]:
    """What every control request carries: the lab's token (from its record) and the JSON content type."""
    return {TOKEN_HEADER: lab.token, "Content-Type": "application/json"}


def _call(lab: LabInfo, method: str, route: str, body: dict[str, Any] | None = None, *, timeout: float = 120.0) -> Any:
    endpoint = lab.endpoint
    url = f"{endpoint.rstrip('/')}{CONTROL_PREFIX}/{route}"
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=control_headers(lab))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"{}")
        except ValueError:
            detail = {}
        message = str(detail.get("error") or exc.reason)
        if exc.code == 404 and detail.get("type") == "ResourceNotFound":
            raise NotFoundError(message) from None
        raise LabError(f"lab {route} failed ({exc.code}): {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LabError(
            f"cannot reach the lab at {endpoint}: {reason}", hint="'skyvault lab status' / 'skyvault lab up'"
        ) from None


def ping(lab: LabInfo, *, timeout: float = 2.0) -> dict[str, Any]:
    """The lab's status (with its external IDs: the token is the record's)."""
    result: dict[str, Any] = _call(lab, "GET", "status", timeout=timeout)
    return result


# -- process management ---------------------------------------------------------------------------------
def _pid_is_lab(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else: not ours to judge further
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # guard against pid reuse where /proc tells us what runs there
        with contextlib.suppress(OSError):
            return b"skyvault.lab.server" in cmdline.read_bytes()
    return True


def lab_status(state_dir: Path) -> LabInfo | None:
    """The running lab recorded in ``state_dir``; None if there is none; ``StaleLabError`` if its process is gone."""
    info = read_record(state_dir)
    if info is None:
        return None
    if not _pid_is_lab(info.pid):
        raise StaleLabError(
            f"stale lab record {state_dir / 'lab.json'}: process {info.pid} is not running (endpoint {info.endpoint})",
            hint="'skyvault lab down' clears it; 'skyvault lab up' starts a new lab",
        )
    try:
        answered = ping(info)
    except LabError as exc:
        raise StaleLabError(
            f"lab process {info.pid} is running but {info.endpoint} does not answer: {exc.message}",
            hint="'skyvault lab down' then 'skyvault lab up'",
        ) from None
    if answered.get("pid") not in (None, info.pid):
        raise StaleLabError(f"{info.endpoint} is answered by pid {answered.get('pid')}, the record says {info.pid}")
    return info


def _child_env() -> dict[str, str]:
    # The lab never needs real credentials or endpoints: drop AWS_* so nothing leaks into moto.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _log_tail(state_dir: Path, lines: int = 25) -> str:
    try:
        text = log_path(state_dir).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def start_lab(
    state_dir: Path,
    *,
    enforce_iam: bool = False,
    exit_with_parent: bool = False,
    timeout: float = START_TIMEOUT_S,
) -> LabInfo:
    """Start a lab in the background (or return the running one). ``exit_with_parent`` ties it to this process."""
    state_dir = state_dir.resolve()
    try:
        running = lab_status(state_dir)
    except StaleLabError:
        stop_lab(state_dir)
        running = None
    if running is not None:
        if running.enforce_iam != enforce_iam:
            mode = "with" if running.enforce_iam else "without"
            raise LabError(
                f"a lab is already running {mode} IAM enforcement at {running.endpoint} (pid {running.pid})",
                hint="'skyvault lab down' first to change the mode",
            )
        return running

    lab_dir(state_dir).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "skyvault.lab.server", "--state-dir", str(state_dir)]
    if enforce_iam:
        command.append("--enforce-iam")
    if exit_with_parent:
        command += ["--exit-with-parent", str(os.getpid())]
    with log_path(state_dir).open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            start_new_session=True,  # Ctrl-C in the terminal that ran 'lab up' must not kill the lab
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(
                f"the lab process exited with status {process.returncode} while starting; log tail:\n"
                f"{_log_tail(state_dir)}"
            )
        info = read_record(state_dir)
        if info is not None and info.pid == process.pid:
            with contextlib.suppress(LabError):
                ping(info, timeout=2.0)
                return info
        time.sleep(0.1)
    _terminate(process.pid)
    raise LabError(f"the lab did not answer within {timeout:.0f} s; log tail:\n{_log_tail(state_dir)}")


def _terminate(pid: int, timeout: float = STOP_TIMEOUT_S) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return  # our child: reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_lab(state_dir: Path, *, timeout: float = STOP_TIMEOUT_S) -> LabInfo | None:
    """Stop the recorded lab (SIGTERM, then SIGKILL) and remove its record. Returns what was stopped, if any.

    Only the lab's own state dir stops the process; elsewhere (a copied record) just the record is removed."""
    state_dir = state_dir.resolve()
    info = read_record(state_dir)
    if info is None:
        return None
    # A record copied into another folder (as the test fixtures do) points at a lab it does not own: only the
    # lab's own state dir may stop it.
    if Path(info.state_dir).resolve() == state_dir and _pid_is_lab(info.pid):
        _terminate(info.pid, timeout)
    remove_record(state_dir)
    return info


# -- lab operations ---------------------------------------------------------------------------------------
def reset_lab(lab: LabInfo) -> None:
    """Fresh moto state, fresh model state, accounts bootstrapped again (new admin key in the credentials file)."""
    _call(lab, "POST", "reset", {})


def bootstrap_accounts(lab: LabInfo) -> dict[str, Any]:
    result: dict[str, Any] = _call(lab, "POST", "bootstrap-accounts", {})
    return result


def write_blocks(
    lab: LabInfo,
    volume_id: str,
    count: int,
    seed: int = 0,
    *,
    account_id: str = ADMIN_ACCOUNT_ID,
    region: str = "us-east-1",
    indices: list[int] | None = None,
    compressible: float = 0.0,
    zero: bool = False,
) -> WrittenBlocks:
    """A guest writing ``count`` 512 KiB blocks to a volume (random indexes unless given; same seed, same data).

    ``compressible`` (0..1) is the share of each block filled with repetitive text; ``zero`` writes zeros, which
    the model stores as absent blocks (see docs/lab.md).
    """
    body: dict[str, Any] = {
        "volume_id": volume_id,
        "count": count,
        "seed": seed,
        "account_id": account_id,
        "region": region,
        "compressible": compressible,
        "zero": zero,
    }
    if indices is not None:
        body["indices"] = list(indices)
    result = _call(lab, "POST", "write-blocks", body)
    return WrittenBlocks(
        volume_id=str(result["volume_id"]),
        indices=[int(i) for i in result["indices"]],
        sha256={int(k): str(v) for k, v in result["sha256"].items()},
        volume_size_gib=int(result["volume_size_gib"]),
    )


def checksum(
    lab: LabInfo, volume_or_snapshot_id: str, *, account_id: str = ADMIN_ACCOUNT_ID, region: str = "us-east-1"
) -> Checksum:
    """SHA-256 of the full logical contents (every block of the volume size, zeros where absent)."""
    body = {"id": volume_or_snapshot_id, "account_id": account_id, "region": region}
    result = _call(lab, "POST", "checksum", body, timeout=600.0)
    return Checksum(
        resource_id=str(result["id"]),
        sha256=str(result["sha256"]),
        size_bytes=int(result["size_bytes"]),
        blocks_present=int(result["blocks_present"]),
    )


def set_quirks(
    lab: LabInfo, *, empty_first_page: bool | None = None, throttle_every: int | None = None
) -> dict[str, Any]:
    """Turn on AWS behaviours drivers must survive: empty first list pages, ThrottlingException every N EBS direct
    requests (0 = off). ``reset_lab`` turns them off again."""
    body: dict[str, Any] = {}
    if empty_first_page is not None:
        body["empty_first_page"] = empty_first_page
    if throttle_every is not None:
        body["throttle_every"] = throttle_every
    result: dict[str, Any] = _call(lab, "POST", "quirks", body)
    return result


def set_model_settings(lab: LabInfo, model: str, **settings: Any) -> dict[str, Any]:
    """Change a fidelity model's settings (``reset_lab`` restores its defaults), e.g.
    ``set_model_settings(lab, "ec2_consistency", delay_s=5)``; returns the model's settings."""
    result: dict[str, Any] = _call(lab, "POST", "model-settings", {"model": model, **settings})
    return result


def create_outposts_bucket(
    lab: LabInfo,
    outpost_id: str,
    bucket: str,
    access_point: str,
    *,
    account_id: str = ADMIN_ACCOUNT_ID,
    region: str = "us-east-1",
) -> str:
    """An S3 on Outposts bucket with one access point (the lab's stand-in for s3control's Outposts APIs).

    Returns the access point's ARN. Requests through it are HTTPS: set ``HTTPS_PROXY`` to ``lab.https_proxy`` and
    ``AWS_CA_BUNDLE`` to ``lab.ca_bundle`` (see docs/lab.md).
    """
    body = {"outpost_id": outpost_id, "bucket": bucket, "access_point": access_point}
    result = _call(lab, "POST", "outposts-bucket", {**body, "account_id": account_id, "region": region})
    return str(result["access_point_arn"])
