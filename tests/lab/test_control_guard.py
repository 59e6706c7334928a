"""The lab's control routes answer only its token holder, over JSON, at its own Host (a web page cannot drive them)."""

from __future__ import annotations

import http.client
import json
import stat
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import LabEnv
from skyvault.lab.control import control_headers, set_quirks
from skyvault.lab.labconfig import TOKEN_HEADER, LabInfo, record_path

pytestmark = pytest.mark.lab


def _send(
    lab: LabInfo, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    """A raw request (http.client sends exactly these headers; Host is set explicitly)."""
    url = urlparse(lab.endpoint)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": url.netloc, **headers}.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith(b"{") else {}
    finally:
        connection.close()


def _quirks_now(lab: LabInfo) -> dict[str, object]:
    return set_quirks(lab)  # no change requested: answers the current quirks


QUIRK = json.dumps({"throttle_every": 7}).encode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "application/json"}, 403),  # no token
        ({"Content-Type": "application/json", TOKEN_HEADER: "guessed-token-guessed-token"}, 403),
        ({"Content-Type": "text/plain"}, 415),  # what a page can POST cross-origin without a preflight
        ({"Content-Type": "application/json", "Host": "evil.example:80"}, 400),  # DNS rebinding
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
    ],
)
def test_a_control_post_is_refused_without_token_json_or_the_labs_host(
    lab_env: LabEnv, headers: dict[str, str], status: int
) -> None:
    lab = lab_env.lab
    if headers.get("Content-Type") == "text/plain" or "Host" in headers or "Origin" in headers:
        headers = {TOKEN_HEADER: lab.token, **headers}  # a valid token does not make up for the rest
    got, answer = _send(lab, "POST", "/_skyvault/quirks", QUIRK, headers)
    assert got == status, answer
    assert _quirks_now(lab)["throttle_every"] == 0  # nothing changed


def test_with_the_token_the_same_post_works(lab_env: LabEnv) -> None:
    got, answer = _send(lab_env.lab, "POST", "/_skyvault/quirks", QUIRK, control_headers(lab_env.lab))
    assert (got, answer["throttle_every"]) == (200, 7)
    set_quirks(lab_env.lab, throttle_every=0)


def test_status_shows_external_ids_only_to_the_token_holder(lab_env: LabEnv) -> None:
    lab = lab_env.lab
    got, public = _send(lab, "GET", "/_skyvault/status", None, {})
    assert got == 200 and public["pid"] == lab.pid
    text = json.dumps(public)
    assert "external_ids" not in text and "credentials" not in text
    assert not any(external_id in text for external_id in lab.external_ids.values())
    got, full = _send(lab, "GET", "/_skyvault/status", None, control_headers(lab))
    assert got == 200 and full["external_ids"] == lab.external_ids


def test_motos_own_control_routes_need_the_token_too(lab_env: LabEnv) -> None:
    got, _ = _send(lab_env.lab, "POST", "/moto-api/reset", b"", {"Content-Type": "text/plain"})
    assert got == 403
    got, _ = _send(lab_env.lab, "GET", "/moto-api/data.json", None, control_headers(lab_env.lab))
    assert got == 200


def test_the_record_holding_the_token_is_owner_only(lab: LabInfo) -> None:
    record = record_path(Path(lab.state_dir))
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert json.loads(record.read_text())["token"] == lab.token and len(lab.token) >= 32
    assert "token" not in lab.to_json() and lab.token not in repr(lab)
