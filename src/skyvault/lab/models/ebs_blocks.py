"""Model: EBS volumes hold data; snapshots freeze it; the EBS direct APIs read and write it like AWS.

Real AWS:
- A volume is a sequence of 512 KiB blocks; blocks never written read as zeros. ``CreateSnapshot`` and
  ``CreateSnapshots`` (all volumes of an instance at one point in time) capture the volume's blocks; a volume
  created from a snapshot starts with exactly those blocks; ``CopySnapshot`` (across regions, or from a snapshot
  shared with the account) copies them.
- EBS direct APIs read *completed* snapshots: ``ListSnapshotBlocks`` (written blocks, with a block token each),
  ``ListChangedBlocks`` (blocks that differ between two snapshots of one lineage: a block only in the first has no
  ``SecondBlockToken``, a block only in the second has no ``FirstBlockToken``), ``GetSnapshotBlock`` (512 KiB plus
  its base64 SHA-256 in ``x-amz-Checksum``). Both lists page with ``MaxResults`` (100-10000), ``NextToken`` and
  ``StartingBlockIndex``; ``BlockSize`` is 524288, ``VolumeSize`` is in GiB.
- ``StartSnapshot`` (optionally on a ``ParentSnapshotId``), ``PutSnapshotBlock`` (checksum verified) and
  ``CompleteSnapshot`` (``ChangedBlocksCount``, optional aggregated LINEAR checksum) create a snapshot from raw
  blocks; it is ``pending`` until completed and then usable like any EC2 snapshot. Its ``VolumeId`` is
  ``vol-ffffffff``.

moto 5.2.1 keeps no data for EC2 volumes, reports BlockSize 512, has no pagination, and its EBS direct APIs only
see snapshots made by StartSnapshot. This model keeps a sparse map ``block index -> SHA-256 digest`` on each moto
``Volume`` and ``Snapshot`` object (so state is naturally per account and region and vanishes on reset), patches
``EC2Backend.create_volume/create_snapshot/copy_snapshot/get_snapshot/delete_volume/delete_snapshot`` and
replaces the EBS direct handlers (``ebs_direct.py``); the state both keep, and their errors, are in ``ebs_state.py``.

Memory: the block bytes live on disk in a content-addressed ``BlockStore`` (``skyvault.lab.blockstore``, in the
lab's folder), never in the heap: moto keeps every model object it ever made until a reset (its
``instances_tracked``), so bytes hung on volumes were never freed. Maps are shared copy-on-write: a snapshot
shares its volume's map until the volume is written again, and a volume created from a snapshot shares the
snapshot's map the same way. DeleteVolume, DeleteSnapshot (TerminateInstances deletes through DeleteVolume) and a
reset sweep the store: every block no live volume, snapshot or upload references is deleted.

Lab choices (documented in docs/lab.md): a guest write of zeros, or a PutSnapshotBlock of zeros, leaves the block
absent (like a discard); ``Timeout`` and encryption keys are recorded but not enforced; block tokens stay valid
for the life of the lab.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from skyvault.lab.blockdata import BLOCK_SIZE, BLOCKS_PER_GIB, choose_indices, guest_block, sha256_hex
from skyvault.lab.blockstore import current_store
from skyvault.lab.models.ebs_state import (
    LOCK,
    SNAPSHOT_ATTR,
    VOLUME_ATTR,
    BlockMap,
    BlockModelError,
    FrozenBlocks,
    VolumeBlocks,
    ec2_backend,
    held_blocks,
    is_live,
    pin,
    release_unreferenced,
    restorable,
    shared_snapshot,
    snapshot_blocks,
    unpin,
    visible_snapshots,
    volume_blocks,
)

_MARK = "_skyvault_ebs_model"
_ZERO_CHUNK = bytes(BLOCK_SIZE * 16)


# -- EC2 backend patches ----------------------------------------------------------------------------------
def _usable(snapshot: Any) -> FrozenBlocks:
    """A snapshot's blocks for CreateVolume/CopySnapshot; a pending or failed one is refused as in EC2."""
    from moto.ec2.exceptions import EC2ClientError

    try:
        return snapshot_blocks(snapshot)
    except BlockModelError:
        raise EC2ClientError("IncorrectState", f"Snapshot is in invalid state - {snapshot.status}") from None


def _patch_ec2() -> None:
    from moto.ec2.exceptions import InvalidSnapshotIdError
    from moto.ec2.models import EC2Backend

    original_create_volume: Callable[..., Any] = EC2Backend.create_volume
    original_create_snapshot: Callable[..., Any] = EC2Backend.create_snapshot
    original_copy_snapshot: Callable[..., Any] = EC2Backend.copy_snapshot
    original_get_snapshot: Callable[..., Any] = EC2Backend.get_snapshot
    original_share: Callable[..., Any] = EC2Backend.add_create_volume_permission
    original_delete_volume: Callable[..., Any] = EC2Backend.delete_volume
    original_delete_snapshot: Callable[..., Any] = EC2Backend.delete_snapshot

    def delete_volume(self: Any, volume_id: str) -> Any:
        volume = original_delete_volume(self, volume_id)
        release_unreferenced(held_blocks(volume))
        return volume

    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        snapshot = original_delete_snapshot(self, snapshot_id)
        release_unreferenced(held_blocks(snapshot))
        return snapshot

    def pinned_source(snapshot: Any) -> FrozenBlocks:
        """A live, completed snapshot's blocks, pinned (the caller unpins once its new object is published)."""
        with LOCK:
            if not is_live(snapshot):
                raise InvalidSnapshotIdError()
            frozen = _usable(snapshot)
            pin(frozen.blocks)
            return frozen

    def add_create_volume_permission(self: Any, snapshot_id: str, user_ids: list[str], groups: list[str]) -> None:
        # AWS refuses to share a snapshot encrypted with the AWS managed key (aws/ebs): copy it with a customer
        # managed key first. moto shares anything.
        from moto.ec2.exceptions import InvalidParameter

        snapshot = self.get_snapshot(snapshot_id)
        key = snapshot.kms_key_id
        managed = key is None or key == self.default_kms_key_id or str(key).endswith("alias/aws/ebs")
        if snapshot.encrypted and managed and (user_ids or groups):
            raise InvalidParameter(
                "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot."
            )
        original_share(self, snapshot_id, user_ids, groups)

    def get_snapshot(self: Any, snapshot_id: str) -> Any:
        # AWS lets an account create volumes from snapshots other accounts shared with it.
        try:
            return original_get_snapshot(self, snapshot_id)
        except InvalidSnapshotIdError:
            shared = shared_snapshot(self.account_id, self.region_name, snapshot_id)
            if shared is None:
                raise
            return shared

    # A create pins the map it will share from reading it until its new object is published: a sweep in between
    # (a concurrent delete of the source) must not free blocks that only the new object will reference.
    def create_volume(self: Any, size: int | None, zone_name: str, snapshot_id: str | None = None, **kw: Any) -> Any:
        frozen = pinned_source(self.get_snapshot(snapshot_id)) if snapshot_id else None
        try:
            volume = original_create_volume(self, size, zone_name, snapshot_id, **kw)
            if frozen is not None:
                setattr(volume, VOLUME_ATTR, VolumeBlocks(frozen.blocks, lineage=frozen.lineage))
            else:
                setattr(volume, VOLUME_ATTR, VolumeBlocks(None, lineage=str(volume.id)))
        finally:
            if frozen is not None:
                unpin(frozen.blocks)
        return volume

    def create_snapshot(self: Any, volume_id: str, description: str, *args: Any, **kw: Any) -> Any:
        volume = self.get_volume(volume_id)
        with LOCK:
            frozen = volume_blocks(volume).freeze(int(volume.size))
            pin(frozen.blocks)
        try:
            snapshot = original_create_snapshot(self, volume_id, description, *args, **kw)
            setattr(snapshot, SNAPSHOT_ATTR, frozen)
        finally:
            unpin(frozen.blocks)
        return snapshot

    def copy_snapshot(
        self: Any, source_snapshot_id: str, source_region: str, description: str, kms_key_id: str | None
    ) -> Any:
        source = ec2_backend(self.account_id, source_region).snapshots.get(source_snapshot_id)
        if source is None:
            source = shared_snapshot(self.account_id, source_region, source_snapshot_id)
        if source is None:
            raise InvalidSnapshotIdError()
        frozen = pinned_source(source)
        try:
            return _copy(self, source, frozen, source_region, description, kms_key_id)
        finally:
            unpin(frozen.blocks)

    def _copy(
        self: Any, source: Any, frozen: FrozenBlocks, source_region: str, description: str, kms_key_id: str | None
    ) -> Any:
        source_snapshot_id = source.id
        if source.ec2_backend is ec2_backend(self.account_id, source_region):
            snapshot = original_copy_snapshot(self, source_snapshot_id, source_region, description, kms_key_id)
        else:
            from moto.ec2.models.elastic_block_store import Snapshot
            from moto.ec2.utils import random_snapshot_id

            snapshot = Snapshot(
                self,
                random_snapshot_id(),
                volume=source.volume,
                description=description,
                encrypted=source.encrypted,
                kms_key_id=kms_key_id,
            )
            self.snapshots[snapshot.id] = snapshot
        # A copy is a new lineage in AWS: ListChangedBlocks between a source and its copy is refused.
        setattr(snapshot, SNAPSHOT_ATTR, FrozenBlocks(frozen.blocks, frozen.volume_size_gib, lineage=snapshot.id))
        return snapshot

    def describe_snapshots(
        self: Any,
        snapshot_ids: list[str] | None = None,
        filters: Any = None,
        owner_ids: list[str] | None = None,
        restorable_by: list[str] | None = None,
    ) -> list[Any]:
        from moto.ec2.utils import generic_filter

        matches = visible_snapshots(self.account_id, self.region_name)
        if snapshot_ids:
            matches = [s for s in matches if s.id in snapshot_ids]
            if len({s.id for s in matches}) < len(set(snapshot_ids)):
                raise InvalidSnapshotIdError()
        if owner_ids:
            owners = {self.account_id if o == "self" else o for o in owner_ids}
            matches = [s for s in matches if s.owner_id in owners]
        if restorable_by:
            matches = [s for s in matches if any(restorable(s, who) for who in restorable_by)]
        return list(generic_filter(filters, matches)) if filters else matches

    for name, function in (
        ("describe_snapshots", describe_snapshots),
        ("get_snapshot", get_snapshot),
        ("create_volume", create_volume),
        ("create_snapshot", create_snapshot),
        ("copy_snapshot", copy_snapshot),
        ("add_create_volume_permission", add_create_volume_permission),
        ("delete_volume", delete_volume),
        ("delete_snapshot", delete_snapshot),
    ):
        setattr(EC2Backend, name, function)


def _patch_describe_snapshots_response() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    def describe_snapshots(self: Any) -> Any:
        snapshots = self.ec2_backend.describe_snapshots(
            snapshot_ids=self._get_param("SnapshotIds", []),
            filters=self._filters_from_querystring(),
            owner_ids=self._get_param("OwnerIds", []),
            restorable_by=self._get_param("RestorableByUserIds", []),
        )
        return ActionResult({"Snapshots": snapshots})

    setattr(ElasticBlockStore, "describe_snapshots", describe_snapshots)  # noqa: B010


# -- lab control operations -------------------------------------------------------------------------------
def write_guest_blocks(
    *,
    account_id: str,
    region: str,
    volume_id: str,
    count: int,
    seed: int,
    indices: list[int] | None = None,
    compressible: float = 0.0,
    zero: bool = False,
) -> dict[str, Any]:
    """A guest writing ``count`` blocks (deterministic by seed) to a volume; returns indexes and SHA-256s."""
    volume = ec2_backend(account_id, region).volumes.get(volume_id)
    if volume is None:
        raise BlockModelError(404, "ResourceNotFound", f"volume {volume_id} not found in {account_id}/{region}")
    total = int(volume.size) * BLOCKS_PER_GIB
    if indices is None:
        try:
            indices = choose_indices(seed, count, total)
        except ValueError as exc:
            raise BlockModelError(400, "ValidationError", str(exc)) from None
    elif any(i >= total for i in indices):
        raise BlockModelError(400, "ValidationError", f"block index beyond the {volume.size} GiB volume")
    blocks = volume_blocks(volume)
    digests: dict[str, str] = {}
    for index in indices:
        data = bytes(BLOCK_SIZE) if zero else guest_block(seed, index, compressible)
        blocks.write(index, data)
        digests[str(index)] = sha256_hex(data)
    return {"volume_id": volume_id, "indices": list(indices), "sha256": digests, "volume_size_gib": int(volume.size)}


def logical_checksum(*, account_id: str, region: str, resource_id: str) -> dict[str, Any]:
    """SHA-256 over every block of the volume size (zeros where absent), for a volume or a completed snapshot."""
    ec2 = ec2_backend(account_id, region)
    blocks: BlockMap
    if resource_id.startswith("vol-"):
        volume = ec2.volumes.get(resource_id)
        if volume is None:
            raise BlockModelError(404, "ResourceNotFound", f"volume {resource_id} not found in {account_id}/{region}")
        # Freezing hands out a map no later write can touch (the next write copies it): safe to hash unlocked.
        frozen_now = volume_blocks(volume).freeze(int(volume.size))
        blocks, size_gib = frozen_now.blocks, frozen_now.volume_size_gib
    elif resource_id.startswith("snap-"):
        snapshot = ec2.snapshots.get(resource_id)
        if snapshot is None:
            raise BlockModelError(404, "ResourceNotFound", f"snapshot {resource_id} not found in {account_id}/{region}")
        try:
            frozen = snapshot_blocks(snapshot)
        except BlockModelError as exc:
            raise BlockModelError(409, "Conflict", str(exc)) from None
        blocks, size_gib = frozen.blocks, frozen.volume_size_gib
    else:
        raise BlockModelError(400, "ValidationError", f"not a volume or snapshot ID: {resource_id}")
    total = size_gib * BLOCKS_PER_GIB
    present = sorted(i for i in blocks if i < total)
    result = {"id": resource_id, "size_bytes": total * BLOCK_SIZE, "blocks_present": len(present)}
    if size_gib in blocks.checksums:
        return {**result, "sha256": blocks.checksums[size_gib]}
    digest = hashlib.sha256()

    def zeros(run: int) -> None:
        # Runs of absent blocks are hashed from one shared 8 MiB zero buffer: no allocation per block.
        while run:
            step = min(run, len(_ZERO_CHUNK) // BLOCK_SIZE)
            digest.update(memoryview(_ZERO_CHUNK)[: step * BLOCK_SIZE])
            run -= step

    position = 0
    for index in present:
        zeros(index - position)
        try:
            digest.update(current_store().get(blocks[index]))
        except KeyError:  # swept: the volume or snapshot was deleted while it was being hashed
            raise BlockModelError(404, "ResourceNotFound", f"{resource_id} was deleted") from None
        position = index + 1
    zeros(total - position)
    blocks.checksums[size_gib] = digest.hexdigest()
    return {**result, "sha256": blocks.checksums[size_gib]}


def apply() -> None:
    from moto.ec2.models import EC2Backend

    from skyvault.lab.models import ebs_direct

    if getattr(EC2Backend, _MARK, False):
        return
    _patch_ec2()
    _patch_describe_snapshots_response()
    ebs_direct.patch()
    setattr(EC2Backend, _MARK, True)


def reset() -> None:
    from skyvault.lab.models import ebs_direct

    ebs_direct.reset()
    release_unreferenced()  # moto's reset dropped every volume and snapshot: their blocks go too
