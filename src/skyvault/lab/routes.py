"""The ``/_skyvault/...`` control routes: a small WSGI middleware in front of moto (lab process only).

Lab-only operations that no AWS API offers: status, reset (fresh moto state + model state + re-bootstrap),
bootstrap-accounts, write-blocks (a guest writing to a volume) and checksum (of a volume's or snapshot's logical
contents). Requests and responses are JSON; errors are ``{"error": message, "type": kind}`` with an HTTP status.
Everything else goes to moto untouched.

A web page open in the user's browser can send requests to 127.0.0.1 (a "simple" cross-origin POST needs no
preflight) and, through DNS rebinding, read the answers. So the control routes, and moto's own ``/moto-api``
routes, answer only requests whose Host is this lab's (``127.0.0.1:PORT`` or ``localhost:PORT``, 400 otherwise)
and that carry the lab's token (header ``X-Skyvault-Lab-Token``, from the 0600 record; 403 otherwise); a POST
must be ``application/json`` (415), which a browser cannot send cross-origin without a preflight that the lab
never grants. ``GET status`` without the token answers only what identifies the lab (no external IDs, no paths).
Any request carrying a browser's ``Origin`` header from elsewhere is refused (403): AWS SDKs never send one.
"""

from __future__ import annotations

import hmac
import importlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from skyvault.lab.bootstrap import LabAccounts, bootstrap_accounts
from skyvault.lab.labconfig import CONTROL_PREFIX, LOCAL_HOSTS, MOTO_API_PREFIX, TOKEN_HEADER, LabInfo

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class ControlError(Exception):
    status: int
    kind: str
    message: str


def _str(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value:
        raise ControlError(400, "ValidationError", f"'{name}' must be a non-empty string")
    return value


def _int(body: dict[str, Any], name: str, default: int | None = None, *, minimum: int = 0) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ControlError(400, "ValidationError", f"'{name}' must be an integer >= {minimum}")
    return value


class ControlApp:
    def __init__(
        self,
        moto_app: WsgiApp,
        *,
        accounts: LabAccounts,
        enforce_iam: bool,
        reset_models: Callable[[], None],
        token: str,
    ) -> None:
        if len(token) < 16:
            raise ValueError("the control token must be a long random string")
        self.moto_app = moto_app
        self.token = token
        self.accounts = accounts
        self.enforce_iam = enforce_iam
        self.reset_models = reset_models
        self.info: LabInfo | None = None
        # Control operations mutate moto's backends wholesale (reset) or a volume's block map: one at a time.
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
            ("GET", "status"): self._status_for_token_holder,
            ("POST", "reset"): self._reset,
            ("POST", "bootstrap-accounts"): self._bootstrap,
            ("POST", "write-blocks"): self._write_blocks,
            ("POST", "checksum"): self._checksum,
            ("POST", "quirks"): self._quirks,
            ("POST", "model-settings"): self._model_settings,
            ("POST", "outposts-bucket"): self._outposts_bucket,
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        try:
            self._check_origin(environ)
            if path.startswith(MOTO_API_PREFIX + "/"):
                self._check_host(environ)
                self._check_token(environ)
        except ControlError as exc:
            return self._respond(start_response, exc.status, {"error": exc.message, "type": exc.kind})
        if not path.startswith(CONTROL_PREFIX + "/"):
            return self.moto_app(environ, start_response)
        name = path[len(CONTROL_PREFIX) + 1 :].strip("/")
        try:
            self._check_host(environ)
            if (method, name) == ("GET", "status") and not self._has_token(environ):
                return self._respond(start_response, 200, self._public_status())
            self._check_token(environ)
            handler = self._routes.get((method, name))
            if handler is None:
                raise ControlError(404, "NotFound", f"no control route {method} {path}")
            if method == "POST":
                self._check_json_content_type(environ)
            body = self._read_json(environ)
            with self._lock:
                result = handler(body)
            return self._respond(start_response, 200, result)
        except ControlError as exc:
            return self._respond(start_response, exc.status, {"error": exc.message, "type": exc.kind})
        except Exception as exc:  # the lab must answer, and the log keeps the traceback
            log.exception("control route %s failed", name)
            return self._respond(start_response, 500, {"error": f"{type(exc).__name__}: {exc}", "type": "Internal"})

    # -- who may call -------------------------------------------------------------------------------------
    def _port(self) -> str:
        return self.info.endpoint.rsplit(":", 1)[-1] if self.info else ""

    def _check_origin(self, environ: dict[str, Any]) -> None:
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin not in {f"http://{host}:{self._port()}" for host in LOCAL_HOSTS}:
            raise ControlError(403, "ForbiddenOrigin", f"requests from a browser page ({origin}) are refused")

    def _check_host(self, environ: dict[str, Any]) -> None:
        host = str(environ.get("HTTP_HOST", ""))
        if not self.info or host not in {f"{name}:{self._port()}" for name in LOCAL_HOSTS}:
            raise ControlError(400, "BadHost", f"Host {host!r} is not this lab (127.0.0.1:{self._port()})")

    def _has_token(self, environ: dict[str, Any]) -> bool:
        shown = str(environ.get("HTTP_" + TOKEN_HEADER.upper().replace("-", "_"), ""))
        return hmac.compare_digest(shown.encode(), self.token.encode())

    def _check_token(self, environ: dict[str, Any]) -> None:
        if not self._has_token(environ):
            raise ControlError(403, "Forbidden", f"missing or wrong {TOKEN_HEADER} (it is in the lab's lab.json)")

    @staticmethod
    def _check_json_content_type(environ: dict[str, Any]) -> None:
        content_type = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ControlError(
                415, "UnsupportedMediaType", f"POST needs Content-Type application/json, not {content_type!r}"
            )

    @staticmethod
    def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ControlError(400, "ValidationError", f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ControlError(400, "ValidationError", "body must be a JSON object")
        return data

    @staticmethod
    def _respond(start_response: StartResponse, status: int, data: dict[str, Any]) -> list[bytes]:
        payload = json.dumps(data).encode("utf-8")
        reason = {
            200: "OK",
            400: "Bad Request",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            415: "Unsupported Media Type",
            500: "Internal Server Error",
        }
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    # -- routes ---------------------------------------------------------------------------------------
    def _public_status(self) -> dict[str, Any]:
        from skyvault.lab.models import MODELS

        data = self.info.to_public_json() if self.info else {}
        data["models"] = list(MODELS)
        return data

    def _status_for_token_holder(self, _: dict[str, Any]) -> dict[str, Any]:
        from skyvault.lab.models import MODELS

        data = self.info.to_json() if self.info else {}
        data["models"] = list(MODELS)
        return data

    def _reset(self, _: dict[str, Any]) -> dict[str, Any]:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        self.reset_models()
        self.accounts.admin_access_key_id = ""  # the old key is gone with moto's state
        bootstrap_accounts(self.accounts)
        return {"reset": True}

    def _bootstrap(self, _: dict[str, Any]) -> dict[str, Any]:
        bootstrap_accounts(self.accounts)
        return {
            "admin": self.accounts.admin_account_id,
            "tenants": dict(self.accounts.tenants),
            "credentials_file": str(self.accounts.credentials_file),
        }

    def _outposts_bucket(self, body: dict[str, Any]) -> dict[str, Any]:
        from skyvault.lab.models import s3_outposts

        try:
            return s3_outposts.create_bucket(
                account=_str(body, "account_id", self.accounts.admin_account_id),
                region=_str(body, "region", "us-east-1"),
                outpost=_str(body, "outpost_id"),
                bucket=_str(body, "bucket"),
                access_point=_str(body, "access_point"),
            )
        except s3_outposts.OutpostsModelError as exc:
            raise ControlError(exc.status, exc.kind, str(exc)) from None

    def _write_blocks(self, body: dict[str, Any]) -> dict[str, Any]:
        from skyvault.lab.models import ebs_blocks, ebs_state

        indices = body.get("indices")
        if indices is not None and (
            not isinstance(indices, list) or not all(isinstance(i, int) and i >= 0 for i in indices)
        ):
            raise ControlError(400, "ValidationError", "'indices' must be a list of block indexes >= 0")
        compressible = body.get("compressible", 0.0)
        if not isinstance(compressible, int | float) or not 0.0 <= compressible <= 1.0:
            raise ControlError(400, "ValidationError", "'compressible' must be a number from 0 to 1")
        try:
            written = ebs_blocks.write_guest_blocks(
                account_id=_str(body, "account_id", self.accounts.admin_account_id),
                region=_str(body, "region", "us-east-1"),
                volume_id=_str(body, "volume_id"),
                count=_int(body, "count", len(indices) if indices else None),
                seed=_int(body, "seed", 0),
                indices=indices,
                compressible=float(compressible),
                zero=bool(body.get("zero", False)),
            )
        except ebs_state.BlockModelError as exc:
            raise ControlError(exc.status, exc.kind, str(exc)) from None
        return written

    def _checksum(self, body: dict[str, Any]) -> dict[str, Any]:
        from skyvault.lab.models import ebs_blocks, ebs_state

        try:
            return ebs_blocks.logical_checksum(
                account_id=_str(body, "account_id", self.accounts.admin_account_id),
                region=_str(body, "region", "us-east-1"),
                resource_id=_str(body, "id"),
            )
        except ebs_state.BlockModelError as exc:
            raise ControlError(exc.status, exc.kind, str(exc)) from None

    def _model_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """Settings of a fidelity model that has ``configure(settings) -> dict`` (e.g. EC2's visibility delay)."""
        from skyvault.lab.models import MODELS

        name = f"skyvault.lab.models.{_str(body, 'model')}"
        configure = getattr(importlib.import_module(name), "configure", None) if name in MODELS else None
        if not callable(configure):
            raise ControlError(404, "NotFound", f"no configurable lab model {body['model']!r}")
        try:
            result: dict[str, Any] = configure({k: v for k, v in body.items() if k != "model"})
        except ValueError as exc:
            raise ControlError(400, "ValidationError", str(exc)) from None
        return result

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        from skyvault.lab.models import ebs_direct, ebs_state

        empty = body.get("empty_first_page")
        every = body.get("throttle_every")
        if empty is not None and not isinstance(empty, bool):
            raise ControlError(400, "ValidationError", "'empty_first_page' must be true or false")
        if every is not None:
            every = _int(body, "throttle_every")
        try:
            return ebs_direct.set_quirks(empty_first_page=empty, throttle_every=every)
        except ebs_state.BlockModelError as exc:
            raise ControlError(exc.status, exc.kind, str(exc)) from None
