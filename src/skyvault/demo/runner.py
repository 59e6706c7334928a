"""``python -m skyvault.demo`` (``make demo``): skyvault end to end against the local lab, in the current folder.

The demo is a list of steps over one shared context; each step prints what it did and how long it took. Today:
start the lab in ``./.skyvault`` (or reuse the running one), write ``./skyvault.toml`` for its accounts if missing
(or point it at the lab's new endpoint), seed the demo estate in every account, and discover it all. Later issues
append steps (backup, restore, verification) to ``STEPS``. Re-running is safe: the lab and the estate are reused.
The lab is left running so that ``skyvault discover`` etc. work right after; ``skyvault lab down`` stops it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from skyvault.cli.context import PIPED_WIDTH, AppState
from skyvault.cli.discover import human_size
from skyvault.config import load_config
from skyvault.demo.convert import convert_step
from skyvault.demo.databases import databases_step
from skyvault.demo.dynamodb import dynamodb_step
from skyvault.demo.ec2 import ec2_step
from skyvault.demo.plans import plans_step
from skyvault.demo.s3 import s3_step
from skyvault.engine.discovery import DiscoveryResult, discover
from skyvault.errors import SkyvaultError
from skyvault.lab import control
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME, write_lab_config
from skyvault.lab.estate import BLOCK_SIZE, seed_estate
from skyvault.lab.labconfig import LabInfo
from skyvault.services.base import SERVICES


@dataclass
class Demo:
    """What the steps share. ``results`` collects each step's outcome for the steps after it."""

    workdir: Path
    seed: int
    console: Console
    lab: LabInfo | None = None
    app: AppState | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workdir / ".skyvault"

    @property
    def config_path(self) -> Path:
        return self.workdir / "skyvault.toml"

    def require_lab(self) -> LabInfo:
        if self.lab is None:
            raise SkyvaultError("the lab step must run first")
        return self.lab

    def require_app(self) -> AppState:
        if self.app is None:
            raise SkyvaultError("the config step must run first")
        return self.app


Step = tuple[str, Callable[[Demo], str]]


def start_lab(demo: Demo) -> str:
    try:
        running = control.lab_status(demo.state_dir)
    except control.StaleLabError:
        running = None  # start_lab replaces a stale record
    demo.lab = control.start_lab(demo.state_dir)
    verb = "reused the running lab" if running is not None and running.pid == demo.lab.pid else "started a lab"
    return f"{verb} at {demo.lab.endpoint} (pid {demo.lab.pid}, moto {demo.lab.moto_version or '?'})"


def write_config(demo: Demo) -> str:
    lab = demo.require_lab()
    control.bootstrap_accounts(lab)  # idempotent: users, roles, the admin key file
    path = demo.config_path
    existing = load_config(path, missing_ok=True)
    lab_accounts = [ADMIN_ACCOUNT_NAME, *sorted(lab.tenants)]
    current = all(
        name in existing.accounts and existing.accounts[name].endpoint_url == lab.endpoint for name in lab_accounts
    )
    if path.exists() and current:
        message = f"kept {path.name} (accounts {', '.join(lab_accounts)})"
    else:
        write_lab_config(path, lab)  # other accounts and libraries in the file are kept
        verb = "updated" if path.exists() and existing.accounts else "wrote"
        message = f"{verb} {path.name}: accounts {', '.join(lab_accounts)} at {lab.endpoint}"
    demo.app = AppState(config_option=str(path))
    demo.results["accounts"] = lab_accounts
    return message


def seed(demo: Demo) -> str:
    app = demo.require_app()
    summary = seed_estate(app.factory(), demo.require_lab(), accounts=demo.results["accounts"], seed=demo.seed)
    demo.results["estate"] = summary
    text = (
        f"seed {summary['seed']}: {summary['created']} resources created, {summary['kept']} already there; "
        f"{summary['dynamodb_items']} DynamoDB items, {summary['s3_objects']} S3 objects, "
        f"{human_size(summary['ebs_blocks_written'] * BLOCK_SIZE)} written to EBS volumes"
    )
    return text + "".join(f"\n    note: {note}" for note in summary["notes"])


def run_discovery(demo: Demo) -> str:
    app = demo.require_app()
    result = discover(app.factory())
    demo.results["discovery"] = result
    demo.console.print(_inventory_table(result))
    for failure in result.failures:
        where = ", ".join(x for x in (failure.account, failure.region, failure.service) if x)
        demo.console.print(f"    [red]failed[/red] {where}: {failure.error}", highlight=False)
    known = result.known_bytes()
    return (
        f"{len(result.resources)} resources in {len({r.account for r in result.resources})} accounts, "
        f"{human_size(known)} of known size; {result.tasks} lookups in {result.elapsed_s:.1f}s"
        + (f"; {len(result.failures)} FAILED" if result.failures else "")
    )


def _inventory_table(result: DiscoveryResult) -> Table:
    """Services down, accounts across (the demo has a few accounts and eight services: it fits 80 columns)."""
    totals = result.totals()
    accounts = list(totals)
    table = Table(title="Inventory: resources per service and account", box=box.SIMPLE_HEAD)
    table.add_column("Service", no_wrap=True)
    for account in accounts:
        table.add_column(account, justify="right", no_wrap=True)
    table.add_column("All", justify="right", no_wrap=True, style="bold")
    for service in SERVICES:
        counts = [totals[a].get(service, (0, 0))[0] for a in accounts]
        table.add_row(service, *map(str, counts), str(sum(counts)))
    sizes = [DiscoveryResult(resources=[r for r in result.resources if r.account == a]).known_bytes() for a in accounts]
    table.add_section()
    table.add_row("known size", *map(human_size, sizes), human_size(result.known_bytes()))
    return table


STEPS: list[Step] = [
    ("Lab", start_lab),
    ("Config", write_config),
    ("Demo estate", seed),
    ("Discovery", run_discovery),
    ("Databases", databases_step),
    ("EC2 backup, incremental copy, cross-region restore", ec2_step),
    ("S3 backup with versions, unchanged re-backup, restore", s3_step),
    ("DynamoDB backup by parallel Scan, unchanged re-backup, verified restore", dynamodb_step),
    ("Backup plan for every service, sample restore, protection report", plans_step),
    ("Convert a VM disk image into a running instance", convert_step),
]


def run(demo: Demo, steps: list[Step] = STEPS) -> int:
    """Run every step in order; returns the process exit status (0, or the worst discovery failure's code)."""
    started = time.monotonic()
    for number, (title, step) in enumerate(steps, start=1):
        t0 = time.monotonic()
        demo.console.rule(f"[bold]{number}/{len(steps)} {title}")
        message = step(demo)
        demo.console.print(f"  {message}  [dim]({time.monotonic() - t0:.1f}s)[/dim]", highlight=False)
    demo.console.rule()
    demo.console.print(
        f"demo finished in {time.monotonic() - started:.1f}s. The lab keeps running: try 'skyvault discover', "
        "'skyvault discover --json -s dynamodb'; stop it with 'skyvault lab down'."
    )
    discovery = demo.results.get("discovery")
    return discovery.exit_code if isinstance(discovery, DiscoveryResult) else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skyvault.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="demo estate seed (same seed, same data)")
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="working folder (default: the current one)")
    args = parser.parse_args(argv)
    # Piped (make demo > log, CI): whole IDs and device names, not an assumed 80 columns cut with "…".
    console = Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)
    demo = Demo(workdir=args.dir.resolve(), seed=args.seed, console=console)
    try:
        code = run(demo)
    except SkyvaultError as exc:
        Console(stderr=True).print(f"[red]demo failed:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    sys.exit(code)
