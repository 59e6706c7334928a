"""The demo's DynamoDB step: back up the estate's ``orders`` table with a parallel, paced Scan into the library,
back it up again unchanged (every segment reused, nothing new stored), restore it into a new table and let the
restore verify item count and checksum against the backup.

The restored table is named after its recovery point (``orders-restored-<point>``) so a re-run restores next to
it rather than into it (a table with items is written into only when the user confirms).
"""

from __future__ import annotations

import time

from skyvault.demo.ec2 import DemoLike, _library, _runner
from skyvault.errors import SkyvaultError
from skyvault.jobs.spec import JobSpec
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.services.dynamodb import jobs

TABLE = "orders"


def dynamodb_step(demo: DemoLike) -> str:
    app = demo.require_app()
    region = app.config().account(ADMIN_ACCOUNT_NAME).regions[0]
    library, opener = _library(app)
    runner = _runner(app, app.catalog(), opener)
    params = jobs.backup_params(tables=[TABLE], account=ADMIN_ACCOUNT_NAME, region=region, library=library)
    lines = []
    for label in ("backup", "unchanged"):
        started = time.monotonic()
        (result,) = runner.run(JobSpec(jobs.BACKUP_JOB, params))
        s = result["stats"]
        lines.append(
            f"  [bold]{label:9}[/bold] {s['items']:,} items in {s['segments']} segments "
            f"({s['reused_segments']} unchanged), {s.get('new_bytes', 0):,} bytes stored, "
            f"{s['consumed_read_units']:,} read units  [dim]{time.monotonic() - started:.1f}s[/dim]"
        )
    point = result["recovery_point"]
    target = f"{TABLE}-restored-{point}"
    restored = runner.run(JobSpec(jobs.RESTORE_JOB, {"recovery_point": point, "target": "new", "confirmed": False,
                                                     "options": {"table_name": target}}))  # fmt: skip
    stats = restored["stats"]
    if stats.get("verified_items") != s["items"]:
        raise SkyvaultError(f"{target}: {stats.get('verified_items')} items restored, {s['items']} backed up")
    lines.append(
        f"  [bold]restore  [/bold] {stats['verified_items']:,} items into new table {target}: count and checksum "
        f"verified against the backup  [dim]{stats['duration_s']:.1f}s[/dim]"
    )
    for line in lines:
        demo.console.print(line, highlight=False)
    return f"table {TABLE} backed up by parallel Scan, unchanged re-backup, restored into {target} and verified"
