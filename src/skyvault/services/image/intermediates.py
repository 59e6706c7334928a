"""The intermediate types of ``convert --method vmimport``, named apart from ``vmimport.py`` so that the driver can
list their cleaners without importing it (its permission declarations and S3/EC2 helpers cost ~30 ms)."""

from __future__ import annotations

UPLOAD = "s3-import-object"  # s3://BUCKET/KEY#TOKEN (the object and its multipart uploads)
IMPORT_TASK = "ec2-import-task"  # import-ami-..., import-snap-..., or token:TOKEN before it exists
