"""The demo's S3 step: back up the estate's versioned documents bucket (``reports/``, every version), back it up
again unchanged (one listing, no object read), restore it under a new prefix of the same bucket and compare the
restored objects with the originals, byte for byte and header for header.

The library is the demo's own (``demo/ec2.py``'s choice: the configured default when its passphrase is at hand).
The restored copies stay under ``restored/<recovery point>/``, outside the backed-up prefix, so a re-run backs up
the same objects again (and finds them unchanged).
"""

from __future__ import annotations

import time
from typing import Any

from skyvault.demo.ec2 import DemoLike, _library, _runner
from skyvault.errors import SkyvaultError
from skyvault.jobs.spec import JobSpec
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.services.s3 import jobs

PREFIX = "reports/"


def _objects(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[bytes, str | None, dict[str, str]]]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=obj["Key"])
            found[obj["Key"][len(prefix) :]] = (got["Body"].read(), got.get("ContentType"), got.get("Metadata", {}))
    return found


def s3_step(demo: DemoLike) -> str:
    app = demo.require_app()
    factory = app.factory()
    region = app.config().account(ADMIN_ACCOUNT_NAME).regions[0]
    bucket = f"skyvault-demo-{factory.account_id(ADMIN_ACCOUNT_NAME)}-documents"
    library, opener = _library(app)
    runner = _runner(app, app.catalog(), opener)
    params = jobs.backup_params(locations=[f"{bucket}/{PREFIX}"], account=ADMIN_ACCOUNT_NAME, region=region,
                                library=library, versions=True)  # fmt: skip
    lines = []
    for label in ("backup", "unchanged"):
        started = time.monotonic()
        (result,) = runner.run(JobSpec(jobs.BACKUP_JOB, params))
        s = result["stats"]
        lines.append(
            f"  [bold]{label:9}[/bold] {s['objects']} versions, {s['delete_markers']} delete markers: {s['fetched']} "
            f"read, {s['reused']} unchanged, {s['new_bytes']:,} bytes stored; GetObject "
            f"{s['api_calls'].get('GetObject', 0)}, listings {s['api_calls'].get('ListObjectVersions', 0)}  "
            f"[dim]{time.monotonic() - started:.1f}s[/dim]"
        )
    point = result["recovery_point"]
    target = f"restored/{point}/"
    restored = runner.run(JobSpec(jobs.RESTORE_JOB, {"recovery_point": point, "target": "new", "confirmed": False,
                                                     "options": {"prefix": target}}))  # fmt: skip
    s3 = factory.client(ADMIN_ACCOUNT_NAME, region, "s3")
    original, copy = _objects(s3, bucket, PREFIX), _objects(s3, bucket, target)
    same = original == copy
    lines.append(
        f"  [bold]restore  [/bold] {restored['stats']['objects']} objects to s3://{bucket}/{target}: "
        + ("identical to the originals (bytes, content type, metadata)" if same else "[red]DIFFERENT[/red]")
    )
    for line in lines:
        demo.console.print(line, highlight=False)
    if not same:
        raise SkyvaultError(f"the restored objects under {target} differ from {PREFIX}")
    return f"s3://{bucket}/{PREFIX} backed up with every version, unchanged re-backup, restored and compared"
