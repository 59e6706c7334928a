"""Model (a quirk, off by default): the network and service latency every AWS request pays, per service.

Real AWS answers over a network: DynamoDB "delivers single-digit millisecond performance" per request (DynamoDB
developer guide, "What is Amazon DynamoDB?"); S3 small-object requests and first bytes take "roughly 100-200
milliseconds" (S3 user guide, "Performance guidelines for Amazon S3": measure performance, latency). A tool that
issues requests one after another pays that latency per request; one that keeps several in flight overlaps it.

moto answers on the same machine in well under a millisecond of wire time: a serial tool and a parallel one look
alike in the lab, bound only by the lab's CPU. With this quirk each request of a configured service waits its
latency before moto serves it, on its own server thread (requests in flight overlap, as they do against AWS, and
the wait costs no CPU). The EBS direct APIs keep their own latency and quotas (``ebs_limits``).

``set_model_settings(lab, "request_latency", dynamodb=10, s3=100)``: milliseconds per signing name (0 turns one
off); ``reset`` turns every one off. The benchmarks use it to measure against AWS-like latency as well as without.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_MARK = "_skyvault_request_latency_model"
MAX_MS = 10_000.0
_lock = threading.Lock()
_latency_ms: dict[str, float] = {}
_delayed: dict[str, int] = {}


def signing_name(authorization: str) -> str | None:
    """``s3`` from ``AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/s3/aws4_request, ...``."""
    _, found, rest = authorization.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/") if found else []
    return parts[3] if len(parts) >= 5 else None


def delay_for(environ: dict[str, Any]) -> float:
    service = signing_name(str(environ.get("HTTP_AUTHORIZATION", "")))
    if service is None:
        return 0.0
    with _lock:
        latency = _latency_ms.get(service, 0.0)
        if latency:
            _delayed[service] = _delayed.get(service, 0) + 1
    return latency / 1000.0


def configure(body: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        for service, value in body.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_MS:
                raise ValueError(f"'{service}' must be a latency in milliseconds from 0 to {MAX_MS:g}")
            if value:
                _latency_ms[service] = float(value)
            else:
                _latency_ms.pop(service, None)
        return {"latency_ms": dict(_latency_ms), "delayed_requests": dict(_delayed)}


def reset() -> None:
    with _lock:
        _latency_ms.clear()
        _delayed.clear()


def apply() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication, _MARK, False):
        return
    original = DomainDispatcherApplication.__call__

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        delay = delay_for(environ)
        if delay:
            time.sleep(delay)
        return original(self, environ, start_response)

    setattr(DomainDispatcherApplication, "__call__", call)  # noqa: B010
    setattr(DomainDispatcherApplication, _MARK, True)
