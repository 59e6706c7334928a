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

Rate limits (AWS): List* calls ~50 requests/s per account and region, GetSnapshotBlock/PutSnapshotBlock ~1000
requests/s per snapshot. The shared ``RateLimiter``s keep a process under them; botocore's standard retry mode
backs off on throttling, and ``with_backoff`` adds a longer outer backoff for copies that outlive a burst.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from collections.abc import Callable
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
CHECKSUM_ATTEMPTS = 3
BACKOFF_ATTEMPTS = 5
WRITABLE_WAIT_S = 150.0  # coldsnap's 12 attempts cover 132 s of "snapshot does not exist" after StartSnapshot
CONCURRENT_LIMIT = "ConcurrentLimitExceededException"

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
    """A token bucket: ``acquire()`` blocks until a request may go out (thread-safe)."""

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            time.sleep(wait)


_LIST_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def list_limiter(account: str, region: str) -> RateLimiter:
    """One List* limiter per account and region, shared by every copy in this process (AWS's quota scope)."""
    with _LIMITERS_LOCK:
        limiter = _LIST_LIMITERS.get((account, region))
        if limiter is None:
            limiter = _LIST_LIMITERS[(account, region)] = RateLimiter(LIST_RATE_PER_S)
        return limiter


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


def read_block(ebs: EBSClient, snapshot_id: str, index: int, token: str, limiter: RateLimiter) -> bytes:
    """One block, verified against the checksum EBS sent with it (a mismatch is retried, then fails the copy)."""
    for _attempt in range(CHECKSUM_ATTEMPTS):
        limiter.acquire()
        response = with_backoff(
            lambda: ebs.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)
        )
        body = response["BlockData"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
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
        self._limiter = RateLimiter(rate_per_s)
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

    def put(self, index: int, data: bytes) -> None:
        if self.snapshot_id is None:
            raise AwsError("SnapshotWriter.put before start")
        if len(data) != BLOCK_SIZE:
            raise AwsError(f"block {index}: {len(data)} bytes; EBS direct writes whole {BLOCK_SIZE}-byte blocks")
        digest = hashlib.sha256(data).digest()
        checksum = base64.b64encode(digest).decode("ascii")
        snapshot_id = self.snapshot_id
        self._limiter.acquire()
        self._until_writable(
            lambda: with_backoff(
                lambda: self.ebs.put_snapshot_block(
                    SnapshotId=snapshot_id,
                    BlockIndex=index,
                    BlockData=data,
                    DataLength=len(data),
                    Checksum=checksum,
                    ChecksumAlgorithm="SHA256",
                )
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
