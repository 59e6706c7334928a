"""Rate limits shared by every process that backs up one account: token buckets in Redis.

AWS throttles per account and per API (EC2's request token buckets, the EBS direct APIs' per-account rates):
when many workers back up one account, each one's own backoff is not enough, since together they keep the
account throttled. With ``[rate_limits]`` configured, every AWS request a ``ClientFactory`` sends first takes a
token from the bucket of its (account, API family) in Redis, where the API family is the service's name as
skyvault creates its client (``ec2``, ``ebs``, ``rds``...): ``per_account.ec2 = {rate = 20, burst = 40}`` lets
all processes together send 20 EC2 requests per second per account, in bursts of up to 40.

The bucket is one Redis hash updated by a Lua script (atomic; the clock is Redis's ``TIME``, so machines with
skewed clocks share it fairly). A request that finds no token reserves the next one and sleeps until it is due:
waiting requests are served in the order they asked, with no retry loop. Each HTTP attempt takes a token
(retries included: AWS counts them too). When Redis cannot be reached, requests go on without the shared limit
(a warning is logged, at most once a minute): AWS's own throttling and botocore's backoff still apply, and a
backup is not failed for want of a rate limiter. This follows restic's limiter wrapper
(``internal/backend/limiter``): the same interface with the limit layered on top.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from skyvault.config import RateLimit

log = logging.getLogger(__name__)

KEY_PREFIX = "skyvault:rate:"

# KEYS[1]: the bucket. ARGV: rate (tokens/s), capacity. Returns the milliseconds to wait for the reserved token.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local last = tonumber(redis.call('HGET', KEYS[1], 'at'))
if tokens == nil or last == nil then
  tokens = capacity
  last = now
end
tokens = math.min(capacity, tokens + math.max(0, now - last) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 60000)
if tokens >= 0 then
  return 0
end
return math.ceil(-tokens / rate * 1000)
"""


class RedisRateLimiter:
    """``acquire(account, family)`` waits for a token of that account's family bucket; families without a
    configured limit pass at once."""

    def __init__(
        self,
        url: str,
        limits: Mapping[str, RateLimit],
        *,
        sleep: Callable[[float], None] = time.sleep,
        client: Any = None,
    ) -> None:
        import redis

        self.limits = dict(limits)
        self._redis = client if client is not None else redis.Redis.from_url(url, socket_timeout=5)
        self._take = self._redis.register_script(_TAKE)
        self._sleep = sleep
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._warned_at = 0.0
        self._lock = threading.Lock()

    def acquire(self, account: str, family: str) -> float:
        """Take one token (waiting as long as needed); the seconds waited."""
        limit = self.limits.get(family)
        if limit is None:
            return 0.0
        try:
            wait_ms = int(self._take(keys=[f"{KEY_PREFIX}{account}:{family}"], args=[limit.rate, limit.capacity]))
        except self._errors as exc:
            self._warn(exc)
            return 0.0
        if wait_ms <= 0:
            return 0.0
        self._sleep(wait_ms / 1000)
        return wait_ms / 1000

    def hook(self, account: str, family: str) -> Callable[..., None]:
        """A botocore ``before-send`` handler: every HTTP attempt of a client takes a token first."""

        def before_send(**_: Any) -> None:
            self.acquire(account, family)

        return before_send

    def _warn(self, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._warned_at < 60 and self._warned_at:
                return
            self._warned_at = now
        log.warning("shared rate limits unavailable (Redis: %s): AWS requests go on without them", exc)

    def close(self) -> None:
        self._redis.close()
