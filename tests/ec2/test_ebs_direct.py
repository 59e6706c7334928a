"""EBS direct client logic without a lab: paging through empty pages, checksum verification and retry, the LINEAR
aggregate checksum, throttling backoff and the rate limiter."""

from __future__ import annotations

import base64
import hashlib
import io
import time
from typing import Any

import pytest

from skyvault.errors import AwsError, LibraryCorruptError, ThrottledError
from skyvault.services.ec2 import ebs_direct
from skyvault.services.ec2.ebs_direct import BLOCK_SIZE, RateLimiter, SnapshotWriter

FAST = RateLimiter(1e9)


class FakeEbs:
    """Scripted answers per operation, recording every call's parameters."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            answer = self.answers[name].pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


def _block(fill: int) -> bytes:
    return bytes([fill]) * BLOCK_SIZE


def _get(data: bytes, checksum: str | None = None) -> dict[str, Any]:
    digest = checksum or base64.b64encode(hashlib.sha256(data).digest()).decode()
    return {"BlockData": io.BytesIO(data), "Checksum": digest, "ChecksumAlgorithm": "SHA256", "DataLength": len(data)}


def test_listing_follows_tokens_through_empty_pages() -> None:
    pages = [
        {"VolumeSize": 1, "BlockSize": BLOCK_SIZE, "Blocks": [{"BlockIndex": 0, "BlockToken": "a"}], "NextToken": "t1"},
        {"VolumeSize": 1, "BlockSize": BLOCK_SIZE, "Blocks": [], "NextToken": "t2"},  # empty, yet not the end
        {"VolumeSize": 1, "BlockSize": BLOCK_SIZE, "Blocks": [{"BlockIndex": 7, "BlockToken": "b"}]},
    ]
    fake = FakeEbs(list_snapshot_blocks=pages)
    listing = ebs_direct.list_snapshot_blocks(fake, "snap-1", FAST)  # type: ignore[arg-type]
    assert listing.blocks == {0: "a", 7: "b"} and listing.api_pages == 3 and listing.volume_bytes == 1024**3
    assert [c[1].get("NextToken") for c in fake.calls] == [None, "t1", "t2"]


def test_changed_blocks_absent_from_second_snapshot_have_no_token() -> None:
    page = {
        "VolumeSize": 1,
        "BlockSize": BLOCK_SIZE,
        "ChangedBlocks": [
            {"BlockIndex": 3, "FirstBlockToken": "x", "SecondBlockToken": "y"},
            {"BlockIndex": 4, "FirstBlockToken": "z"},
        ],
    }
    listing = ebs_direct.list_changed_blocks(FakeEbs(list_changed_blocks=[page]), "s1", "s2", FAST)  # type: ignore[arg-type]
    assert listing.blocks == {3: "y", 4: None}


def test_wrong_block_size_is_refused() -> None:
    page = {"VolumeSize": 1, "BlockSize": 512, "Blocks": []}
    with pytest.raises(AwsError, match="512-byte blocks"):
        ebs_direct.list_snapshot_blocks(FakeEbs(list_snapshot_blocks=[page]), "snap-1", FAST)  # type: ignore[arg-type]


def test_checksum_mismatch_is_retried_then_fails() -> None:
    good = _block(1)
    fake = FakeEbs(get_snapshot_block=[_get(good, checksum="bm9wZQ=="), _get(good)])
    assert ebs_direct.read_block(fake, "snap-1", 5, "tok", FAST) == good  # type: ignore[arg-type]
    assert len(fake.calls) == 2
    always_bad = FakeEbs(get_snapshot_block=[_get(good, checksum="bm9wZQ==") for _ in range(3)])
    with pytest.raises(LibraryCorruptError, match="checksum mismatch"):
        ebs_direct.read_block(always_bad, "snap-1", 5, "tok", FAST)  # type: ignore[arg-type]


def test_throttling_after_botocore_retries_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skyvault.services.ec2.ebs_direct.time.sleep", lambda _s: None)
    throttled = ThrottledError("slow down", code="ThrottlingException")
    fake = FakeEbs(get_snapshot_block=[throttled, throttled, _get(_block(2))])
    assert ebs_direct.read_block(fake, "snap-1", 0, "t", FAST) == _block(2)  # type: ignore[arg-type]
    forever = FakeEbs(get_snapshot_block=[throttled] * ebs_direct.THROTTLE_ATTEMPTS)
    with pytest.raises(ThrottledError):
        ebs_direct.read_block(forever, "snap-1", 0, "t", FAST)  # type: ignore[arg-type]


def test_writer_sends_checksums_and_linear_aggregate() -> None:
    fake = FakeEbs(
        start_snapshot=[{"SnapshotId": "snap-new"}],
        put_snapshot_block=[{}, {}],
        complete_snapshot=[{"Status": "pending"}],
    )
    writer = SnapshotWriter(fake)  # type: ignore[arg-type]
    writer.start(volume_size_gib=1, tags={"skyvault:managed": "true"}, description="d", client_token="tok")
    blocks = {9: _block(9), 2: _block(2)}
    for index, data in blocks.items():
        writer.put(index, data)
    assert writer.complete() == "pending"
    puts = [p for name, p in fake.calls if name == "put_snapshot_block"]
    for params in puts:
        expected = base64.b64encode(hashlib.sha256(params["BlockData"]).digest()).decode()
        assert params["Checksum"] == expected and params["ChecksumAlgorithm"] == "SHA256"
    complete = fake.calls[-1][1]
    joined = hashlib.sha256(blocks[2]).digest() + hashlib.sha256(blocks[9]).digest()  # ascending block index
    assert complete["Checksum"] == base64.b64encode(hashlib.sha256(joined).digest()).decode()
    assert complete["ChangedBlocksCount"] == 2 and complete["ChecksumAggregationMethod"] == "LINEAR"
    with pytest.raises(AwsError, match="whole"):
        writer.put(0, b"short")


def test_rate_limiter_holds_the_rate() -> None:
    limiter = RateLimiter(200.0, burst=1)
    started = time.monotonic()
    for _ in range(41):
        limiter.acquire()
    assert time.monotonic() - started >= 0.19  # 40 tokens at 200/s after the first


class Clock:
    """A clock the test moves; ``sleep`` advances it (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_adaptive_rate_halves_on_throttling_once_per_burst_then_recovers_linearly() -> None:
    clock = Clock()
    rate = ebs_direct.AdaptiveRate(1000.0, floor=10.0, recovery_s=10.0, quiet_s=0.5, clock=clock, sleep=clock.sleep)
    assert rate.rate_now == 1000.0
    rate.on_throttle()
    assert rate.rate_now == 500.0  # multiplicative decrease
    clock.now += 0.1
    rate.on_throttle()  # in flight before the cut: the same signal
    assert rate.rate_now == pytest.approx(510.0) and rate.cuts == 1 and rate.throttles == 2
    clock.now += 0.5
    rate.on_throttle()  # a new signal: halve what it had grown back to
    assert rate.rate_now == pytest.approx(280.0) and rate.cuts == 2  # (500 + 0.6 s x 100/s) / 2
    clock.now += 2.0
    assert rate.rate_now == pytest.approx(480.0)  # additive increase: 100/s per second (ceiling / recovery_s)
    clock.now += 60.0
    assert rate.rate_now == 1000.0  # never above the quota
    slow = ebs_direct.AdaptiveRate(1000.0, floor=10.0, recovery_s=1e9, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        clock.now += 1.0
        slow.on_throttle()
    assert slow.rate_now == pytest.approx(10.0)  # never below the floor


def test_rate_limiter_paces_by_reserving_slots_without_polling() -> None:
    clock = Clock()
    rate = ebs_direct.AdaptiveRate(100.0, burst_s=0.05, clock=clock, sleep=clock.sleep)
    for _ in range(6):  # the burst (50 ms at 100/s, and the request due now) goes at once
        rate.acquire()
    assert clock.slept == []
    started = clock.now
    for _ in range(100):
        rate.acquire()
    assert clock.now - started == pytest.approx(1.0, abs=0.011)  # 100 more at 100/s
    assert len(clock.slept) == 100  # one sleep per request, none to poll
    rate.on_throttle()
    started = clock.now
    for _ in range(50):
        rate.acquire()
    assert 0.85 < clock.now - started < 1.0  # 50 at the halved rate, growing back at 10/s per second


def test_a_flow_cuts_the_quota_aws_names() -> None:
    clock = Clock()
    snapshot = ebs_direct.AdaptiveRate(1000.0, clock=clock, sleep=clock.sleep)
    account = ebs_direct.AdaptiveRate(1000.0, clock=clock, sleep=clock.sleep)
    flow = ebs_direct.BlockFlow(snapshot, account)
    flow.throttled("ACCOUNT_THROTTLED")
    assert (snapshot.rate_now, account.rate_now) == (1000.0, 500.0)
    clock.now += 1.0
    flow.throttled("RESOURCE_LEVEL_THROTTLE")
    assert snapshot.rate_now == 500.0 and flow.throttles == 2


def test_throttling_past_botocore_is_retried_at_the_flow_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("skyvault.services.ec2.ebs_direct.time.sleep", lambda _s: None)
    throttled = ThrottledError("slow down", code="RequestThrottledException")
    fake = FakeEbs(get_snapshot_block=[throttled] * 7 + [_get(_block(3))])
    clock = Clock()
    flow = ebs_direct.BlockFlow(ebs_direct.AdaptiveRate(1000.0, clock=clock, sleep=clock.sleep))
    assert ebs_direct.read_block(fake, "snap-1", 0, "t", flow) == _block(3)  # type: ignore[arg-type]
    assert flow.throttles == 7 and flow.snapshot.rate_now < 1000.0  # type: ignore[attr-defined]


def test_concurrency_grows_while_round_trips_stay_short_and_backs_off_when_they_queue() -> None:
    clock = Clock()
    limit = ebs_direct.AdaptiveConcurrency(initial=16, minimum=16, maximum=64, window_s=1e9, clock=clock)

    def request(rtt: float) -> None:
        started = limit.acquire()
        clock.now += rtt
        limit.release(started)

    for _ in range(16 * 10):  # ten rounds of 50 ms round trips: about one more in flight per round
        request(0.05)
    assert 24 <= limit.limit <= 27
    for _ in range(2000):
        request(0.05)
    assert limit.limit == 64  # never above the maximum
    for _ in range(64 * 5):  # queueing: round trips 4x the shortest
        request(0.2)
    assert 55 <= limit.limit < 64
    for _ in range(5000):
        request(0.2)
    assert limit.limit == 16  # never below the floor
    limit.window_s = 10.0  # a new window: the shortest round trip is learnt again (latency went up for good)
    for _ in range(200):
        request(0.2)
    assert limit.limit > 16


def test_a_failed_request_frees_its_slot_without_a_round_trip_sample() -> None:
    limit = ebs_direct.AdaptiveConcurrency(initial=16)
    with pytest.raises(RuntimeError), limit.slot():
        raise RuntimeError("boom")
    assert limit.in_flight == 0 and limit.limit == 16
