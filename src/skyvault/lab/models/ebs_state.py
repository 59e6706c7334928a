"""The block state the EBS models keep on moto's objects, and the AWS-shaped errors they raise.

A moto ``Volume`` carries its ``VolumeBlocks``, a completed ``Snapshot`` its ``FrozenBlocks`` and a StartSnapshot
snapshot being written its ``Upload`` (as attributes, so state is per account and region and vanishes on reset).
Shared by the EC2 patches (``ebs_blocks``) and the EBS direct handlers (``ebs_direct``), which read and write it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

VOLUME_ATTR = "_skyvault_blocks"
SNAPSHOT_ATTR = "_skyvault_snapshot_blocks"
UPLOAD_ATTR = "_skyvault_upload"

LOCK = threading.RLock()  # freeze (snapshot) and write (guest) must not interleave on one volume


class BlockModelError(Exception):
    """An AWS-shaped error from the model: HTTP status, error type, ``Reason`` (EBS direct) and message."""

    def __init__(self, status: int, kind: str, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.reason = reason


def not_found(message: str) -> BlockModelError:
    return BlockModelError(404, "ResourceNotFoundException", message, "SNAPSHOT_NOT_FOUND")


def invalid(message: str, reason: str = "INVALID_PARAMETER_VALUE") -> BlockModelError:
    return BlockModelError(400, "ValidationException", message, reason)


# -- block maps -------------------------------------------------------------------------------------------
class BlockMap(dict[int, bytes]):
    """``block index -> 512 KiB``. ``checksums`` caches the logical SHA-256 per volume size: hashing a GiB takes
    about a second, and a map shared by a volume, its snapshots and their copies is hashed once. Any mutation
    clears it (only unshared maps are mutated)."""

    __slots__ = ("checksums",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.checksums: dict[int, str] = {}


@dataclass(frozen=True)
class FrozenBlocks:
    """A snapshot's blocks: never mutated after creation, so maps and bytes can be shared freely."""

    blocks: BlockMap
    volume_size_gib: int
    lineage: str
    _sorted: list[int] = field(default_factory=list, compare=False, repr=False)

    def sorted_indices(self) -> list[int]:
        if len(self._sorted) != len(self.blocks):
            self._sorted[:] = sorted(self.blocks)
        return self._sorted


class VolumeBlocks:
    """A volume's blocks with copy-on-write: ``freeze`` hands out the current map, the next write copies it."""

    def __init__(self, base: BlockMap | None, lineage: str) -> None:
        self._map = base if base is not None else BlockMap()
        self._shared = base is not None
        self.lineage = lineage

    def freeze(self, volume_size_gib: int) -> FrozenBlocks:
        with LOCK:
            self._shared = True
            return FrozenBlocks(self._map, volume_size_gib, self.lineage)

    def write(self, index: int, data: bytes) -> None:
        with LOCK:
            if self._shared:
                self._map = BlockMap(self._map)
                self._shared = False
            if data.count(0) == len(data):
                self._map.pop(index, None)
            else:
                self._map[index] = data
            self._map.checksums.clear()

    def view(self) -> BlockMap:
        return self._map


@dataclass
class Upload:
    """A StartSnapshot snapshot being written with PutSnapshotBlock."""

    blocks: BlockMap
    volume_size_gib: int
    lineage: str
    parent_snapshot_id: str | None
    written: set[int] = field(default_factory=set)
    checksums: dict[int, bytes] = field(default_factory=dict)


def volume_blocks(volume: Any) -> VolumeBlocks:
    blocks: VolumeBlocks | None = getattr(volume, VOLUME_ATTR, None)
    if blocks is None:
        # A volume made by a path the model does not patch starts empty, in its own lineage.
        blocks = VolumeBlocks(None, lineage=str(volume.id))
        setattr(volume, VOLUME_ATTR, blocks)
    return blocks


def snapshot_blocks(snapshot: Any) -> FrozenBlocks:
    if getattr(snapshot, UPLOAD_ATTR, None) is not None or snapshot.status != "completed":
        raise invalid(f"snapshot {snapshot.id} is not completed (status {snapshot.status})", "INVALID_SNAPSHOT_ID")
    frozen: FrozenBlocks | None = getattr(snapshot, SNAPSHOT_ATTR, None)
    if frozen is None:
        frozen = FrozenBlocks(BlockMap(), int(snapshot.volume.size), lineage=str(snapshot.id))
        setattr(snapshot, SNAPSHOT_ATTR, frozen)
    return frozen


# -- moto lookups ---------------------------------------------------------------------------------------------
def ec2_backend(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def find_snapshot(account_id: str, region: str, snapshot_id: str) -> Any:
    snapshot = ec2_backend(account_id, region).snapshots.get(snapshot_id)
    if snapshot is None:
        raise not_found(f"The snapshot '{snapshot_id}' does not exist.")
    return snapshot
