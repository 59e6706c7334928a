"""Model: the EBS direct APIs' request latency and request-rate quotas (throttling beyond them), as AWS.

Real AWS (Service Quotas, service ``ebs``; AWS General Reference, "Amazon EBS endpoints and quotas"): per
account and Region, 1,000 ``GetSnapshotBlock`` and 1,000 ``PutSnapshotBlock`` requests per second
(L-C125AE42, L-AFAE1BE8, adjustable), 50 ``ListSnapshotBlocks`` and 50 ``ListChangedBlocks`` (L-18E976AB,
L-DB2FBAA1), 10 ``StartSnapshot`` and 10 ``CompleteSnapshot`` (L-AFEBDF7A, L-1D4D9345); and per snapshot,
1,000 ``GetSnapshotBlock`` and 1,000 ``PutSnapshotBlock`` requests per second (L-028ACFB9, L-1774F84A, not
adjustable). A request beyond a quota answers HTTP 400 ``RequestThrottledException`` (EBS direct API reference;
``Reason`` ``RESOURCE_LEVEL_THROTTLE`` for a snapshot's quota, ``ACCOUNT_THROTTLED`` for the account's), which
botocore's standard retry mode treats as throttling. Each request also takes a round trip: "Assuming
PutSnapshotBlock latency is 100ms, then a thread can process 10 requests in one second" (EBS User Guide,
"Optimize performance for EBS direct APIs"), so a client reaches the quota only with enough requests in flight.

moto 5.2.1 answers at once and never throttles. This model sits in front of every EBS direct handler (after
``ebs_direct`` and ``ebs_write_readiness``): each request first meets the quotas, token buckets of one second of
burst per (account, Region, operation) and per (snapshot, operation), then waits ``latency_ms`` (throttled
answers too: they take a round trip as well). The lab server is threaded (one thread per connection), so requests
in flight overlap as they do against AWS. Defaults: AWS's quotas, and a latency of ``DEFAULT_LATENCY_MS`` (small,
so every test meets it without slowing down); ``configure`` changes them, ``reset`` restores the defaults and
clears the buckets and the throttle counts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LATENCY_MS = 2.0
_MARK = "_skyvault_ebs_limits_model"

# (operation, scope) -> requests per second; scope "account" (per account and Region) or "snapshot".
AWS_QUOTAS: dict[tuple[str, str], float] = {
    ("GetSnapshotBlock", "account"): 1000.0,
    ("PutSnapshotBlock", "account"): 1000.0,
    ("ListSnapshotBlocks", "account"): 50.0,
    ("ListChangedBlocks", "account"): 50.0,
    ("StartSnapshot", "account"): 10.0,
    ("CompleteSnapshot", "account"): 10.0,
    ("GetSnapshotBlock", "snapshot"): 1000.0,
    ("PutSnapshotBlock", "snapshot"): 1000.0,
}
# configure() names: "<operation>_per_<scope>", e.g. get_snapshot_block_per_snapshot.
_SETTING_NAMES = {
    f"{''.join('_' + c.lower() if c.isupper() else c for c in op).lstrip('_')}_per_{scope}": (op, scope)
    for op, scope in AWS_QUOTAS
}
_HANDLERS = {
    "list_snapshot_blocks": "ListSnapshotBlocks",
    "list_changed_blocks": "ListChangedBlocks",
    "get_snapshot_block": "GetSnapshotBlock",
    "start_snapshot": "StartSnapshot",
    "put_snapshot_block": "PutSnapshotBlock",
    "complete_snapshot": "CompleteSnapshot",
}


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class _Settings:
    latency_ms: float = DEFAULT_LATENCY_MS
    quotas: dict[tuple[str, str], float] = field(default_factory=lambda: dict(AWS_QUOTAS))
    burst_s: float = 1.0  # a bucket holds one second of requests


settings = _Settings()
_lock = threading.Lock()
_buckets: dict[tuple[str, ...], _Bucket] = {}
_throttled: dict[str, int] = {}
_requests: dict[str, int] = {}


def _take(key: tuple[str, ...], rate: float, now: float) -> bool:
    """One token from the bucket ``key`` (refilled at ``rate`` per second); False when it is empty. Under _lock."""
    capacity = max(1.0, rate * settings.burst_s)
    bucket = _buckets.get(key)
    if bucket is None:
        bucket = _buckets[key] = _Bucket(capacity, now)
    bucket.tokens = min(capacity, bucket.tokens + (now - bucket.last) * rate)
    bucket.last = now
    if bucket.tokens < 1.0:
        return False
    bucket.tokens -= 1.0
    return True


def admit(account: str, region: str, operation: str, snapshot_id: str | None, now: float | None = None) -> str | None:
    """None when the request is within its quotas, else the throttling ``Reason`` AWS gives."""
    now = time.monotonic() if now is None else now
    with _lock:
        _requests[operation] = _requests.get(operation, 0) + 1
        reason = None
        per_snapshot = settings.quotas.get((operation, "snapshot"))
        per_account = settings.quotas.get((operation, "account"))
        # A request refused by its snapshot's quota does not count against the account's, and the other way round.
        if snapshot_id and per_snapshot and not _take(("snapshot", snapshot_id, operation), per_snapshot, now):
            reason = "RESOURCE_LEVEL_THROTTLE"
        elif per_account and not _take(("account", account, region, operation), per_account, now):
            reason = "ACCOUNT_THROTTLED"
        if reason is not None:
            _throttled[operation] = _throttled.get(operation, 0) + 1
        return reason


def _throttle_response(operation: str, reason: str) -> tuple[int, dict[str, Any], str]:
    scope = "the snapshot" if reason == "RESOURCE_LEVEL_THROTTLE" else "the account"
    body = {"message": f"Rate exceeded: {operation} requests per second for {scope}.", "Reason": reason}
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "RequestThrottledException", "status": 400}
    return 400, headers, json.dumps(body)


def _snapshot_id(response: Any, operation: str) -> str | None:
    if operation not in ("GetSnapshotBlock", "PutSnapshotBlock"):
        return None
    parts = [p for p in str(response.parsed_url.path).split("/") if p]
    return parts[1] if len(parts) > 1 else None


def _limited(original: Callable[[Any], Any], operation: str) -> Callable[[Any], Any]:
    def handle(self: Any) -> Any:
        reason = admit(str(self.current_account), str(self.region), operation, _snapshot_id(self, operation))
        result = _throttle_response(operation, reason) if reason is not None else original(self)
        if settings.latency_ms > 0:
            time.sleep(settings.latency_ms / 1000.0)
        return result

    return handle


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"'{name}' must be a number from {low:g} to {high:g}")
    return float(value)


def configure(body: dict[str, Any]) -> dict[str, Any]:
    """``{"latency_ms": ms, "burst_s": s, "<operation>_per_<account|snapshot>": requests per second}`` (a quota of 0
    turns it off); returns the settings and the requests and throttled answers counted since the last reset."""
    unknown = set(body) - {"latency_ms", "burst_s", *_SETTING_NAMES}
    if unknown:
        raise ValueError(f"unknown ebs_limits settings: {', '.join(sorted(unknown))}")
    with _lock:
        if "latency_ms" in body:
            settings.latency_ms = _number(body, "latency_ms", 0, 60_000)
        if "burst_s" in body:
            settings.burst_s = _number(body, "burst_s", 0.001, 60)
            _buckets.clear()
        for name, key in _SETTING_NAMES.items():
            if name in body:
                settings.quotas[key] = _number(body, name, 0, 1_000_000)
                _buckets.clear()
        return _describe()


def _describe() -> dict[str, Any]:
    quotas = {name: settings.quotas.get(key, 0.0) for name, key in _SETTING_NAMES.items()}
    return {
        "latency_ms": settings.latency_ms,
        "burst_s": settings.burst_s,
        **quotas,
        "requests": dict(_requests),
        "throttled": dict(_throttled),
    }


def reset() -> None:
    with _lock:
        settings.latency_ms = DEFAULT_LATENCY_MS
        settings.quotas = dict(AWS_QUOTAS)
        settings.burst_s = 1.0
        _buckets.clear()
        _throttled.clear()
        _requests.clear()


def apply() -> None:
    from moto.ebs.responses import EBSResponse

    if getattr(EBSResponse, _MARK, False):
        return
    for method, operation in _HANDLERS.items():
        setattr(EBSResponse, method, _limited(getattr(EBSResponse, method), operation))
    setattr(EBSResponse, _MARK, True)
