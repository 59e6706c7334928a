"""EBS direct APIs over the lab's block maps (applied by ``ebs_blocks``; state in ``ebs_state``).

``ListSnapshotBlocks`` / ``ListChangedBlocks`` (block tokens, ``MaxResults`` 100-10000, ``NextToken``,
``StartingBlockIndex``, ``BlockSize`` 524288), ``GetSnapshotBlock`` (data, base64 SHA-256 checksum, data length),
and ``StartSnapshot`` / ``PutSnapshotBlock`` / ``CompleteSnapshot`` (checksums verified, ``ChangedBlocksCount``,
aggregated LINEAR checksum, parent snapshots). Errors carry AWS's codes and ``Reason`` values. See ebs_blocks for
what AWS does and where the lab differs; opt-in quirks (empty first pages, throttling) live here.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import calendar
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from skyvault.lab.blockdata import BLOCK_SIZE, BLOCKS_PER_GIB
from skyvault.lab.blockstore import current_store
from skyvault.lab.models.ebs_state import (
    LOCK,
    SNAPSHOT_ATTR,
    UPLOAD_ATTR,
    BlockMap,
    BlockModelError,
    FrozenBlocks,
    Upload,
    ec2_backend,
    find_snapshot,
    invalid,
    is_live,
    not_found,
    pin,
    snapshot_blocks,
    unpin,
)

PLACEHOLDER_VOLUME_ID = "vol-ffffffff"
DEFAULT_MAX_RESULTS = 10000
TOKEN_LIFETIME_S = 3600

_MARK = "_skyvault_ebs_direct_handler"
_token_key = secrets.token_bytes(32)
_client_tokens: dict[tuple[str, str, str], str] = {}  # (account, region, ClientToken) -> snapshot id


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


# -- handlers ----------------------------------------------------------------------------------
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
        raise invalid(f"maxResults must be an integer: {raw!r}") from None
    if not 100 <= value <= 10000:
        raise invalid(f"maxResults must be between 100 and 10000, got {value}")
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
            raise invalid("The pagination token is invalid.", "INVALID_PAGE_TOKEN") from None
    raw = query.get("startingBlockIndex")
    try:
        return max(0, int(raw)) if raw else 0
    except ValueError:
        raise invalid(f"startingBlockIndex must be an integer: {raw!r}") from None


def _page_token(snapshot_id: str, next_index: int) -> str:
    raw = json.dumps({"s": snapshot_id, "i": next_index}).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _page(indices: list[int], start: int, limit: int) -> tuple[list[int], int | None]:
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
    with LOCK:
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
    snapshot = find_snapshot(response.current_account, response.region, snapshot_id)
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
    second = snapshot_blocks(find_snapshot(response.current_account, response.region, second_id))
    first_id = query.get("firstSnapshotId") or None
    if first_id:
        first = snapshot_blocks(find_snapshot(response.current_account, response.region, first_id))
        if first.lineage != second.lineage:
            raise invalid(f"{first_id} and {second_id} are not snapshots of one lineage.", "UNRELATED_SNAPSHOTS")
        if first.volume_size_gib > second.volume_size_gib:
            raise invalid("The first snapshot is larger than the second.", "INVALID_VOLUME_SIZE")
        # Maps hold content digests: equal digests, equal bytes.
        changed = sorted(
            i for i in set(first.blocks) | set(second.blocks) if first.blocks.get(i) != second.blocks.get(i)
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
    frozen = snapshot_blocks(find_snapshot(response.current_account, response.region, snapshot_id))
    try:
        index = int(raw_index)
    except ValueError:
        raise invalid(f"The block index {raw_index!r} is not a number.", "INVALID_BLOCK") from None
    token = _query(response).get("blockToken", "")
    if not hmac.compare_digest(token, _block_token(snapshot_id, index)):
        raise invalid("The block token is not valid for this snapshot and block index.", "INVALID_BLOCK_TOKEN")
    stored = frozen.blocks.get(index)  # the block's digest; its bytes are in the block store
    if stored is None:
        raise invalid(f"Block {index} does not exist in {snapshot_id}.", "INVALID_BLOCK")
    try:
        data = current_store().get(stored)
    except KeyError:  # swept: the snapshot was deleted while this read was on its way
        raise not_found(f"The snapshot '{snapshot_id}' does not exist.") from None
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
        raise invalid("The request body is not JSON.") from None
    account, region = response.current_account, response.region
    client_token = params.get("ClientToken")
    if client_token and (account, region, client_token) in _client_tokens:
        existing = ec2_backend(account, region).snapshots.get(_client_tokens[(account, region, client_token)])
        if existing is not None:
            return _json(201, _describe_started(existing, params))
    size = params.get("VolumeSize")
    if not isinstance(size, int) or not 1 <= size <= 65536:
        raise invalid(f"VolumeSize must be 1-65536 GiB, got {size!r}", "INVALID_VOLUME_SIZE")
    timeout = params.get("Timeout")
    if timeout is not None and (not isinstance(timeout, int) or not 10 <= timeout <= 4320):
        raise invalid("Timeout must be between 10 and 4320 minutes.")
    parent_id = params.get("ParentSnapshotId")
    base = BlockMap()
    lineage = f"lineage-{uuid.uuid4().hex}"
    parent_snapshot = find_snapshot(account, region, parent_id) if parent_id else None
    with LOCK:  # copy the parent's map and pin the copy at once: a concurrent delete's sweep keeps its blocks
        if parent_snapshot is not None:
            if not is_live(parent_snapshot):
                raise not_found(f"The snapshot '{parent_id}' does not exist.")
            parent = snapshot_blocks(parent_snapshot)
            if size < parent.volume_size_gib:
                raise invalid("VolumeSize is smaller than the parent snapshot's.", "INVALID_VOLUME_SIZE")
            base, lineage = BlockMap(parent.blocks), parent.lineage
        pin(base)
    try:
        return _json(201, _describe_started(_start_upload(params, account, region, size, base, lineage), params))
    finally:
        unpin(base)


def _start_upload(params: dict[str, Any], account: str, region: str, size: int, base: BlockMap, lineage: str) -> Any:
    parent_id = params.get("ParentSnapshotId")
    client_token = params.get("ClientToken")
    ec2 = ec2_backend(account, region)
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
    setattr(snapshot, SNAPSHOT_ATTR, None)
    setattr(snapshot, UPLOAD_ATTR, Upload(base, size, lineage, parent_id))
    if client_token:
        _client_tokens[(account, region, client_token)] = snapshot.id
    return snapshot


def _describe_started(snapshot: Any, params: dict[str, Any]) -> dict[str, Any]:
    upload: Upload | None = getattr(snapshot, UPLOAD_ATTR, None)
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
    snapshot = find_snapshot(response.current_account, response.region, snapshot_id)
    upload: Upload | None = getattr(snapshot, UPLOAD_ATTR, None)
    if upload is None:
        message = f"{snapshot_id} is not a snapshot in progress (status {snapshot.status})."
        raise invalid(message, "INVALID_SNAPSHOT_ID")
    return snapshot, upload


def _put_snapshot_block(response: Any) -> tuple[int, dict[str, Any], str]:
    parts = _path_parts(response)
    snapshot_id, raw_index = parts[1], parts[3]
    _, upload = _pending_upload(response, snapshot_id)
    try:
        index = int(raw_index)
    except ValueError:
        raise invalid(f"The block index {raw_index!r} is not a number.", "INVALID_BLOCK") from None
    if not 0 <= index < upload.volume_size_gib * BLOCKS_PER_GIB:
        raise invalid(f"Block index {index} is outside the {upload.volume_size_gib} GiB volume.", "INVALID_BLOCK")
    data = bytes(response.body or b"")
    length = _header(response, "x-amz-Data-Length")
    if length is None or int(length) != BLOCK_SIZE or len(data) != BLOCK_SIZE:
        raise invalid(f"DataLength must be {BLOCK_SIZE} and match the body ({len(data)} bytes).", "INVALID_BLOCK")
    algorithm = _header(response, "x-amz-Checksum-Algorithm")
    checksum = _header(response, "x-amz-Checksum")
    if algorithm != "SHA256" or not checksum:
        raise invalid("Checksum and ChecksumAlgorithm SHA256 are required.")
    digest = hashlib.sha256(data).digest()
    if not hmac.compare_digest(checksum.encode("ascii"), base64.b64encode(digest)):
        raise invalid("The checksum does not match the block data.", "INVALID_BLOCK")
    with LOCK:
        if data.count(0) == len(data):
            upload.blocks.pop(index, None)
        else:
            upload.blocks[index] = current_store().put(data)
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
        raise invalid("ChangedBlocksCount is required.")
    status = "completed"
    if int(raw_count) != len(upload.written):
        status = "error"  # AWS fails the snapshot when blocks went missing
    checksum = _header(response, "x-amz-Checksum")
    if checksum and status == "completed":
        method = _header(response, "x-amz-Checksum-Aggregation-Method")
        if method != "LINEAR" or _header(response, "x-amz-Checksum-Algorithm") != "SHA256":
            raise invalid("An aggregated checksum needs ChecksumAlgorithm SHA256 and aggregation method LINEAR.")
        joined = b"".join(upload.checksums[i] for i in sorted(upload.checksums))
        if base64.b64encode(hashlib.sha256(joined).digest()).decode("ascii") != checksum:
            status = "error"
    with LOCK:
        setattr(snapshot, UPLOAD_ATTR, None)
        setattr(snapshot, SNAPSHOT_ATTR, FrozenBlocks(upload.blocks, upload.volume_size_gib, upload.lineage))
        snapshot.status = status
    return _json(202, {"Status": status})


def patch() -> None:
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


def reset() -> None:
    _client_tokens.clear()
    set_quirks(empty_first_page=False, throttle_every=0)
