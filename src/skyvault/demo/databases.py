"""The demo's database step: back up one database of each kind with an extra copy, then restore each.

One RDS instance, one Aurora cluster, one DocumentDB cluster and one Redshift cluster of the demo estate (first
tenant account), each backed up with skyvault (RDS and DocumentDB into the vault account, Aurora and Redshift to
a second region) and restored to a new resource; the table shows what was made and where it answers.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from rich.console import Console

from skyvault.cli.context import AppState
from skyvault.cli.jobrun import environment
from skyvault.engine.runner import JobRunner
from skyvault.jobs.spec import JobSpec
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.services.rds.jobs import backup_params
from skyvault.services.rds.waiting import WaitPolicy

LAB_WAIT = WaitPolicy(timeout_s=120, poll_s=1.0)


class DemoLike(Protocol):
    console: Console
    results: dict[str, Any]

    def require_app(self) -> AppState: ...


def _plan(tenant: str, second_region: str) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("rds", f"{tenant}-orders-db", {"copy_to_account": ADMIN_ACCOUNT_NAME}),
        ("aurora", f"{tenant}-aurora-pg", {"copy_to_region": second_region}),
        ("docdb", f"{tenant}-docs", {"copy_to_account": ADMIN_ACCOUNT_NAME}),
        ("redshift", f"{tenant}-analytics", {"copy_to_region": second_region}),
    ]


def databases_step(demo: DemoLike) -> str:
    app = demo.require_app()
    config = app.config()
    tenants = [name for name in demo.results.get("accounts", config.accounts) if name != ADMIN_ACCOUNT_NAME]
    if not tenants:
        return "no tenant account: skipped"
    tenant = tenants[0]
    regions = config.account(tenant).regions
    region, second = regions[0], (regions[1] if len(regions) > 1 else regions[0])
    catalog = app.catalog()
    runner = JobRunner(environment(app))
    for kind, source, copy in _plan(tenant, second):
        started = time.monotonic()
        params = backup_params(
            resources=[source], account=tenant, region=region, copy_to_region=copy.get("copy_to_region"),
            copy_to_account=copy.get("copy_to_account"), wait=LAB_WAIT,
        )  # fmt: skip
        (result,) = runner.run(JobSpec(f"backup-{kind}", params))
        point = catalog.recovery_point(result["recovery_point"])
        restore_params = {"recovery_point": point.id, "timeout_s": LAB_WAIT.timeout_s, "poll_s": LAB_WAIT.poll_s}
        restored = runner.run(JobSpec(f"restore-{kind}", restore_params))
        copies = ", ".join(f"{c['account']}/{c['region']}" for c in point.native["copies"])
        demo.console.print(
            f"  [bold]{kind:8}[/bold] {source} -> {point.id} (copy in {copies})\n"
            f"           restored as {restored['identifier']}, endpoint {restored.get('endpoint') or '-'}:"
            f"{restored.get('port') or '-'}  [dim]{time.monotonic() - started:.1f}s[/dim]",
            highlight=False,
        )
    return f"4 databases backed up with an extra copy each and restored to new resources in {tenant}"
