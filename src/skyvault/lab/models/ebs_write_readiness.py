"""Model: a snapshot started with the EBS direct APIs is not writable at once, and concurrent writes are limited.

Real AWS: ``StartSnapshot`` returns the new snapshot's ID while the snapshot is still being set up; a
``PutSnapshotBlock`` sent right away may answer that the snapshot does not exist (``ResourceNotFoundException``).
awslabs/coldsnap (``src/upload.rs``) retries every block for about two minutes (12 attempts, waiting 2 s more each
time) because that "got past 'snapshot does not exist' errors in testing". The EBS direct API reference lists
``ConcurrentLimitExceededException`` (HTTP 400, "You have reached the limit for concurrent API requests", see
"Optimizing performance of the EBS direct APIs" in the EBS User Guide) among PutSnapshotBlock's errors; botocore's
standard retry mode does not retry it.

moto 5.2.1 (and the lab's ``ebs_direct`` model) accept blocks the moment the snapshot is started and never limit
concurrency. This model sits in front of the lab's handlers: a started snapshot refuses blocks for
``not_writable_s`` (on by default, small) with ``ResourceNotFoundException`` / ``SNAPSHOT_NOT_FOUND``, and with
``concurrent_limit_every=N`` (off by default) every Nth ``PutSnapshotBlock`` answers
``ConcurrentLimitExceededException``. ``reset`` restores the defaults.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_NOT_WRITABLE_S = 0.3
_MARK = "_skyvault_ebs_write_readiness_model"


class _Settings:
    def __init__(self) -> None:
        self.not_writable_s = DEFAULT_NOT_WRITABLE_S
        self.concurrent_limit_every = 0
        self.puts = 0


settings = _Settings()
_lock = threading.Lock()
_writable_at: dict[str, float] = {}  # snapshot ID -> monotonic time from which it takes blocks


def configure(body: dict[str, Any]) -> dict[str, Any]:
    """``{"not_writable_s": s, "concurrent_limit_every": n}`` (0 turns either off until ``reset``)."""
    if "not_writable_s" in body:
        value = body["not_writable_s"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
            raise ValueError("'not_writable_s' must be a number of seconds between 0 and 3600")
        settings.not_writable_s = float(value)
    if "concurrent_limit_every" in body:
        every = body["concurrent_limit_every"]
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError("'concurrent_limit_every' must be an integer >= 0")
        with _lock:
            settings.concurrent_limit_every, settings.puts = every, 0
    return {"not_writable_s": settings.not_writable_s, "concurrent_limit_every": settings.concurrent_limit_every}


def reset() -> None:
    with _lock:
        _writable_at.clear()
        settings.not_writable_s = DEFAULT_NOT_WRITABLE_S
        settings.concurrent_limit_every, settings.puts = 0, 0


def _error(status: int, kind: str, message: str, reason: str | None = None) -> tuple[int, dict[str, Any], str]:
    body: dict[str, Any] = {"message": message}
    if reason:
        body["Reason"] = reason
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": kind, "status": status}
    return status, headers, json.dumps(body)


def _started(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def start_snapshot(self: Any) -> Any:
        result = original(self)
        status, _headers, body = result
        if status == 201:
            snapshot_id = str(json.loads(body)["SnapshotId"])
            with _lock:  # a retried StartSnapshot (same client token) keeps the first snapshot's moment
                _writable_at.setdefault(snapshot_id, time.monotonic() + settings.not_writable_s)
        return result

    return start_snapshot


def refusal(snapshot_id: str) -> tuple[int, dict[str, Any], str] | None:
    """The error a PutSnapshotBlock on ``snapshot_id`` gets now, or None when it may go ahead."""
    with _lock:
        settings.puts += 1
        limited = settings.concurrent_limit_every > 0 and settings.puts % settings.concurrent_limit_every == 0
        writable_at = _writable_at.get(snapshot_id, 0.0)
    if time.monotonic() < writable_at:
        return _error(
            404, "ResourceNotFoundException", f"The snapshot {snapshot_id} does not exist.", "SNAPSHOT_NOT_FOUND"
        )
    if limited:
        return _error(
            400, "ConcurrentLimitExceededException", "You have reached the limit for concurrent API requests."
        )
    return None


def _guarded(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def put_snapshot_block(self: Any) -> Any:
        parts = [p for p in str(self.parsed_url.path).split("/") if p]
        refused = refusal(parts[1]) if len(parts) > 1 else None
        return refused if refused is not None else original(self)

    return put_snapshot_block


def apply() -> None:
    from moto.ebs.responses import EBSResponse

    if getattr(EBSResponse, _MARK, False):
        return
    setattr(EBSResponse, "start_snapshot", _started(EBSResponse.start_snapshot))  # noqa: B010
    setattr(EBSResponse, "put_snapshot_block", _guarded(EBSResponse.put_snapshot_block))  # noqa: B010
    setattr(EBSResponse, _MARK, True)
