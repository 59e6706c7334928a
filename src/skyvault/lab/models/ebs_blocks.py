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
see snapshots made by StartSnapshot. This model keeps a sparse map ``block index -> bytes`` on each moto
``Volume`` and ``Snapshot`` object (so state is naturally per account and region and vanishes on reset), patches
``EC2Backend.create_volume/create_snapshot/copy_snapshot/get_snapshot`` and replaces the EBS direct handlers.

Memory: block bytes are immutable and shared; a snapshot shares its volume's map until the volume is written
again (copy-on-write), and a volume created from a snapshot shares the snapshot's map the same way.

Lab choices (documented in docs/lab.md): a guest write of zeros, or a PutSnapshotBlock of zeros, leaves the block
absent (like a discard); ``Timeout`` and encryption keys are recorded but not enforced; block tokens stay valid
for the life of the lab.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from skyvault.lab.blockdata import BLOCK_SIZE, BLOCKS_PER_GIB, choose_indices, guest_block, sha256_hex

_MARK = "_skyvault_ebs_model"
_VOLUME_ATTR = "_skyvault_blocks"
_SNAPSHOT_ATTR = "_skyvault_snapshot_blocks"
_UPLOAD_ATTR = "_skyvault_upload"
PLACEHOLDER_VOLUME_ID = "vol-ffffffff"
DEFAULT_MAX_RESULTS = 10000
TOKEN_LIFETIME_S = 3600

_lock = threading.RLock()  # freeze (snapshot) and write (guest) must not interleave on one volume
_token_key = secrets.token_bytes(32)
_client_tokens: dict[tuple[str, str, str], str] = {}  # (account, region, ClientToken) -> snapshot id
_ZERO_CHUNK = bytes(BLOCK_SIZE * 16)


@dataclass
class Quirks:
    """Opt-in AWS behaviours that drivers must survive (off by default; ``reset`` turns them off).

    ``empty_first_page``: the first page of ListSnapshotBlocks/ListChangedBlocks is empty with a NextToken (AWS
    documents that pages can be empty). ``throttle_every``: every Nth EBS direct request answers
    ``RequestThrottledException`` (AWS throttles GetSnapshotBlock per snapshot and the List calls per account).
    """

    empty_first_page: bool = False
    throttle_every: int = 0
    _requests: int = 0


quirks = Quirks()


class BlockModelError(Exception):
    """An AWS-shaped error from the model: HTTP status, error type, ``Reason`` (EBS direct) and message."""

    def __init__(self, status: int, kind: str, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.reason = reason


def _not_found(message: str) -> BlockModelError:
    return BlockModelError(404, "ResourceNotFoundException", message, "SNAPSHOT_NOT_FOUND")


def _invalid(message: str, reason: str = "INVALID_PARAMETER_VALUE") -> BlockModelError:
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
        with _lock:
            self._shared = True
            return FrozenBlocks(self._map, volume_size_gib, self.lineage)

    def write(self, index: int, data: bytes) -> None:
        with _lock:
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
    blocks: VolumeBlocks | None = getattr(volume, _VOLUME_ATTR, None)
    if blocks is None:
        # A volume made by a path the model does not patch starts empty, in its own lineage.
        blocks = VolumeBlocks(None, lineage=str(volume.id))
        setattr(volume, _VOLUME_ATTR, blocks)
    return blocks


def snapshot_blocks(snapshot: Any) -> FrozenBlocks:
    if getattr(snapshot, _UPLOAD_ATTR, None) is not None or snapshot.status != "completed":
        raise _invalid(f"snapshot {snapshot.id} is not completed (status {snapshot.status})", "INVALID_SNAPSHOT_ID")
    frozen: FrozenBlocks | None = getattr(snapshot, _SNAPSHOT_ATTR, None)
    if frozen is None:
        frozen = FrozenBlocks(BlockMap(), int(snapshot.volume.size), lineage=str(snapshot.id))
        setattr(snapshot, _SNAPSHOT_ATTR, frozen)
    return frozen


# -- moto lookups ---------------------------------------------------------------------------------------------
def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _shared_snapshot(account_id: str, region: str, snapshot_id: str) -> Any | None:
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


def _restorable(snapshot: Any, account_id: str) -> bool:
    return bool(
        snapshot.owner_id == account_id
        or account_id in snapshot.create_volume_permission_userids
        or "all" in snapshot.create_volume_permission_groups
    )


def visible_snapshots(account_id: str, region: str) -> list[Any]:
    """What DescribeSnapshots shows an account in AWS: its own snapshots, and those shared with it or public."""
    from moto.ec2.models import ec2_backends

    own = [s for s in _ec2(account_id, region).snapshots.values() if _restorable(s, account_id)]
    shared = [
        s
        for owner, regions in list(ec2_backends.items())
        if owner != account_id and region in regions
        for s in list(regions[region].snapshots.values())
        if s.owner_id == owner and _restorable(s, account_id)
    ]
    return own + shared


def _find_snapshot(account_id: str, region: str, snapshot_id: str) -> Any:
    snapshot = _ec2(account_id, region).snapshots.get(snapshot_id)
    if snapshot is None:
        raise _not_found(f"The snapshot '{snapshot_id}' does not exist.")
    return snapshot


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
            shared = _shared_snapshot(self.account_id, self.region_name, snapshot_id)
            if shared is None:
                raise
            return shared

    def create_volume(self: Any, size: int | None, zone_name: str, snapshot_id: str | None = None, **kw: Any) -> Any:
        frozen = _usable(self.get_snapshot(snapshot_id)) if snapshot_id else None
        volume = original_create_volume(self, size, zone_name, snapshot_id, **kw)
        if frozen is not None:
            setattr(volume, _VOLUME_ATTR, VolumeBlocks(frozen.blocks, lineage=frozen.lineage))
        else:
            setattr(volume, _VOLUME_ATTR, VolumeBlocks(None, lineage=str(volume.id)))
        return volume

    def create_snapshot(self: Any, volume_id: str, description: str, *args: Any, **kw: Any) -> Any:
        snapshot = original_create_snapshot(self, volume_id, description, *args, **kw)
        volume = self.get_volume(volume_id)
        setattr(snapshot, _SNAPSHOT_ATTR, volume_blocks(volume).freeze(int(volume.size)))
        return snapshot

    def copy_snapshot(
        self: Any, source_snapshot_id: str, source_region: str, description: str, kms_key_id: str | None
    ) -> Any:
        source = _ec2(self.account_id, source_region).snapshots.get(source_snapshot_id)
        if source is None:
            source = _shared_snapshot(self.account_id, source_region, source_snapshot_id)
        if source is None:
            raise InvalidSnapshotIdError()
        if source.ec2_backend is _ec2(self.account_id, source_region):
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
        frozen = _usable(source)
        # A copy is a new lineage in AWS: ListChangedBlocks between a source and its copy is refused.
        setattr(snapshot, _SNAPSHOT_ATTR, FrozenBlocks(frozen.blocks, frozen.volume_size_gib, lineage=snapshot.id))
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
            matches = [s for s in matches if any(_restorable(s, who) for who in restorable_by)]
        return list(generic_filter(filters, matches)) if filters else matches

    for name, function in (
        ("describe_snapshots", describe_snapshots),
        ("get_snapshot", get_snapshot),
        ("create_volume", create_volume),
        ("create_snapshot", create_snapshot),
        ("copy_snapshot", copy_snapshot),
        ("add_create_volume_permission", add_create_volume_permission),
    ):
        setattr(EC2Backend, name, function)


# -- EBS direct handlers ----------------------------------------------------------------------------------
def _query(response: Any) -> dict[str, str]:
    raw = response.parsed_url.query or ""
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _path_parts(response: Any) -> list[str]:
    return [p for p in str(response.parsed_url.path).split("/") if p]


def _header(response: Any, name: str) -> str | None:
    lowered = name.lower()
    for key, value in response.headers.items():
        if key.lower() == lowered:
            return str(value)
    return None


def _block_token(snapshot_id: str, index: int) -> str:
    digest = hmac.new(_token_key, f"{snapshot_id}:{index}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest[:30]).decode("ascii")


def _max_results(query: dict[str, str]) -> int:
    raw = query.get("maxResults")
    if raw is None:
        return DEFAULT_MAX_RESULTS
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(f"maxResults must be an integer: {raw!r}") from None
    if not 100 <= value <= 10000:
        raise _invalid(f"maxResults must be between 100 and 10000, got {value}")
    return value


def _start_index(query: dict[str, str], snapshot_id: str) -> int:
    token = query.get("pageToken")
    if token:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
            if data["s"] != snapshot_id:
                raise ValueError("token belongs to another snapshot")
            return int(data["i"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _invalid("The pagination token is invalid.", "INVALID_PAGE_TOKEN") from None
    raw = query.get("startingBlockIndex")
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        raise _invalid(f"startingBlockIndex must be an integer: {raw!r}") from None


def _page_token(snapshot_id: str, next_index: int) -> str:
    raw = json.dumps({"s": snapshot_id, "i": next_index}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _page(indices: list[int], start: int, limit: int) -> tuple[list[int], int | None]:
    import bisect

    first = bisect.bisect_left(indices, start)
    page = indices[first : first + limit]
    has_more = first + limit < len(indices)
    return page, (page[-1] + 1 if has_more and page else None)


def _json(status: int, data: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    return status, {"Content-Type": "application/json", "status": status}, json.dumps(data)


def _error(exc: BlockModelError) -> tuple[int, dict[str, Any], str]:
    body: dict[str, Any] = {"message": str(exc)}
    if exc.reason:
        body["Reason"] = exc.reason
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": exc.kind, "status": exc.status}
    return exc.status, headers, json.dumps(body)


def _maybe_throttle() -> None:
    if quirks.throttle_every <= 0:
        return
    with _lock:
        quirks._requests += 1
        due = quirks._requests % quirks.throttle_every == 0
    if due:
        raise BlockModelError(
            400, "RequestThrottledException", "Rate exceeded (lab quirk throttle_every).", "RESOURCE_LEVEL_THROTTLE"
        )


def set_quirks(*, empty_first_page: bool | None = None, throttle_every: int | None = None) -> dict[str, Any]:
    if empty_first_page is not None:
        quirks.empty_first_page = empty_first_page
    if throttle_every is not None:
        if throttle_every < 0:
            raise BlockModelError(400, "ValidationError", "throttle_every must be >= 0")
        quirks.throttle_every = throttle_every
        quirks._requests = 0
    return {"empty_first_page": quirks.empty_first_page, "throttle_every": quirks.throttle_every}


def _empty_first_page(query: dict[str, str], snapshot_id: str, start: int) -> str | None:
    """With the quirk on, a listing's first request gets an empty page whose token resumes at ``start``."""
    if quirks.empty_first_page and not query.get("pageToken"):
        return _page_token(snapshot_id, start)
    return None


def _handler(function: Callable[[Any], tuple[int, dict[str, Any], Any]]) -> Callable[[Any], Any]:
    def handle(self: Any) -> Any:
        try:
            _maybe_throttle()
            return function(self)
        except BlockModelError as exc:
            return _error(exc)

    setattr(handle, _MARK, True)
    return handle


def _list_snapshot_blocks(response: Any) -> tuple[int, dict[str, Any], str]:
    snapshot_id = _path_parts(response)[1]
    snapshot = _find_snapshot(response.current_account, response.region, snapshot_id)
    frozen = snapshot_blocks(snapshot)
    query = _query(response)
    start = _start_index(query, snapshot_id)
    page, next_index = _page(frozen.sorted_indices(), start, _max_results(query))
    data: dict[str, Any] = {
        "Blocks": [{"BlockIndex": i, "BlockToken": _block_token(snapshot_id, i)} for i in page],
        "ExpiryTime": time.time() + TOKEN_LIFETIME_S,
        "VolumeSize": frozen.volume_size_gib,
        "BlockSize": BLOCK_SIZE,
    }
    if next_index is not None:
        data["NextToken"] = _page_token(snapshot_id, next_index)
    if (resume := _empty_first_page(query, snapshot_id, start)) is not None:
        data["Blocks"], data["NextToken"] = [], resume
    return _json(200, data)


def _list_changed_blocks(response: Any) -> tuple[int, dict[str, Any], str]:
    second_id = _path_parts(response)[1]
    query = _query(response)
    second = snapshot_blocks(_find_snapshot(response.current_account, response.region, second_id))
    first_id = query.get("firstSnapshotId") or None
    if first_id:
        first = snapshot_blocks(_find_snapshot(response.current_account, response.region, first_id))
        if first.lineage != second.lineage:
            raise _invalid(f"{first_id} and {second_id} are not snapshots of one lineage.", "UNRELATED_SNAPSHOTS")
        if first.volume_size_gib > second.volume_size_gib:
            raise _invalid("The first snapshot is larger than the second.", "INVALID_VOLUME_SIZE")
        changed = sorted(
            i
            for i in set(first.blocks) | set(second.blocks)
            if first.blocks.get(i) is not second.blocks.get(i) and first.blocks.get(i) != second.blocks.get(i)
        )
    else:
        first = FrozenBlocks(BlockMap(), 0, second.lineage)
        changed = second.sorted_indices()
    start = _start_index(query, second_id)
    page, next_index = _page(changed, start, _max_results(query))
    if (resume := _empty_first_page(query, second_id, start)) is not None:
        page, next_index = [], None
    blocks = []
    for index in page:
        entry: dict[str, Any] = {"BlockIndex": index}
        if first_id and index in first.blocks:
            entry["FirstBlockToken"] = _block_token(first_id, index)
        if index in second.blocks:
            entry["SecondBlockToken"] = _block_token(second_id, index)
        blocks.append(entry)
    data: dict[str, Any] = {
        "ChangedBlocks": blocks,
        "ExpiryTime": time.time() + TOKEN_LIFETIME_S,
        "VolumeSize": second.volume_size_gib,
        "BlockSize": BLOCK_SIZE,
    }
    if next_index is not None:
        data["NextToken"] = _page_token(second_id, next_index)
    if resume is not None:
        data["NextToken"] = resume
    return _json(200, data)


def _checksum_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _get_snapshot_block(response: Any) -> tuple[int, dict[str, Any], bytes]:
    parts = _path_parts(response)
    snapshot_id, raw_index = parts[1], parts[3]
    frozen = snapshot_blocks(_find_snapshot(response.current_account, response.region, snapshot_id))
    try:
        index = int(raw_index)
    except ValueError:
        raise _invalid(f"The block index {raw_index!r} is not a number.", "INVALID_BLOCK") from None
    token = _query(response).get("blockToken", "")
    if not hmac.compare_digest(token, _block_token(snapshot_id, index)):
        raise _invalid("The block token is not valid for this snapshot and block index.", "INVALID_BLOCK_TOKEN")
    data = frozen.blocks.get(index)
    if data is None:
        raise _invalid(f"Block {index} does not exist in {snapshot_id}.", "INVALID_BLOCK")
    headers = {
        "x-amz-Checksum": _checksum_b64(data),
        "x-amz-Checksum-Algorithm": "SHA256",
        "x-amz-Data-Length": str(len(data)),
        "Content-Type": "application/octet-stream",
        "status": 200,
    }
    return 200, headers, data


def _start_snapshot(response: Any) -> tuple[int, dict[str, Any], str]:
    try:
        params = json.loads(response.body or b"{}")
    except ValueError:
        raise _invalid("The request body is not JSON.") from None
    account, region = response.current_account, response.region
    client_token = params.get("ClientToken")
    if client_token and (account, region, client_token) in _client_tokens:
        existing = _ec2(account, region).snapshots.get(_client_tokens[(account, region, client_token)])
        if existing is not None:
            return _json(201, _describe_started(existing, params))
    size = params.get("VolumeSize")
    if not isinstance(size, int) or not 1 <= size <= 65536:
        raise _invalid(f"VolumeSize must be 1-65536 GiB, got {size!r}", "INVALID_VOLUME_SIZE")
    timeout = params.get("Timeout")
    if timeout is not None and (not isinstance(timeout, int) or not 10 <= timeout <= 4320):
        raise _invalid("Timeout must be between 10 and 4320 minutes.")
    parent_id = params.get("ParentSnapshotId")
    base = BlockMap()
    lineage = f"lineage-{uuid.uuid4().hex}"
    if parent_id:
        parent = snapshot_blocks(_find_snapshot(account, region, parent_id))
        if size < parent.volume_size_gib:
            raise _invalid("VolumeSize is smaller than the parent snapshot's.", "INVALID_VOLUME_SIZE")
        base, lineage = BlockMap(parent.blocks), parent.lineage
    ec2 = _ec2(account, region)
    volume = ec2.create_volume(size=size, zone_name=f"{region}a")
    snapshot = ec2.create_snapshot(volume.id, params.get("Description") or "")
    ec2.volumes.pop(volume.id, None)  # AWS creates no volume for StartSnapshot
    volume.id = PLACEHOLDER_VOLUME_ID
    snapshot.status = "pending"
    if params.get("Encrypted") or params.get("KmsKeyArn"):
        snapshot.encrypted = True
        snapshot.kms_key_id = params.get("KmsKeyArn") or ec2.default_kms_key_id
    for tag in params.get("Tags") or []:
        snapshot.add_tag(tag["Key"], tag["Value"])
    setattr(snapshot, _SNAPSHOT_ATTR, None)
    setattr(snapshot, _UPLOAD_ATTR, Upload(base, size, lineage, parent_id))
    if client_token:
        _client_tokens[(account, region, client_token)] = snapshot.id
    return _json(201, _describe_started(snapshot, params))


def _describe_started(snapshot: Any, params: dict[str, Any]) -> dict[str, Any]:
    upload: Upload | None = getattr(snapshot, _UPLOAD_ATTR, None)
    data: dict[str, Any] = {
        "SnapshotId": snapshot.id,
        "OwnerId": snapshot.owner_id,
        "Status": snapshot.status,
        "StartTime": calendar.timegm(snapshot.start_time.utctimetuple()),  # moto keeps naive UTC datetimes
        "VolumeSize": upload.volume_size_gib if upload else int(snapshot.volume.size),
        "BlockSize": BLOCK_SIZE,
        "Tags": [{"Key": t["key"], "Value": t["value"]} for t in snapshot.get_tags()],
        "Description": snapshot.description,
        "SseType": "sse-ebs" if snapshot.encrypted else "none",
    }
    if upload and upload.parent_snapshot_id:
        data["ParentSnapshotId"] = upload.parent_snapshot_id
    if snapshot.kms_key_id:
        data["KmsKeyArn"] = snapshot.kms_key_id
    return data


def _pending_upload(response: Any, snapshot_id: str) -> tuple[Any, Upload]:
    snapshot = _find_snapshot(response.current_account, response.region, snapshot_id)
    upload: Upload | None = getattr(snapshot, _UPLOAD_ATTR, None)
    if upload is None:
        message = f"{snapshot_id} is not a snapshot in progress (status {snapshot.status})."
        raise _invalid(message, "INVALID_SNAPSHOT_ID")
    return snapshot, upload


def _put_snapshot_block(response: Any) -> tuple[int, dict[str, Any], str]:
    parts = _path_parts(response)
    snapshot_id, raw_index = parts[1], parts[3]
    _, upload = _pending_upload(response, snapshot_id)
    try:
        index = int(raw_index)
    except ValueError:
        raise _invalid(f"The block index {raw_index!r} is not a number.", "INVALID_BLOCK") from None
    if not 0 <= index < upload.volume_size_gib * BLOCKS_PER_GIB:
        raise _invalid(f"Block index {index} is outside the {upload.volume_size_gib} GiB volume.", "INVALID_BLOCK")
    data = bytes(response.body or b"")
    length = _header(response, "x-amz-Data-Length")
    if length is None or int(length) != BLOCK_SIZE or len(data) != BLOCK_SIZE:
        raise _invalid(f"DataLength must be {BLOCK_SIZE} and match the body ({len(data)} bytes).", "INVALID_BLOCK")
    algorithm = _header(response, "x-amz-Checksum-Algorithm")
    checksum = _header(response, "x-amz-Checksum")
    if algorithm != "SHA256" or not checksum:
        raise _invalid("Checksum and ChecksumAlgorithm SHA256 are required.")
    digest = hashlib.sha256(data).digest()
    if not hmac.compare_digest(checksum.encode("ascii"), base64.b64encode(digest)):
        raise _invalid("The checksum does not match the block data.", "INVALID_BLOCK")
    with _lock:
        if data.count(0) == len(data):
            upload.blocks.pop(index, None)
        else:
            upload.blocks[index] = data
        upload.blocks.checksums.clear()
        upload.written.add(index)
        upload.checksums[index] = digest
    headers = {"x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256", "status": 201}
    return 201, {**headers, "Content-Type": "application/json"}, "{}"


def _complete_snapshot(response: Any) -> tuple[int, dict[str, Any], str]:
    snapshot_id = _path_parts(response)[2]
    snapshot, upload = _pending_upload(response, snapshot_id)
    raw_count = _header(response, "x-amz-ChangedBlocksCount")
    if raw_count is None or not raw_count.isdigit():
        raise _invalid("ChangedBlocksCount is required.")
    status = "completed"
    if int(raw_count) != len(upload.written):
        status = "error"  # AWS fails the snapshot when blocks went missing
    checksum = _header(response, "x-amz-Checksum")
    if checksum and status == "completed":
        method = _header(response, "x-amz-Checksum-Aggregation-Method")
        if method != "LINEAR" or _header(response, "x-amz-Checksum-Algorithm") != "SHA256":
            raise _invalid("An aggregated checksum needs ChecksumAlgorithm SHA256 and aggregation method LINEAR.")
        joined = b"".join(upload.checksums[i] for i in sorted(upload.checksums))
        if base64.b64encode(hashlib.sha256(joined).digest()).decode("ascii") != checksum:
            status = "error"
    with _lock:
        setattr(snapshot, _UPLOAD_ATTR, None)
        setattr(snapshot, _SNAPSHOT_ATTR, FrozenBlocks(upload.blocks, upload.volume_size_gib, upload.lineage))
        snapshot.status = status
    return _json(202, {"Status": status})


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


def _patch_ebs_direct() -> None:
    from moto.ebs.responses import EBSResponse

    for name, function in (
        ("list_snapshot_blocks", _list_snapshot_blocks),
        ("list_changed_blocks", _list_changed_blocks),
        ("get_snapshot_block", _get_snapshot_block),
        ("start_snapshot", _start_snapshot),
        ("put_snapshot_block", _put_snapshot_block),
        ("complete_snapshot", _complete_snapshot),
    ):
        setattr(EBSResponse, name, _handler(function))


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
    volume = _ec2(account_id, region).volumes.get(volume_id)
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
    ec2 = _ec2(account_id, region)
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
        digest.update(blocks[index])
        position = index + 1
    zeros(total - position)
    blocks.checksums[size_gib] = digest.hexdigest()
    return {**result, "sha256": blocks.checksums[size_gib]}


def apply() -> None:
    from moto.ec2.models import EC2Backend

    if getattr(EC2Backend, _MARK, False):
        return
    _patch_ec2()
    _patch_describe_snapshots_response()
    _patch_ebs_direct()
    setattr(EC2Backend, _MARK, True)


def reset() -> None:
    _client_tokens.clear()
    set_quirks(empty_first_page=False, throttle_every=0)
