"""Copy one EBS snapshot into the library through the EBS direct APIs: changed blocks only when possible.

- First copy of a volume: ``ListSnapshotBlocks`` (never-written blocks are not listed and read as zeros).
- Later copies: ``ListChangedBlocks`` between the previous *base* snapshot (the one the parent library manifest was
  made from) and the new one; every other block keeps the parent manifest's content. A block that the new
  snapshot no longer holds reads as zeros.
- When ``ListChangedBlocks`` is denied (a policy without ``ebs:ListChangedBlocks``) or the base snapshot is gone, the
  copy falls back to a full read and says why in ``warnings`` (other tools' users expect exactly this).

Blocks are fetched by ``workers`` threads (``DEFAULT_IN_FLIGHT``: enough to reach AWS's 1,000 requests/s at 100 ms
of latency), of which the flow's adaptive limit lets at least 16 and, while round trips stay short, more send at
once; paced by the snapshot's and the account's adaptive rates (``ebs_direct.BlockFlow``:
the account's is shared with the other volumes copied at the same time, so four volumes share its 1,000/s), each
verified against its checksum and handed to the library's thread-safe block writer, which skips zero blocks and
stores each new block once. A worker holds a block only from its request to its store: memory follows the requests
in flight, not the number of workers. Throttled answers slow the flows down and are counted (``throttles``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import asdict, dataclass, field
from typing import Any

from skyvault.aws.clients import ClientFactory
from skyvault.errors import AccessDeniedError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.services.ec2 import ebs_direct
from skyvault.services.ec2.ebs_direct import DEFAULT_IN_FLIGHT, BlockFlow, BlockListing

DEFAULT_WORKERS = DEFAULT_IN_FLIGHT
LIBRARY_KIND = "ebs"

Warn = Callable[[str], None]
Progress = Callable[[int, int], None]


@dataclass
class VolumeCopy:
    volume_id: str
    snapshot_id: str
    manifest_id: str
    mode: str  # full | incremental | full-fallback
    base_snapshot_id: str | None
    blocks_listed: int = 0
    blocks_read: int = 0
    blocks_zero: int = 0
    bytes_read: int = 0
    bytes_stored: int = 0
    duration_s: float = 0.0
    throttles: int = 0  # throttled answers met (and absorbed) while reading blocks
    in_flight: int = 0  # block reads in flight at the end (the adaptive limit the round trips allowed)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CopySource:
    account: str
    region: str
    volume_id: str
    volume_arn: str
    snapshot_id: str


def _listing(
    factory: ClientFactory,
    source: CopySource,
    parent: Manifest | None,
    base_snapshot_id: str | None,
    warnings: list[str],
) -> tuple[BlockListing, str]:
    ebs = factory.client(source.account, source.region, "ebs")
    limiter = ebs_direct.list_limiter(source.account, source.region)
    if parent is not None and base_snapshot_id:
        try:
            return ebs_direct.list_changed_blocks(ebs, base_snapshot_id, source.snapshot_id, limiter), "incremental"
        except AccessDeniedError:
            warnings.append(
                f"{source.volume_id}: ebs:ListChangedBlocks is not permitted; read the whole snapshot instead "
                "(grant ebs:ListChangedBlocks for changed-block copies: 'skyvault policy ec2')"
            )
        except NotFoundError:
            warnings.append(f"{source.volume_id}: base snapshot {base_snapshot_id} is gone; read the whole snapshot")
        return ebs_direct.list_snapshot_blocks(ebs, source.snapshot_id, limiter), "full-fallback"
    return ebs_direct.list_snapshot_blocks(ebs, source.snapshot_id, limiter), "full"


def copy_snapshot(
    factory: ClientFactory,
    repo: Repository,
    source: CopySource,
    *,
    parent: Manifest | None,
    base_snapshot_id: str | None,
    meta: dict[str, Any],
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> VolumeCopy:
    """Copy ``source.snapshot_id`` into ``repo`` (incremental against ``parent`` when possible)."""
    started = time.monotonic()
    warnings: list[str] = []
    listing, mode = _listing(factory, source, parent, base_snapshot_id, warnings)
    # A full read lists every block the snapshot holds: with a parent, unlisted blocks would wrongly keep the
    # parent's content, so full reads start from an empty map (the library still deduplicates known blocks).
    writer = repo.open_block_writer(
        kind=LIBRARY_KIND,
        source=source.volume_arn,
        size=listing.volume_bytes,
        parent=parent if mode == "incremental" else None,
        block_size=listing.block_size,
    )
    to_read = sorted((i, t) for i, t in listing.blocks.items() if t is not None and i < writer.block_count)
    for index, token in listing.blocks.items():
        if token is None and index < writer.block_count:
            writer.mark_zero(index)  # absent from the new snapshot: zeros now, whatever the parent held
    throttles, in_flight = _read_into(factory, source, writer, to_read, workers=workers, progress=progress)
    manifest = writer.commit(
        meta={**meta, "snapshot_id": source.snapshot_id, "volume_id": source.volume_id, "copy_mode": mode},
        tags={"volume": source.volume_id, "snapshot": source.snapshot_id},
    )
    stats = writer.stats
    return VolumeCopy(
        volume_id=source.volume_id,
        snapshot_id=source.snapshot_id,
        manifest_id=manifest.id,
        mode=mode,
        base_snapshot_id=base_snapshot_id if mode == "incremental" else None,
        blocks_listed=len(listing.blocks),
        blocks_read=len(to_read),
        blocks_zero=stats.blocks_zero,
        bytes_read=stats.bytes_read,
        bytes_stored=stats.bytes_stored,
        duration_s=round(time.monotonic() - started, 3),
        throttles=throttles,
        in_flight=in_flight,
        warnings=warnings,
    )


def _read_into(
    factory: ClientFactory,
    source: CopySource,
    writer: Any,
    blocks: Sequence[tuple[int, str | None]],
    *,
    workers: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """GetSnapshotBlock -> put_block for every listed block, ``workers`` threads (at most the flow's adaptive
    limit of them in flight), stopping at the first error; returns the throttled answers met and that limit."""
    if not blocks:
        return 0, 0
    ebs = factory.client(source.account, source.region, "ebs")
    flow = BlockFlow.for_snapshot(ebs, "GetSnapshotBlock")  # this snapshot's quota, and the account's (shared)
    in_flight = threading.BoundedSemaphore(workers * 2)  # bounds memory: at most 2 blocks per worker
    failed = threading.Event()
    errors: list[BaseException] = []
    done = 0
    lock = threading.Lock()

    def fetch(index: int, token: str) -> None:
        nonlocal done
        try:
            if failed.is_set():
                return
            data = ebs_direct.read_block(ebs, source.snapshot_id, index, token, flow)
            writer.put_block(index, data)
            with lock:
                done += 1
                count = done
            if progress is not None:
                progress(count, len(blocks))
        except BaseException as exc:
            with lock:
                errors.append(exc)
            failed.set()
        finally:
            in_flight.release()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ebs-read") as pool:
        for index, token in blocks:
            in_flight.acquire()
            if failed.is_set():
                in_flight.release()
                break
            assert token is not None
            # In a copy of this thread's context: the reads count as the job's AWS calls (a context-bound counter).
            pool.submit(copy_context().run, fetch, index, token)  # errors are collected in fetch, not the future
    if errors:
        raise errors[0]
    limit = int(flow.concurrency.limit) if flow.concurrency else workers
    return flow.throttles, limit
