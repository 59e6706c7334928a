"""Model: ``versionId=null`` names the null version of an object, in every bucket.

Real AWS (S3 user guide, "Working with objects in a versioning-suspended bucket" and "Retrieving object versions"):
objects written while versioning was never enabled (or suspended) have the version ID ``null``, and
``ListObjectVersions`` reports them so; a GET or HEAD with ``versionId=null`` reads that version, in a bucket that
was never versioned too. A backup with ``--versions`` of an unversioned bucket (or of an S3 on Outposts bucket)
does exactly that.

moto 5.2.1 answers a HEAD with any ``versionId`` on a bucket that is not versioned with a bare 400, so the lab
would refuse what AWS serves. This model lets ``versionId=null`` through to the lookup (which matches moto's
``"null"`` version IDs); any other version ID on such a bucket still gets moto's 400.
"""

from __future__ import annotations

from typing import Any

_MARK = "_skyvault_s3_null_version_model"


def apply() -> None:
    from moto.s3.responses import S3Response

    if getattr(S3Response, _MARK, False):
        return
    original = S3Response.head_object

    def head_object(self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
        if query.get("versionId") == ["null"] and not self.backend.get_bucket(bucket_name).is_versioned:
            query = {name: value for name, value in query.items() if name != "versionId"}
        return original(self, bucket_name, query, key_name, headers)

    setattr(S3Response, "head_object", head_object)  # noqa: B010
    setattr(S3Response, _MARK, True)
