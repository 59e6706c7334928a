"""EBS direct APIs: list, read and write 512 KiB snapshot blocks with checksums, rate limits and retries.

Reading: ``list_snapshot_blocks`` (every written block of a snapshot) and ``list_changed_blocks`` (blocks that
differ between two snapshots of the same volume lineage) page through results, including empty pages that still
carry a next token (AWS returns those); ``read_block`` fetches one block and verifies its SHA-256 checksum, retrying
a mismatch (the payload is not covered by SigV4, so corruption in transit is only caught here).

Writing: ``SnapshotWriter`` runs StartSnapshot / PutSnapshotBlock (base64 SHA-256 per block) / CompleteSnapshot
with the LINEAR aggregate checksum, so EBS itself verifies every byte it stores. A snapshot just started may not
take blocks yet (PutSnapshotBlock answers that it does not exist; awslabs/coldsnap retries for about two minutes):
the writer retries a not-found block write for ``WRITABLE_WAIT_S`` after StartSnapshot. It also retries
``ConcurrentLimitExceededException`` (too many EBS direct requests in flight; botocore does not retry it) with
backoff, like throttling.

Rate limits (AWS, Service Quotas for ``ebs``): List* calls 50 requests/s per account and Region;
GetSnapshotBlock and PutSnapshotBlock 1,000 requests/s per snapshot *and* 1,000 per account and Region (so four
volumes copied at once share 1,000/s). Each block request is paced by a ``BlockFlow``: the snapshot's own
``AdaptiveRate`` and its account's, shared by every copy and restore of this process. Both are token buckets whose
rate follows AIMD: halved (at most once per ``quiet_s``) when AWS answers ``RequestThrottledException`` (the
``Reason`` says which quota: ``RESOURCE_LEVEL_THROTTLE`` the snapshot's, ``ACCOUNT_THROTTLED`` the account's) or
``ConcurrentLimitExceededException``, and raised linearly back to the quota. botocore's standard retry mode retries
the throttled request itself; a hook on its retry decisions tells the flow of each throttled answer, so the rate
drops at the first one. When botocore gives up (its retry quota is spent), the block is retried here with backoff
for up to ``THROTTLE_ATTEMPTS`` attempts: throttling slows a copy down, it does not fail it. Latency is covered by
requests in flight: up to ``DEFAULT_IN_FLIGHT`` worker threads per volume, of which the flow's
``AdaptiveConcurrency`` lets at least 16 and, while round trips stay near the shortest seen, more send at once.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from skyvault.errors import AwsError, LibraryCorruptError, NotFoundError, ThrottledError
from skyvault.permissions import Feature, declare

if TYPE_CHECKING:
    from skyvault.aws.clients import EBSClient

T = TypeVar("T")

BLOCK_SIZE = 512 * 1024
GIB = 1024**3
LIST_PAGE = 10000  # the APIs' maximum MaxResults: fewest List calls
LIST_RATE_PER_S = 50.0
BLOCK_RATE_PER_S = 1000.0
BLOCK_RATE_PER_ACCOUNT_S = 1000.0
CHECKSUM_ATTEMPTS = 3
BACKOFF_ATTEMPTS = 5
THROTTLE_ATTEMPTS = 30  # block requests still throttled after botocore's retries: ~2 minutes of backoff (5 s cap)
THROTTLE_BACKOFF_CAP_S = 5.0
DEFAULT_IN_FLIGHT = 100  # workers per volume: up to 1,000 requests/s at 100 ms (AdaptiveConcurrency decides)
WRITABLE_WAIT_S = 150.0  # coldsnap's 12 attempts cover 132 s of "snapshot does not exist" after StartSnapshot
CONCURRENT_LIMIT = "ConcurrentLimitExceededException"
REQUEST_THROTTLED = "RequestThrottledException"
_BUSY_CODES = frozenset({REQUEST_THROTTLED, "ThrottlingException", CONCURRENT_LIMIT})

SNAPSHOT_ARN = "arn:${Partition}:ec2:${Region}::snapshot/*"
# Encrypted snapshots: EBS uses the snapshot's KMS key on the caller's behalf (AWS's EBS direct IAM guide). The
# key may live in another account of the organisation (a shared customer key), hence any account.
KMS_KEYS = "arn:${Partition}:kms:${Region}:*:key/*"
KMS_READ = ("kms:Decrypt",)
KMS_WRITE = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:CreateGrant",
    "kms:DescribeKey",
)

LIST_SNAPSHOT_BLOCKS = declare(
    policy="ec2",
    service="ebs",
    operation="ListSnapshotBlocks",
    feature=Feature.COPY,
    step="list snapshot blocks",
    purpose="List the written blocks of a snapshot for the first (full) copy into the library.",
    resources=(SNAPSHOT_ARN,),
)
LIST_CHANGED_BLOCKS = declare(
    policy="ec2",
    service="ebs",
    operation="ListChangedBlocks",
    feature=Feature.COPY,
    step="list changed blocks",
    purpose="List only the blocks changed since the previous base snapshot (incremental copy; without it, full reads).",
    resources=(SNAPSHOT_ARN,),
)
GET_SNAPSHOT_BLOCK = declare(
    policy="ec2",
    service="ebs",
    operation="GetSnapshotBlock",
    feature=Feature.COPY,
    step="read snapshot blocks",
    purpose="Read snapshot blocks (with their SHA-256 checksums) to store them in the library; KMS decrypts "
    "blocks of encrypted snapshots.",
    actions=("ebs:GetSnapshotBlock", *KMS_READ),
    resources=(SNAPSHOT_ARN, KMS_KEYS),
)
START_SNAPSHOT = declare(
    policy="ec2",
    service="ebs",
    operation="StartSnapshot",
    feature=Feature.RESTORE,
    step="write snapshot from library",
    purpose="Create a new snapshot, tagged as skyvault's, to write a volume from the library into any region/account; "
    "KMS encrypts it when the source volume was encrypted.",
    actions=("ebs:StartSnapshot", *KMS_WRITE),
    resources=(SNAPSHOT_ARN, KMS_KEYS),
    tag_on_create=True,
)
# StartSnapshot with Tags is authorised as ebs:StartSnapshot *and* ec2:CreateTags (Service Authorization Reference,
# "API operations defined by Amazon Elastic Block Store"); ec2:CreateAction names the creating call, as for EC2's own.
START_SNAPSHOT_TAGS = declare(
    policy="ec2",
    service="ec2",
    operation="CreateTags",
    feature=Feature.RESTORE,
    step="write snapshot from library",
    purpose="Tag the snapshot StartSnapshot creates in the same request (EBS authorizes its Tags as ec2:CreateTags).",
    resources=(SNAPSHOT_ARN,),
    conditions=(("StringEquals", "ec2:CreateAction", ("StartSnapshot",)),),
    tags_write=True,
)
PUT_SNAPSHOT_BLOCK = declare(
    policy="ec2",
    service="ebs",
    operation="PutSnapshotBlock",
    feature=Feature.RESTORE,
    step="write snapshot from library",
    purpose="Write each non-zero block from the library with its SHA-256 checksum (EBS verifies it).",
    resources=(SNAPSHOT_ARN,),
)
COMPLETE_SNAPSHOT = declare(
    policy="ec2",
    service="ebs",
    operation="CompleteSnapshot",
    feature=Feature.RESTORE,
    step="write snapshot from library",
    purpose="Seal the written snapshot with the aggregate checksum of all its blocks.",
    resources=(SNAPSHOT_ARN,),
)


class RateLimiter:
    """A token bucket: ``acquire()`` blocks until a request may go out (thread-safe).

    Each caller reserves the next free slot and sleeps once until it (no polling): hundreds of waiting workers cost
    one wake-up each, not a herd every millisecond. ``burst`` requests may go out at once after a quiet spell."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self._next = clock() - self.capacity / rate_per_s  # start with a full bucket
        self._lock = threading.Lock()

    def current_rate(self, now: float) -> float:
        return self.rate

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            rate = self.current_rate(now)
            slot = max(self._next, now - self.capacity / rate)
            self._next = slot + 1.0 / rate
        if slot > now:
            self._sleep(slot - now)


class AdaptiveRate(RateLimiter):
    """A token bucket whose rate follows AIMD: ``on_throttle`` halves it (once per ``quiet_s``: the requests that
    were already in flight when AWS started throttling answer throttled too, and count as one signal), then it grows
    back linearly, ``ceiling / recovery_s`` per second, to the quota ``ceiling``; never below ``floor``."""

    def __init__(
        self,
        ceiling: float,
        *,
        floor: float = 5.0,
        recovery_s: float = 10.0,
        quiet_s: float = 0.5,
        burst_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(ceiling, max(1.0, ceiling * burst_s), clock=clock, sleep=sleep)
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.increase_per_s = ceiling / recovery_s
        self.quiet_s = quiet_s
        self._base = ceiling
        self._base_at = clock()
        self._last_cut = -math.inf
        self.throttles = 0
        self.cuts = 0

    def current_rate(self, now: float) -> float:
        return min(self.ceiling, self._base + self.increase_per_s * max(0.0, now - self._base_at))

    @property
    def rate_now(self) -> float:
        with self._lock:
            return self.current_rate(self._clock())

    def on_throttle(self) -> None:
        with self._lock:
            now = self._clock()
            self.throttles += 1
            if now - self._last_cut < self.quiet_s:
                return
            self._base = max(self.floor, self.current_rate(now) / 2.0)
            self._base_at = self._last_cut = now
            self.cuts += 1  # slots already reserved keep their times; new ones are spaced at the new rate


_LIST_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_BLOCK_RATES: dict[tuple[str, str, str], AdaptiveRate] = {}
_LIMITERS_LOCK = threading.Lock()


def list_limiter(account: str, region: str) -> RateLimiter:
    """One List* limiter per account and region, shared by every copy in this process (AWS's quota scope)."""
    with _LIMITERS_LOCK:
        limiter = _LIST_LIMITERS.get((account, region))
        if limiter is None:
            limiter = _LIST_LIMITERS[(account, region)] = RateLimiter(LIST_RATE_PER_S)
        return limiter


def account_rate(account: str, region: str, operation: str) -> AdaptiveRate:
    """The account's adaptive rate for ``operation`` (GetSnapshotBlock or PutSnapshotBlock) in ``region``: one per
    process, shared by every volume of every job (AWS's quota is per account and Region)."""
    with _LIMITERS_LOCK:
        rate = _BLOCK_RATES.get((account, region, operation))
        if rate is None:
            rate = _BLOCK_RATES[(account, region, operation)] = AdaptiveRate(BLOCK_RATE_PER_ACCOUNT_S)
        return rate


class AdaptiveConcurrency:
    """How many block requests may be in flight at once, adapted to what the round trips say (thread-safe).

    Little's law: reaching AWS's 1,000 requests/s at 50-100 ms takes 50-100 requests in flight; more than the
    service (or this machine's CPU) can serve only queues them, longer round trips for the same throughput, while
    each waiting worker holds a block and competes for the interpreter. So the limit follows the round trips, as
    TCP Vegas does: it starts at ``initial`` (16, the floor: a busy machine's jittery round trips never take a
    copy below what it always had); a round trip within ``tolerance`` times the shortest recently seen
    adds ``1 / limit`` (one more request per round of requests); a longer one takes ``1 / limit`` away (the queue
    grows: back off); always within ``[minimum, maximum]``. The shortest round trip is forgotten every
    ``window_s`` (the latency may change) and learnt again from that window's requests."""

    def __init__(
        self,
        *,
        initial: float = 16.0,
        minimum: float = 16.0,
        maximum: float = 400.0,
        tolerance: float = 2.0,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = float(initial)
        self.minimum = minimum
        self.maximum = maximum
        self.tolerance = tolerance
        self.window_s = window_s
        self._clock = clock
        self.in_flight = 0
        self._min_rtt = math.inf
        self._window_min = math.inf
        self._window_started = clock()
        self._cond = threading.Condition()

    def acquire(self) -> float:
        """Wait for a free slot; returns the moment the request starts (for ``release``)."""
        with self._cond:
            while self.in_flight >= int(self.limit):
                self._cond.wait()
            self.in_flight += 1
            return self._clock()

    def release(self, started: float | None) -> None:
        """The request that took a slot at ``started`` ended (None: it failed, its round trip says nothing)."""
        with self._cond:
            self.in_flight -= 1
            if started is not None:
                self._sample(self._clock() - started)
            # Wake only as many waiters as there are free slots: hundreds of workers may wait here.
            self._cond.notify(max(0, int(self.limit) - self.in_flight))

    def _sample(self, rtt: float) -> None:
        now = self._clock()
        self._window_min = min(self._window_min, rtt)
        if now - self._window_started >= self.window_s:
            self._min_rtt, self._window_min, self._window_started = self._window_min, math.inf, now
        self._min_rtt = min(self._min_rtt, rtt)
        if rtt <= self._min_rtt * self.tolerance:
            self.limit = min(self.maximum, self.limit + 1.0 / self.limit)
        else:
            self.limit = max(self.minimum, self.limit - 1.0 / self.limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        started: float | None = self.acquire()
        try:
            yield
        except BaseException:
            started = None
            raise
        finally:
            self.release(started)


class BlockFlow:
    """How one snapshot's block requests are paced: its own quota and its account's (both ``AdaptiveRate``), how
    many may be in flight (its own ``AdaptiveConcurrency``: at least 16 per volume, more while round trips stay
    short), and how many throttled answers they met (each one told by botocore's retry hook, or by an error that
    outlived it)."""

    def __init__(
        self,
        snapshot: RateLimiter,
        account: RateLimiter | None = None,
        *,
        hooked: bool = False,
        concurrency: AdaptiveConcurrency | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.account = account
        self.concurrency = concurrency
        self.hooked = hooked  # botocore's retry hook tells this flow of each throttled answer
        self.throttles = 0
        self._lock = threading.Lock()

    @classmethod
    def for_snapshot(cls, ebs: Any, operation: str, *, rate_per_s: float = BLOCK_RATE_PER_S) -> BlockFlow:
        account = getattr(ebs, "account", None)
        region = getattr(ebs, "region", None)
        known = isinstance(account, str) and isinstance(region, str)
        if not known:
            return cls(AdaptiveRate(rate_per_s), hooked=observe_throttling(ebs), concurrency=AdaptiveConcurrency())
        return cls(
            AdaptiveRate(rate_per_s),
            account_rate(str(account), str(region), operation),
            hooked=observe_throttling(ebs),
            concurrency=AdaptiveConcurrency(),
        )

    def acquire(self) -> None:
        self.snapshot.acquire()
        if self.account is not None:
            self.account.acquire()

    def throttled(self, reason: str | None) -> None:
        with self._lock:
            self.throttles += 1
        targets: list[RateLimiter | None]
        if reason == "ACCOUNT_THROTTLED":
            targets = [self.account]
        elif reason == "RESOURCE_LEVEL_THROTTLE":
            targets = [self.snapshot]
        else:
            targets = [self.snapshot, self.account]
        for target in targets:
            if isinstance(target, AdaptiveRate):
                target.on_throttle()


# The flow of the block request this thread is making: botocore's retry hook runs in the calling thread.
_CURRENT_FLOW: contextvars.ContextVar[BlockFlow | None] = contextvars.ContextVar("skyvault_ebs_flow", default=None)
_HOOKED_ATTR = "_skyvault_throttle_hook"
_HOOK_LOCK = threading.Lock()


def _on_retry_decision(response: Any = None, **_: Any) -> None:
    """botocore ``needs-retry`` observer: a throttled answer slows the flow of the request down (returns None, so
    botocore's own retry decision stands)."""
    if not response:
        return
    parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
    code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
    flow = _CURRENT_FLOW.get()
    if flow is not None and code in _BUSY_CODES:
        flow.throttled(parsed.get("Reason") or parsed.get("Error", {}).get("Reason"))


def observe_throttling(ebs: Any) -> bool:
    """Hook ``_on_retry_decision`` into the client's botocore events once; False for a client without botocore."""
    raw = getattr(ebs, "raw", None)
    events = getattr(getattr(raw, "meta", None), "events", None)
    if events is None:
        return False
    with _HOOK_LOCK:
        if not getattr(raw, _HOOKED_ATTR, False):
            events.register("needs-retry.ebs", _on_retry_decision, unique_id="skyvault-ebs-throttle-observer")
            setattr(raw, _HOOKED_ATTR, True)
    return True


@contextmanager
def _flowing(flow: BlockFlow) -> Iterator[None]:
    token = _CURRENT_FLOW.set(flow)
    try:
        yield
    finally:
        _CURRENT_FLOW.reset(token)


def paced(flow: BlockFlow, call: Callable[[], T], *, hooked: bool) -> T:
    """``call()`` (one block request) when ``flow`` allows, retried with backoff while AWS still throttles after
    botocore's retries, up to ``THROTTLE_ATTEMPTS`` times."""
    for attempt in range(THROTTLE_ATTEMPTS):
        flow.acquire()
        try:
            with flow.concurrency.slot() if flow.concurrency else contextlib.nullcontext(), _flowing(flow):
                return call()
        except AwsError as exc:
            if not _too_busy(exc) or attempt == THROTTLE_ATTEMPTS - 1:
                raise
            if not hooked:  # no botocore hook saw it: tell the flow here
                flow.throttled(None)
            time.sleep(random.uniform(0.5, 1.0) * min(THROTTLE_BACKOFF_CAP_S, 0.1 * 2**attempt))
    raise AssertionError("unreachable")


def _too_busy(error: AwsError) -> bool:
    """Throttling that outlived botocore's retries, or the concurrent-request limit botocore never retries."""
    return isinstance(error, ThrottledError) or error.code == CONCURRENT_LIMIT


def with_backoff(fn: Callable[[], T], *, attempts: int = BACKOFF_ATTEMPTS, base_s: float = 1.0) -> T:
    """Retry ``fn`` when AWS still throttles after botocore's own retries, or answers
    ``ConcurrentLimitExceededException`` (full-jitter exponential backoff)."""
    for attempt in range(attempts):
        try:
            return fn()
        except AwsError as exc:
            if not _too_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, base_s * 2**attempt))
    raise AssertionError("unreachable")


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass
class BlockListing:
    """What a List* call sequence returned: the volume size and block index -> block token.

    For changed blocks the token is the *second* snapshot's; ``None`` means the block is absent from the second
    snapshot (it reads as zeros there).
    """

    volume_size_gib: int
    block_size: int
    blocks: dict[int, str | None] = field(default_factory=dict)
    api_pages: int = 0

    @property
    def volume_bytes(self) -> int:
        return self.volume_size_gib * GIB


def _check_block_size(block_size: int, snapshot_id: str) -> None:
    if block_size != BLOCK_SIZE:
        raise AwsError(f"snapshot {snapshot_id} reports {block_size}-byte blocks; EBS direct blocks are {BLOCK_SIZE}")


def list_snapshot_blocks(ebs: EBSClient, snapshot_id: str, limiter: RateLimiter) -> BlockListing:
    listing: BlockListing | None = None
    params: dict[str, Any] = {"SnapshotId": snapshot_id, "MaxResults": LIST_PAGE}
    while True:
        limiter.acquire()
        page = with_backoff(lambda: ebs.list_snapshot_blocks(**params))
        if listing is None:
            listing = BlockListing(int(page["VolumeSize"]), int(page.get("BlockSize", BLOCK_SIZE)))
            _check_block_size(listing.block_size, snapshot_id)
        listing.api_pages += 1
        for block in page.get("Blocks", []):
            listing.blocks[int(block["BlockIndex"])] = str(block["BlockToken"])
        token = page.get("NextToken")
        if not token:  # an empty page with a token is not the end: AWS says keep going
            return listing
        params["NextToken"] = token


def list_changed_blocks(ebs: EBSClient, first_id: str, second_id: str, limiter: RateLimiter) -> BlockListing:
    listing: BlockListing | None = None
    params: dict[str, Any] = {"FirstSnapshotId": first_id, "SecondSnapshotId": second_id, "MaxResults": LIST_PAGE}
    while True:
        limiter.acquire()
        page = with_backoff(lambda: ebs.list_changed_blocks(**params))
        if listing is None:
            listing = BlockListing(int(page["VolumeSize"]), int(page.get("BlockSize", BLOCK_SIZE)))
            _check_block_size(listing.block_size, second_id)
        listing.api_pages += 1
        for block in page.get("ChangedBlocks", []):
            second = block.get("SecondBlockToken")
            listing.blocks[int(block["BlockIndex"])] = str(second) if second else None
        token = page.get("NextToken")
        if not token:
            return listing
        params["NextToken"] = token


def read_block(ebs: EBSClient, snapshot_id: str, index: int, token: str, flow: BlockFlow | RateLimiter) -> bytes:
    """One block, verified against the checksum EBS sent with it (a mismatch is retried, then fails the copy).

    ``flow`` paces the request (a ``BlockFlow``, or a bare ``RateLimiter``); throttling is absorbed by ``paced``."""
    if isinstance(flow, RateLimiter):
        flow = BlockFlow(flow, hooked=observe_throttling(ebs))

    def fetch() -> tuple[Any, bytes]:
        response = ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)
        body = response["BlockData"]
        try:  # the body's transfer is part of the request (and of its round trip)
            return response, body.read()
        finally:
            body.close()

    for _attempt in range(CHECKSUM_ATTEMPTS):
        response, data = paced(flow, fetch, hooked=flow.hooked)
        algorithm = response.get("ChecksumAlgorithm", "SHA256")
        if algorithm != "SHA256":
            raise AwsError(f"snapshot {snapshot_id} block {index}: unsupported checksum algorithm {algorithm!r}")
        length = int(response.get("DataLength", len(data)))
        if len(data) == length and sha256_b64(data) == response.get("Checksum"):
            return data
    raise LibraryCorruptError(
        f"snapshot {snapshot_id} block {index}: checksum mismatch on {CHECKSUM_ATTEMPTS} reads; nothing was stored"
    )


class SnapshotWriter:
    """Write a new snapshot block by block (thread-safe ``put``), then seal it with the aggregate checksum."""

    def __init__(self, ebs: EBSClient, *, rate_per_s: float = BLOCK_RATE_PER_S) -> None:
        self.ebs = ebs
        self.snapshot_id: str | None = None
        self.flow = BlockFlow.for_snapshot(ebs, "PutSnapshotBlock", rate_per_s=rate_per_s)
        self._digests: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._started = 0.0
        self.writable_wait_s = WRITABLE_WAIT_S
        self.bytes_written = 0

    def start(
        self,
        *,
        volume_size_gib: int,
        tags: dict[str, str],
        description: str,
        client_token: str,
        encrypted: bool = False,
        kms_key_arn: str | None = None,
        timeout_minutes: int = 60,
    ) -> str:
        params: dict[str, Any] = {
            "VolumeSize": volume_size_gib,
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            "Description": description[:255],
            # Idempotent: a retried StartSnapshot with the same token returns the same snapshot, never a second one.
            "ClientToken": client_token,
            # A writer that dies leaves a pending snapshot that EBS moves to 'error' after this many minutes.
            "Timeout": timeout_minutes,
        }
        if encrypted:
            params["Encrypted"] = True
            if kms_key_arn:
                params["KmsKeyArn"] = kms_key_arn
        response = with_backoff(lambda: self.ebs.start_snapshot(**params))
        self.snapshot_id = str(response["SnapshotId"])
        self._started = time.monotonic()
        return self.snapshot_id

    def put(self, index: int, data: bytes | bytearray | memoryview) -> None:
        if self.snapshot_id is None:
            raise AwsError("SnapshotWriter.put before start")
        if len(data) != BLOCK_SIZE:
            raise AwsError(f"block {index}: {len(data)} bytes; EBS direct writes whole {BLOCK_SIZE}-byte blocks")
        if not isinstance(data, bytes):
            data = bytes(data)  # botocore sends bytes or files; a library view may not outlive its pack chunk
        digest = hashlib.sha256(data).digest()
        checksum = base64.b64encode(digest).decode("ascii")
        snapshot_id = self.snapshot_id
        self._until_writable(
            lambda: paced(
                self.flow,
                lambda: self.ebs.put_snapshot_block(
                    SnapshotId=snapshot_id,
                    BlockIndex=index,
                    BlockData=data,
                    DataLength=len(data),
                    Checksum=checksum,
                    ChecksumAlgorithm="SHA256",
                ),
                hooked=self.flow.hooked,
            )
        )
        with self._lock:
            self._digests[index] = digest
            self.bytes_written += len(data)

    def _until_writable(self, put: Callable[[], T]) -> T:
        """``put()``, retried while the snapshot is not writable yet (not found, within ``writable_wait_s`` of
        StartSnapshot, as coldsnap waits ~2 minutes; pauses double from 0.2 s up to 10 s, with jitter so parallel
        writers spread out)."""
        attempt = 0
        while True:
            try:
                return put()
            except NotFoundError as exc:
                waited = time.monotonic() - self._started
                if waited >= self.writable_wait_s:
                    raise NotFoundError(
                        f"snapshot {self.snapshot_id} still not writable {waited:.0f} s after StartSnapshot: {exc}"
                    ) from exc
            pause = random.uniform(0.5, 1.0) * min(10.0, 0.2 * 2**attempt)
            attempt += 1
            time.sleep(min(pause, max(0.0, self.writable_wait_s - waited)))

    @property
    def blocks_written(self) -> int:
        return len(self._digests)

    def aggregate_checksum(self) -> str:
        """LINEAR aggregation: SHA-256 over the blocks' SHA-256 digests in ascending block index order."""
        combined = hashlib.sha256()
        for index in sorted(self._digests):
            combined.update(self._digests[index])
        return base64.b64encode(combined.digest()).decode("ascii")

    def complete(self) -> str:
        if self.snapshot_id is None:
            raise AwsError("SnapshotWriter.complete before start")
        snapshot_id = self.snapshot_id
        response = with_backoff(
            lambda: self.ebs.complete_snapshot(
                SnapshotId=snapshot_id,
                ChangedBlocksCount=len(self._digests),
                Checksum=self.aggregate_checksum(),
                ChecksumAlgorithm="SHA256",
                ChecksumAggregationMethod="LINEAR",
            )
        )
        return str(response.get("Status", "pending"))


class ParallelPuts:
    """``submit(index, data)`` writes blocks through ``writer`` from ``in_flight`` threads (the restore's readers
    decode packs while blocks are in flight); at most ``2 * in_flight`` blocks wait in memory. ``close()`` waits for
    every write and raises the first failure (``submit`` raises it too, early, once a write failed)."""

    def __init__(self, writer: SnapshotWriter, *, in_flight: int = DEFAULT_IN_FLIGHT) -> None:
        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="ebs-put")
        self._slots = threading.BoundedSemaphore(in_flight * 2)
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def _put(self, index: int, data: bytes | bytearray | memoryview) -> None:
        try:
            if not self._errors:
                self.writer.put(index, data)
        except BaseException as exc:
            with self._lock:
                self._errors.append(exc)
        finally:
            self._slots.release()

    def submit(self, index: int, data: bytes | bytearray | memoryview) -> None:
        if self._errors:
            raise self._errors[0]
        self._slots.acquire()
        # In a copy of the caller's context: the writes count as the job's AWS calls.
        self._pool.submit(contextvars.copy_context().run, self._put, index, data)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._errors:
            raise self._errors[0]

    def __enter__(self) -> ParallelPuts:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        self.close()
