"""Model: S3 Intelligent-Tiering archive access tiers (objects that must be restored before they can be read).

Real AWS (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html and
https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-managing.html): with an archive
configuration on the bucket, an ``INTELLIGENT_TIERING`` object not accessed for 90 (or 180) days moves to the
Archive Access (or Deep Archive Access) tier. Its storage class stays ``INTELLIGENT_TIERING`` in listings;
HeadObject reports ``x-amz-archive-status: ARCHIVE_ACCESS | DEEP_ARCHIVE_ACCESS``; GetObject fails with
``403 InvalidObjectState`` until a RestoreObject brings it back to the Frequent Access tier.

moto 5.2.1 has no tiers: an Intelligent-Tiering object is always readable. The lab cannot wait 90 days, so its
control route moves an object into an archive tier at once (``set_model_settings(lab, "s3_archive_tiers",
bucket=B, key=K, tier="ARCHIVE_ACCESS")``); from then on GetObject refuses it, HeadObject reports the tier, and
RestoreObject (any ``Days``) brings it back. ``reset`` forgets every archived object. Not modelled: the time-based
moves themselves, restore delays (a restore completes at once, as moto's Glacier restores do), bucket archive
configurations.
"""

from __future__ import annotations

import threading
from typing import Any

_MARK = "_skyvault_s3_archive_tiers_model"
TIERS = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")
_lock = threading.Lock()
_archived: dict[tuple[str, str], str] = {}  # (bucket, key) -> tier


def configure(body: dict[str, Any]) -> dict[str, Any]:
    """``{"bucket": B, "key": K, "tier": "ARCHIVE_ACCESS" | "DEEP_ARCHIVE_ACCESS"}``: archive that object."""
    bucket, key, tier = body.get("bucket"), body.get("key"), body.get("tier", "ARCHIVE_ACCESS")
    if not isinstance(bucket, str) or not isinstance(key, str) or tier not in TIERS:
        raise ValueError(f"'bucket' and 'key' are strings and 'tier' one of {', '.join(TIERS)}")
    with _lock:
        _archived[(bucket, key)] = str(tier)
        return {"archived": [f"{b}/{k}: {t}" for (b, k), t in sorted(_archived.items())]}


def reset() -> None:
    with _lock:
        _archived.clear()


def tier_of(key: Any) -> str | None:
    if getattr(key, "storage_class", None) != "INTELLIGENT_TIERING":
        return None
    with _lock:
        return _archived.get((str(getattr(key, "bucket_name", "")), str(getattr(key, "name", ""))))


def apply() -> None:
    from moto.s3.exceptions import InvalidObjectState
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.responses import S3Response

    if getattr(S3Response, _MARK, False):
        return
    original_get_key = S3Response._get_key
    original_response_dict = FakeKey.response_dict
    original_restore = S3Backend.restore_object

    def _get_key(self: Any, validate_storage_class: bool = True) -> Any:
        key, not_modified = original_get_key(self, validate_storage_class)
        if validate_storage_class and tier_of(key) is not None:
            raise InvalidObjectState(storage_class=key.storage_class)
        return key, not_modified

    def response_dict(self: Any) -> dict[str, Any]:
        headers: dict[str, Any] = original_response_dict.fget(self)  # type: ignore[attr-defined]
        tier = tier_of(self)
        if tier is not None:
            headers["x-amz-archive-status"] = tier
        return headers

    def restore_object(self: Any, bucket_name: str, key_name: str, days: str | None, type_: str | None) -> bool:
        key = self.get_object(bucket_name, key_name)
        if key is not None and tier_of(key) is not None:
            with _lock:
                _archived.pop((bucket_name, key_name), None)
            return False
        return bool(original_restore(self, bucket_name, key_name, days, type_))

    setattr(S3Response, "_get_key", _get_key)  # noqa: B010
    setattr(FakeKey, "response_dict", property(response_dict))  # noqa: B010
    setattr(S3Backend, "restore_object", restore_object)  # noqa: B010
    setattr(S3Response, _MARK, True)
