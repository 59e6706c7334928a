"""The block state the EBS models keep on moto's objects, and the AWS-shaped errors they raise.

A moto ``Volume`` carries its ``VolumeBlocks``, a completed ``Snapshot`` its ``FrozenBlocks`` and a StartSnapshot
snapshot being written its ``Upload`` (as attributes, so state is per account and region and vanishes on reset);
the maps hold SHA-256 digests, the bytes live in the lab's ``BlockStore``. Pins keep a shared map's blocks while a
new object that shares it is being published; ``release_unreferenced`` frees what nothing live references.
Shared by the EC2 patches (``ebs_blocks``) and the EBS direct handlers (``ebs_direct``), which read and write it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from skyvault.lab.blockstore import current_store

VOLUME_ATTR = "_skyvault_blocks"
SNAPSHOT_ATTR = "_skyvault_snapshot_blocks"
UPLOAD_ATTR = "_skyvault_upload"

# Freeze (snapshot) and write (guest) must not interleave on one volume; a store write and the map entry that
# references it happen under it, and so does a sweep (it must never see a block stored but not yet referenced).
LOCK = threading.RLock()


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
    """``block index -> SHA-256 digest`` of its 512 KiB in the block store. ``checksums`` caches the logical
    SHA-256 per volume size: hashing a GiB takes about a second, and a map shared by a volume, its snapshots and
    their copies is hashed once. Any mutation clears it (only unshared maps are mutated)."""

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
                self._map[index] = current_store().put(data)
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


def shared_snapshot(account_id: str, region: str, snapshot_id: str) -> Any | None:
    """A snapshot of another account in ``region`` that is shared with ``account_id`` (or public)."""
    from moto.ec2.models import ec2_backends

    for owner, regions in list(ec2_backends.items()):
        if owner == account_id or region not in regions:
            continue
        snapshot = regions[region].snapshots.get(snapshot_id)
        if snapshot is not None and (
            account_id in snapshot.create_volume_permission_userids or "all" in snapshot.create_volume_permission_groups
        ):
            return snapshot
    return None


def restorable(snapshot: Any, account_id: str) -> bool:
    return bool(
        snapshot.owner_id == account_id
        or account_id in snapshot.create_volume_permission_userids
        or "all" in snapshot.create_volume_permission_groups
    )


def visible_snapshots(account_id: str, region: str) -> list[Any]:
    """What DescribeSnapshots shows an account in AWS: its own snapshots, and those shared with it or public."""
    from moto.ec2.models import ec2_backends

    own = [s for s in ec2_backend(account_id, region).snapshots.values() if restorable(s, account_id)]
    shared = [
        s
        for owner, regions in list(ec2_backends.items())
        if owner != account_id and region in regions
        for s in list(regions[region].snapshots.values())
        if s.owner_id == owner and restorable(s, account_id)
    ]
    return own + shared


def find_snapshot(account_id: str, region: str, snapshot_id: str) -> Any:
    snapshot = ec2_backend(account_id, region).snapshots.get(snapshot_id)
    if snapshot is None:
        raise not_found(f"The snapshot '{snapshot_id}' does not exist.")
    return snapshot


# -- freeing blocks -------------------------------------------------------------------------------------------
# Maps that a volume or snapshot being created will reference once moto has published it. LOCK is never held
# across a moto call (moto creates a region's backend under its own lock, and that creates AMI volumes and
# snapshots through these patches: holding LOCK there would deadlock), so a create pins its source's map instead.
_PINNED: list[BlockMap] = []


def pin(blocks: BlockMap) -> None:
    """Keep ``blocks`` from being swept until ``unpin``. Call it holding LOCK, with the check that its source lives."""
    with LOCK:
        _PINNED.append(blocks)


def unpin(blocks: BlockMap) -> None:
    with LOCK:  # one pin per call: two creates from one snapshot pin the same map twice
        for position, pinned in enumerate(_PINNED):
            if pinned is blocks:
                del _PINNED[position]
                return


def is_live(snapshot: Any) -> bool:
    """The snapshot is still in its backend (not deleted; a deleted one's blocks may be swept any moment)."""
    return snapshot.ec2_backend.snapshots.get(snapshot.id) is snapshot


def live_maps() -> Iterator[BlockMap]:
    """Every map a live volume, snapshot or upload holds, in every account and region moto has created."""
    from moto.ec2.models import ec2_backends

    yield from list(_PINNED)

    for regions in list(ec2_backends.values()):
        for backend in list(regions.values()):  # dict.values: only the regions that exist, none created here
            for volume in list(backend.volumes.values()):
                blocks: VolumeBlocks | None = getattr(volume, VOLUME_ATTR, None)
                if blocks is not None:
                    yield blocks.view()
            for snapshot in list(backend.snapshots.values()):
                frozen: FrozenBlocks | None = getattr(snapshot, SNAPSHOT_ATTR, None)
                upload: Upload | None = getattr(snapshot, UPLOAD_ATTR, None)
                if frozen is not None:
                    yield frozen.blocks
                if upload is not None:
                    yield upload.blocks


def release_unreferenced(candidates: set[bytes] | None = None) -> int:
    """Delete from the store every block no live volume, snapshot or upload references (only among
    ``candidates``, the blocks of what was just deleted, when given); returns how many were deleted."""
    if candidates is not None and not candidates:
        return 0  # an empty volume (moto makes and deletes one per AMI it loads): nothing to look for
    with LOCK:
        live: set[bytes] = set()
        seen: set[int] = set()
        for blocks in live_maps():
            if id(blocks) not in seen:  # maps are shared copy-on-write: read each once
                seen.add(id(blocks))
                live.update(blocks.values())
        store = current_store()
        if candidates is None:
            return store.sweep(live)
        return store.discard(candidates - live)


def held_blocks(owner: Any) -> set[bytes]:
    """The digests a volume, snapshot or upload references (the candidates to free once it is deleted)."""
    held: set[bytes] = set()
    for attr in (VOLUME_ATTR, SNAPSHOT_ATTR, UPLOAD_ATTR):
        state = getattr(owner, attr, None)
        if isinstance(state, VolumeBlocks):
            held.update(state.view().values())
        elif isinstance(state, FrozenBlocks | Upload):
            held.update(state.blocks.values())
    return held
