"""Model: S3 verifies the integrity values a PutObject carries, as AWS does, and refuses a mismatch (BadDigest).

Real AWS: a PutObject with ``Content-MD5`` or ``x-amz-checksum-<algorithm>`` is stored only if the value matches
the bytes received; otherwise it fails with ``400 BadDigest`` and nothing is written
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html, "Content-MD5" and "x-amz-checksum-*";
https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).

moto 5.2.1 stores whatever value it is given (its own ``_get_checksum`` says "TODO: AWS computes the provided value
and verifies it's the same"), so a restore that sends the original checksum would pass in the lab even with wrong
bytes. This model checks ``Content-MD5`` and the ``x-amz-checksum-*`` header of a PutObject against the body for
the algorithms it can compute exactly here (MD5, SHA1, SHA256, CRC32; CRC32C and CRC64NVME only when their
libraries are installed: moto would otherwise compute CRC32 instead and wrongly refuse). A checksum sent in an
aws-chunked trailer (botocore's default) is moto's own business and left alone.

Multipart objects (S3 user guide, "Checking object integrity": using part-level checksums for multipart uploads):
AWS reports a composite checksum as ``<checksum of the parts' checksums>-<part count>`` with
``x-amz-checksum-type: COMPOSITE`` on GET and HEAD alike. moto 5.2.1 does so on GET but its HEAD drops the part
count and the type, so a HEAD-based reader would take a composite checksum for a full-object one (and a restore that
sends it would fail ``BadDigest``). The model makes HEAD answer as GET does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import Any

_MARK = "_skyvault_s3_checksums_model"


def _algorithms() -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {
        "sha1": lambda body: hashlib.sha1(body).digest(),
        "sha256": lambda body: hashlib.sha256(body).digest(),
        "crc32": lambda body: binascii.crc32(body).to_bytes(4, "big"),
    }
    try:
        import crc32c  # type: ignore[import-not-found,unused-ignore]

        found["crc32c"] = lambda body: int(crc32c.crc32c(body)).to_bytes(4, "big")
    except ImportError:
        pass
    try:
        from awscrt import checksums  # type: ignore[import-not-found,unused-ignore]

        found["crc64nvme"] = lambda body: int(checksums.crc64nvme(body)).to_bytes(8, "big")
    except ImportError:
        pass
    return found


def bad_digest(headers: Any, body: bytes) -> str | None:
    """Why S3 would refuse these headers for this body (None: it would not)."""
    md5 = headers.get("Content-MD5")
    if md5 and base64.b64encode(hashlib.md5(body).digest()).decode() != md5:
        return "The Content-MD5 you specified did not match what we received."
    for name, compute in _algorithms().items():
        value = headers.get(f"x-amz-checksum-{name}")
        if value and base64.b64encode(compute(body)).decode() != value:
            return f"The {name.upper()} you specified did not match the calculated checksum."
    return None


def apply() -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    if getattr(S3Response, _MARK, False):
        return
    original = S3Response.put_object

    def put_object(self: Any) -> Any:
        body = self.body if isinstance(self.body, bytes) else (self.body or b"")
        chunked = "aws-chunked" in str(self.headers.get("Content-Encoding", "")) or str(
            self.headers.get("x-amz-content-sha256", "")
        ).startswith("STREAMING-")
        reason = None if chunked else bad_digest(self.headers, body)
        if reason is not None:
            error = S3ClientError("BadDigest", reason)
            error.code = "BadDigest"
            raise error
        return original(self)

    original_head = S3Response.head_object

    def head_object(self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
        status, response_headers, body = original_head(self, bucket_name, query, key_name, headers)
        if status == 200 and headers.get("x-amz-checksum-mode") == "ENABLED":
            version = query.get("versionId", [None])[0]
            key = self.backend.get_object(bucket_name, key_name, version_id=version)
            kind = getattr(key, "checksum_type", None)
            algorithm = getattr(key, "checksum_algorithm", None)
            name = f"x-amz-checksum-{algorithm.lower()}" if algorithm else ""
            if kind and name in response_headers:
                if kind == "COMPOSITE" and "-" not in str(response_headers[name]):
                    response_headers[name] = f"{response_headers[name]}-{key.checksum_parts}"
                response_headers["x-amz-checksum-type"] = kind
        return status, response_headers, body

    setattr(S3Response, "put_object", put_object)  # noqa: B010
    setattr(S3Response, "head_object", head_object)  # noqa: B010
    setattr(S3Response, _MARK, True)
