"""The demo's EC2 step: back up the estate's app instance with a library copy, write 1% of its data volume, back up
incrementally (only the changed blocks are read), restore the newest point to a new instance in another region
from the library, and verify every restored volume against the source snapshot, byte for byte (lab checksums).

The demo keeps its own local library (``.skyvault/demo-library``, a lab-only passphrase) unless a default library
is configured. Once verified, the restored instance and its volumes are removed so that re-runs see the same estate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from rich import box
from rich.console import Console
from rich.table import Table

from skyvault.catalog import Catalog
from skyvault.cli.context import PASSPHRASE_ENV, AppState
from skyvault.cli.library import open_library
from skyvault.engine.runner import JobRunner
from skyvault.errors import NotFoundError, SkyvaultError
from skyvault.jobs.spec import JobSpec
from skyvault.lab import control
from skyvault.lab.accounts import ADMIN_ACCOUNT_NAME
from skyvault.lab.labconfig import LabInfo
from skyvault.library.backends.local import LocalBackend
from skyvault.library.repository import Repository
from skyvault.services.base import tags_from_list
from skyvault.services.contract import JobEnvironment
from skyvault.services.ec2 import cleanup, waiting
from skyvault.services.ec2.backup import backup_params
from skyvault.services.ec2.ebs_direct import BLOCK_SIZE

DEMO_LIBRARY = "demo-library"
DEMO_PASSPHRASE = "skyvault-demo-lab-only"  # the lab's throwaway library: never a real secret
WRITE_BLOCKS = 20  # 1% of a 1 GiB volume's 2048 blocks


class DemoLike(Protocol):
    console: Console
    results: dict[str, Any]

    def require_app(self) -> AppState: ...

    def require_lab(self) -> LabInfo: ...


def _library(app: AppState) -> tuple[str, Any]:
    """(name, opener): the configured default library when its passphrase is at hand, else the demo's own."""
    config = app.config()
    if config.default_library and os.environ.get(PASSPHRASE_ENV):
        name = config.default_library
        return name, lambda: open_library(app, name)
    path = app.state_dir / DEMO_LIBRARY
    if not (path / "config").exists():
        from skyvault.library.crypto import ScryptParams

        Repository.init(LocalBackend(path), passphrase=DEMO_PASSPHRASE, scrypt=ScryptParams(n=2**14, r=8, p=1)).close()
    return DEMO_LIBRARY, lambda: Repository.open(LocalBackend(Path(path)), passphrase=DEMO_PASSPHRASE)


def _app_instance(app: AppState, region: str) -> dict[str, Any]:
    ec2 = app.factory().client(ADMIN_ACCOUNT_NAME, region, "ec2")
    described = ec2.describe_instances(
        Filters=[
            {"Name": "tag:role", "Values": ["app"]},
            {"Name": "instance-state-name", "Values": ["running", "stopped"]},
        ]
    )
    found = [i for r in described["Reservations"] for i in r["Instances"]]
    found = [i for i in found if tags_from_list(i.get("Tags")).get("skyvault:managed") != "true"]
    if not found:
        raise NotFoundError(f"the demo estate has no app instance in {ADMIN_ACCOUNT_NAME}/{region}")
    return dict(sorted(found, key=lambda i: i["InstanceId"])[0])


def _runner(app: AppState, catalog: Catalog, opener: Any) -> JobRunner:
    return JobRunner(JobEnvironment(catalog=catalog, factory=app.factory(), open_library=lambda _name: opener()))


def _backup(app: AppState, catalog: Catalog, opener: Any, library: str, region: str, instance_id: str) -> Any:
    params = backup_params(instance_id=instance_id, account=ADMIN_ACCOUNT_NAME, region=region, library=library)
    return _runner(app, catalog, opener).run(JobSpec("backup-ec2", params))


def _line(label: str, stats: dict[str, Any]) -> str:
    calls = stats["api_calls"]
    return (
        f"  [bold]{label:11}[/bold] {stats['blocks_listed']:4} blocks listed, {stats['blocks_read']:4} read "
        f"({stats['bytes_read'] / 2**20:.1f} MiB), {stats['bytes_stored'] / 2**20:.2f} MiB stored; "
        f"ListSnapshotBlocks {calls.get('ListSnapshotBlocks', 0)}, "
        f"ListChangedBlocks {calls.get('ListChangedBlocks', 0)}, GetSnapshotBlock {calls.get('GetSnapshotBlock', 0)}; "
        f"{stats['duration_s']:.1f}s"
    )


def _remove_restored(app: AppState, region: str, instance_id: str | None, volume_ids: list[str]) -> None:
    """The demo verifies and then removes its restored instance and volumes, so re-runs find the same estate."""
    if instance_id is None:
        return
    factory = app.factory()
    ec2 = factory.client(ADMIN_ACCOUNT_NAME, region, "ec2")
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    cleanup.terminate_instance(factory, ADMIN_ACCOUNT_NAME, region, described)
    waiting.instances_in(factory, ADMIN_ACCOUNT_NAME, region, [instance_id], "terminated")
    for volume in ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volume_ids}])["Volumes"]:
        cleanup.delete_volume(factory, ADMIN_ACCOUNT_NAME, region, volume)  # kept ones: DeleteOnTermination=false


def ec2_step(demo: DemoLike) -> str:
    app = demo.require_app()
    config = app.config()
    regions = config.account(ADMIN_ACCOUNT_NAME).regions
    region, other = regions[0], (regions[1] if len(regions) > 1 else regions[0])
    lab = demo.require_lab()
    if config.account(ADMIN_ACCOUNT_NAME).endpoint_url != lab.endpoint:
        raise SkyvaultError(f"the EC2 demo step needs the admin account on the lab ({lab.endpoint})")
    account_id = app.factory().account_id(ADMIN_ACCOUNT_NAME)
    catalog = app.catalog()
    library, opener = _library(app)
    instance = _app_instance(app, region)
    instance_id = instance["InstanceId"]

    first = _backup(app, catalog, opener, library, region, instance_id)
    demo.console.print(_line("backup", first["stats"]), highlight=False)
    data = [m for m in instance["BlockDeviceMappings"] if m["DeviceName"] != instance.get("RootDeviceName")]
    target = (data or instance["BlockDeviceMappings"])[0]
    written = control.write_blocks(
        lab,
        target["Ebs"]["VolumeId"],
        WRITE_BLOCKS,
        seed=len(catalog.jobs()),
        account_id=account_id,
        region=region,
    )
    demo.console.print(
        f"  [bold]guest write[/bold] {len(written.indices)} blocks ({len(written.indices) * BLOCK_SIZE // 2**20} MiB) "
        f"to {target['Ebs']['VolumeId']} ({target['DeviceName']})",
        highlight=False,
    )
    second = _backup(app, catalog, opener, library, region, instance_id)
    demo.console.print(_line("incremental", second["stats"]), highlight=False)

    point = catalog.recovery_point(second["recovery_point"])
    params = {"recovery_point": point.id, "account": ADMIN_ACCOUNT_NAME, "region": other, "source": "library"}
    restored = _runner(app, catalog, opener).run(JobSpec("restore-ec2", params))
    table = Table(title=f"{instance_id} -> {restored['instance_id']} ({other})", box=box.SIMPLE_HEAD)
    for column in ("device", "sha256 at backup (snapshot)", "sha256 restored (volume)", ""):
        table.add_column(column, no_wrap=True)
    devices = sorted(point.native.items())
    mismatches = 0
    for device, snapshot_id in devices:
        volume_id = restored["volume_ids"][device]
        source = control.checksum(lab, snapshot_id, account_id=account_id, region=region).sha256
        copy = control.checksum(lab, volume_id, account_id=account_id, region=other).sha256
        mismatches += source != copy
        ok = "[green]identical[/green]" if source == copy else "[red]DIFFERENT[/red]"
        table.add_row(device, f"{source[:12]} {snapshot_id}", f"{copy[:12]} {volume_id}", ok)
    demo.console.print(table)
    if mismatches:
        raise SkyvaultError(f"{mismatches} restored volume(s) differ from the backup")
    _remove_restored(app, other, restored["instance_id"], list(restored["volume_ids"].values()))
    return (
        f"{instance_id}: {point.id} restored from the library to {restored['instance_id']} in {other}; "
        f"{len(devices)} volume(s) byte-identical (then removed); incremental read {second['stats']['blocks_read']} "
        "changed blocks"
    )
