"""``skyvault lab up|down|status|seed|write-blocks|checksum``: the local AWS lab (moto + skyvault's models)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from skyvault.cli import options
from skyvault.cli.context import AppState, state
from skyvault.errors import LabError
from skyvault.lab import control
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.labconfig import ADMIN_ACCOUNT_ID, LabInfo

app = typer.Typer(help="The local AWS lab: a moto server on 127.0.0.1 with skyvault's fidelity models.")

StateDirOption = Annotated[
    Path | None, typer.Option("--state-dir", help="Lab state folder (default: the config's state_dir, .skyvault).")
]
AccountOption = Annotated[str, typer.Option("--account", help="12-digit account ID that owns the resource.")]
RegionOption = Annotated[str, typer.Option("--region", "-r", help="Region of the resource.", callback=options.region)]


def _state_dir(st: AppState, explicit: Path | None) -> Path:
    return (explicit or st.state_dir).resolve()


def _running(st: AppState, explicit: Path | None) -> LabInfo:
    info = control.lab_status(_state_dir(st, explicit))
    if info is None:
        raise LabError("no lab is running", hint="'skyvault lab up'")
    return info


def _describe(info: LabInfo) -> str:
    tenants = ", ".join(f"{name}={account}" for name, account in sorted(info.tenants.items()))
    return (
        f"lab running at {info.endpoint} (pid {info.pid}, IAM enforcement {'on' if info.enforce_iam else 'off'})\n"
        f"  admin account {info.admin_account_id}; tenants {tenants}\n"
        f"  credentials {info.credentials_file}; record {Path(info.state_dir) / 'lab.json'}"
        + (
            f"\n  S3 on Outposts (HTTPS): HTTPS_PROXY={info.https_proxy} AWS_CA_BUNDLE={info.ca_bundle}"
            if info.https_proxy
            else ""
        )
    )


@app.command("up")
def up(
    ctx: typer.Context,
    enforce_iam: Annotated[
        bool, typer.Option("--enforce-iam", help="Check every request against the caller's IAM policies.")
    ] = False,
    state_dir: StateDirOption = None,
) -> None:
    """Start the lab in the background (a running lab is reused)."""
    st = state(ctx)
    where = _state_dir(st, state_dir)
    before: LabInfo | None
    try:
        before = control.lab_status(where)
    except control.StaleLabError as exc:
        st.info(f"[yellow]{exc.message}; starting a new lab[/yellow]")
        before = None
    info = control.start_lab(where, enforce_iam=enforce_iam)
    reused = before is not None and before.pid == info.pid
    if st.json_output:
        st.emit_json({**info.to_json(), "reused": reused})
    else:
        st.info(("already running: " if reused else "started: ") + _describe(info))


@app.command("down")
def down(ctx: typer.Context, state_dir: StateDirOption = None) -> None:
    """Stop the lab (SIGTERM, then SIGKILL) and remove its record."""
    st = state(ctx)
    where = _state_dir(st, state_dir)
    stale = None
    try:
        control.lab_status(where)
    except control.StaleLabError as exc:
        stale = exc.message
    stopped = control.stop_lab(where)
    if st.json_output:
        st.emit_json({"stopped": stopped is not None, "pid": stopped.pid if stopped else None, "stale": bool(stale)})
    elif stopped is None:
        st.info("no lab was running")
    elif stale:
        st.info(f"removed the {stale}")
    elif Path(stopped.state_dir).resolve() != where:
        st.info(f"removed {where / 'lab.json'}; the lab itself belongs to {stopped.state_dir} and keeps running")
    else:
        st.info(f"stopped the lab at {stopped.endpoint} (pid {stopped.pid})")


@app.command("status")
def status(ctx: typer.Context, state_dir: StateDirOption = None) -> None:
    """Show the running lab: endpoint, pid, IAM enforcement, account IDs. Exit 15 if none runs or it is stale."""
    st = state(ctx)
    info = _running(st, state_dir)
    if st.json_output:
        st.emit_json(info.to_json())
    else:
        st.info(_describe(info))


@app.command("seed")
def seed(
    ctx: typer.Context,
    seed_value: Annotated[int, typer.Option("--seed", help="Deterministic estate: same seed, same data.")] = 1,
    state_dir: StateDirOption = None,
) -> None:
    """Bootstrap the accounts, write skyvault.toml if there is none, then build the demo estate."""
    st = state(ctx)
    info = _running(st, state_dir)
    control.bootstrap_accounts(info)
    path = st.config_path
    wrote_config = not path.exists()
    if wrote_config:
        # Through AppState.save so this command's cached (empty) config is replaced by the new one.
        st.save(write_lab_config(path, info))
        st.info(f"wrote {path} (accounts admin, {', '.join(sorted(info.tenants))})")
    # Imported here: the seeder's policy="lab" declarations enter the permission registry only when it runs.
    from skyvault.lab import estate

    accounts = ["admin", *sorted(info.tenants)]
    summary: dict[str, Any] = estate.seed_estate(st.factory(), info, accounts=accounts, seed=seed_value)
    if st.json_output:
        st.emit_json({"config": str(path), "wrote_config": wrote_config, "estate": summary})
    else:
        st.info(f"seeded the demo estate (seed {seed_value}):")
        for key, value in summary.items():
            if isinstance(value, dict):
                for name, detail in value.items():
                    st.info(f"  {key}.{name}: {_brief(detail)}")
            else:
                st.info(f"  {key}: {value}")


def _brief(detail: Any) -> str:
    """One line for a nested summary: scalars as is, collections by size."""
    if not isinstance(detail, dict):
        return str(detail)
    parts = []
    for key, value in detail.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {len(v) if isinstance(v, list | dict) else v}" for k, v in value.items())
        elif isinstance(value, list):
            value = len(value)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


@app.command("write-blocks")
def write_blocks(
    ctx: typer.Context,
    volume: Annotated[str, typer.Argument(help="EBS volume ID (vol-...).")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many 512 KiB blocks to write.")],
    seed_value: Annotated[int, typer.Option("--seed", help="Same seed, same indexes and bytes.")] = 0,
    compressible: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of each block that is repetitive text.")
    ] = 0.0,
    index: Annotated[
        list[int] | None, typer.Option("--index", min=0, help="Write at this block index (repeat; overrides random).")
    ] = None,
    zero: Annotated[bool, typer.Option("--zero", help="Write zeros (the lab stores them as absent blocks).")] = False,
    account: AccountOption = ADMIN_ACCOUNT_ID,
    region: RegionOption = "us-east-1",
    state_dir: StateDirOption = None,
) -> None:
    """A guest writing N random 512 KiB blocks at random indexes of a volume (or at the given --index)."""
    st = state(ctx)
    info = _running(st, state_dir)
    if index and len(index) != count:
        raise LabError(f"--count {count} but {len(index)} --index values", hint="give one --index per block")
    written = control.write_blocks(
        info,
        volume,
        count,
        seed_value,
        account_id=account,
        region=region,
        compressible=compressible,
        indices=index or None,
        zero=zero,
    )
    if st.json_output:
        st.emit_json(
            {
                "volume_id": written.volume_id,
                "indices": written.indices,
                "sha256": {str(k): v for k, v in written.sha256.items()},
            }
        )
    else:
        st.info(
            f"wrote {len(written.indices)} blocks of 512 KiB to {written.volume_id} ({written.volume_size_gib} GiB)"
        )


@app.command("checksum")
def checksum(
    ctx: typer.Context,
    resource: Annotated[str, typer.Argument(help="EBS volume (vol-...) or snapshot (snap-...) ID.")],
    account: AccountOption = ADMIN_ACCOUNT_ID,
    region: RegionOption = "us-east-1",
    state_dir: StateDirOption = None,
) -> None:
    """SHA-256 of the full logical contents (every block of the volume size; zeros where nothing was written)."""
    st = state(ctx)
    info = _running(st, state_dir)
    result = control.checksum(info, resource, account_id=account, region=region)
    if st.json_output:
        st.emit_json(
            {
                "id": result.resource_id,
                "sha256": result.sha256,
                "size_bytes": result.size_bytes,
                "blocks_present": result.blocks_present,
            }
        )
    else:
        typer.echo(f"{result.sha256}  {result.resource_id}")
