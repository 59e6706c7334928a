"""The lab's s3_checksums model: a PutObject whose Content-MD5 or x-amz-checksum-* does not match is refused."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from .conftest import S3Env

pytestmark = pytest.mark.lab

BODY = b"the bytes backed up"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_wrong_integrity_values_are_refused(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    bucket = s3_env.bucket("digest-bucket")
    right = _b64(hashlib.sha256(BODY).digest())
    wrong = _b64(hashlib.sha256(b"other bytes").digest())
    s3.put_object(Bucket=bucket, Key="ok", Body=BODY, ChecksumAlgorithm="SHA256", ChecksumSHA256=right)
    assert s3.get_object(Bucket=bucket, Key="ok", ChecksumMode="ENABLED")["ChecksumSHA256"] == right
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="bad", Body=BODY, ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong)
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    s3.put_object(Bucket=bucket, Key="md5", Body=BODY, ContentMD5=_b64(hashlib.md5(BODY).digest()))
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="bad-md5", Body=BODY, ContentMD5=_b64(hashlib.md5(b"x").digest()))
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["md5", "ok"]  # nothing was written for the refused requests


def test_a_restore_is_verified_by_s3(s3_env: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checksum a restore sends is checked against the bytes it writes: a wrong one fails the restore."""
    from skyvault.errors import AwsError
    from skyvault.services.s3 import restore

    bucket = s3_env.bucket("verified-bucket")
    s3_env.s3.put_object(Bucket=bucket, Key="f", Body=BODY, ChecksumAlgorithm="SHA256")
    [result] = s3_env.backup(bucket)
    sent = restore.integrity_params({"checksum": {"algorithm": "SHA256", "value": _b64(hashlib.sha256(BODY).digest())}})
    assert sent["ChecksumSHA256"] == _b64(hashlib.sha256(BODY).digest())
    wrong = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": _b64(hashlib.sha256(b"x").digest())}
    monkeypatch.setattr(restore, "integrity_params", lambda meta: wrong)
    target = s3_env.bucket("verified-target")
    with pytest.raises(AwsError, match="BadDigest"):
        s3_env.restore(result["recovery_point"], bucket=target)
    assert "Contents" not in s3_env.s3.list_objects_v2(Bucket=target)


def test_head_reports_a_multipart_objects_checksum_as_composite_like_get(s3_env: S3Env) -> None:
    s3 = s3_env.s3
    bucket = s3_env.bucket("composite-bucket")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for number, chunk in enumerate((b"a" * 5 * 1024 * 1024, b"b" * 1024), start=1):
        part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=number, Body=chunk,
                              ChecksumAlgorithm="CRC32")  # fmt: skip
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    head = s3.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"].endswith("-2") and got["ChecksumType"] == "COMPOSITE"
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (got["ChecksumCRC32"], got["ChecksumType"])


def test_a_multipart_object_read_by_head_and_ranges_restores(s3_env: S3Env) -> None:
    """Its composite checksum is recorded as such, so the restore does not send it as a full-object one."""
    from .test_backup_restore import SMALL, _blob

    s3 = s3_env.s3
    bucket = s3_env.bucket("multipart-source")
    body = _blob(6 * 1024 * 1024, 9)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for number, start in enumerate((0, 5 * 1024 * 1024), start=1):
        chunk = body[start : start + 5 * 1024 * 1024]
        part = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=number, Body=chunk,
                              ChecksumAlgorithm="CRC32")  # fmt: skip
        parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    [result] = s3_env.backup(bucket, tuning=SMALL)
    target = s3_env.bucket("multipart-target")
    s3_env.restore(result["recovery_point"], bucket=target)
    assert s3.get_object(Bucket=target, Key="big")["Body"].read() == body
