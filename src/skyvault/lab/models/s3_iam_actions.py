"""Model: IAM enforcement authorises S3 Object Lock requests as the IAM actions AWS requires.

Real AWS: ``GetObjectLockConfiguration`` needs ``s3:GetBucketObjectLockConfiguration``; ``PutObjectRetention``
and ``PutObjectLegalHold`` need the actions of those names; a ``PutObject`` that carries a retention date
(``x-amz-object-lock-retain-until-date``) needs ``s3:PutObjectRetention`` in addition to ``s3:PutObject``.

moto 5.2.1 maps S3 requests to IAM actions with a table that lacks these: it authorises the bucket's Object Lock
configuration as ``s3:ListBucket`` and a locked PutObject as ``s3:PutObject`` alone, so a policy missing the
Object Lock actions passes in the lab and fails on AWS. This model adds the missing rows and the second check.
"""

from __future__ import annotations

from typing import Any

_MARK = "_skyvault_s3_iam_actions_model"
RETAIN_UNTIL_HEADER = "x-amz-object-lock-retain-until-date"


def apply() -> None:
    from moto.s3.responses import ACTION_MAP, S3Response

    if getattr(S3Response, _MARK, False):
        return
    ACTION_MAP["BUCKET"]["GET"]["object-lock"] = "GetBucketObjectLockConfiguration"
    ACTION_MAP["BUCKET"]["PUT"]["object-lock"] = "PutBucketObjectLockConfiguration"
    ACTION_MAP["KEY"]["GET"]["retention"] = "GetObjectRetention"
    ACTION_MAP["KEY"]["PUT"]["retention"] = "PutObjectRetention"
    ACTION_MAP["KEY"]["GET"]["legal-hold"] = "GetObjectLegalHold"
    ACTION_MAP["KEY"]["PUT"]["legal-hold"] = "PutObjectLegalHold"
    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        original(self, bucket_name=bucket_name, key_name=key_name)
        if self.data.get("Action") == "PutObject" and self.headers.get(RETAIN_UNTIL_HEADER):
            self.data["Action"] = "PutObjectRetention"
            try:
                original(self, bucket_name=bucket_name, key_name=key_name)
            finally:
                self.data["Action"] = "PutObject"

    setattr(S3Response, "_authenticate_and_authorize_s3_action", authorize)  # noqa: B010
    setattr(S3Response, _MARK, True)
