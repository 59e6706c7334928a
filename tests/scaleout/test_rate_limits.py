"""Shared rate limits: two processes calling the lab for one account stay together within the account's rate,
through token buckets in a real Redis; other accounts and families have buckets of their own."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LabEnv
from skyvault.aws.ratelimit import RedisRateLimiter
from skyvault.config import RateLimit

CHILD = Path(__file__).with_name("rate_child.py")
RATE, BURST, CALLS = 10.0, 2, 20


def test_two_processes_share_one_accounts_rate(lab_env: LabEnv, redis_url: str) -> None:
    config = lab_env.config_path
    config.write_text(
        config.read_text() + f'\n[rate_limits]\nredis_url = "{redis_url}"\n\n'
        f"[rate_limits.per_account.sts]\nrate = {RATE}\nburst = {BURST}\n"
    )
    account = next(iter(lab_env.config.accounts))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), str(config), account, str(CALLS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for child in children:  # both loaded, their clients made: then both start at once
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate(timeout=60)[1]
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    runs = [json.loads(out) for out, _ in outputs]
    times = sorted(t for run in runs for t in run["sent"])
    began = min(run["began"] for run in runs)
    span = times[-1] - began
    # Together: 2 x 20 calls, 2 of them from the burst, the rest at 10/s: at least 3.8 s. With a limiter per
    # process, each would have finished its 20 calls in 1.8 s.
    assert span >= (2 * CALLS - BURST) / RATE - 0.15, f"{span:.2f} s"
    overlap = min(run["sent"][-1] for run in runs) - max(run["began"] for run in runs)
    assert overlap > 1.0, f"the processes ran side by side for {overlap:.2f} s only (a loaded machine?)"
    # No window holds more requests than its tokens, give or take two: a process that oversleeps its token on a
    # loaded machine sends late, bunched with the next process's requests sent on time.
    for i in range(len(times)):
        for j in range(i + 1, len(times)):
            assert j - i + 1 <= BURST + RATE * (times[j] - times[i]) + 2, (i, j, times[j] - times[i])
    print(f"\n{2 * CALLS} calls, 2 processes, {RATE}/s burst {BURST}: {span:.2f} s ({overlap:.2f} s side by side)")


def test_buckets_are_per_account_and_family(redis_url: str) -> None:
    waits: list[float] = []
    limiter = RedisRateLimiter(redis_url, {"ec2": RateLimit(rate=1, burst=2)}, sleep=waits.append)
    try:
        assert [limiter.acquire("111111111111", "ec2") for _ in range(2)] == [0.0, 0.0]  # the burst
        third = limiter.acquire("111111111111", "ec2")
        assert 0.5 <= third <= 1.0 and waits == [third]  # the next token is a second away (less the time spent)
        fourth = limiter.acquire("111111111111", "ec2")
        assert third + 0.5 <= fourth <= 2.0  # reserved after the third: waiting calls queue up in order
        assert limiter.acquire("222222222222", "ec2") == 0.0  # another account: its own bucket
        assert limiter.acquire("111111111111", "ebs") == 0.0  # no limit configured for this family
    finally:
        limiter.close()


def test_without_redis_calls_go_on_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", {"ec2": RateLimit(rate=1, burst=1)})
    with caplog.at_level(logging.WARNING, logger="skyvault.aws.ratelimit"):
        assert [limiter.acquire("111111111111", "ec2") for _ in range(3)] == [0.0, 0.0, 0.0]
    warnings = [r.getMessage() for r in caplog.records if "shared rate limits unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once, not once per call
