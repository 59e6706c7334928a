"""``skyvault convert SOURCE...``: VM disk images (or image recovery points) into an EC2 instance or volumes.

Each SOURCE is a disk image file (raw, VHD, VHDX, VMDK, QCOW2), an OVA (its disks in the OVF's order), or the ID
of an image recovery point (``skyvault backups list --kind image``). The first disk is the boot disk. A preflight
says what will happen before anything is created (``--dry-run`` stops there); then one ``convert-image`` job runs
in this process (``cli.jobrun``), resumable with ``skyvault jobs resume``.

``--method vmimport --bucket B`` uploads the image files to B and lets VM Import/Export convert them (policy row
``convert-vmimport``); ``--create-vmimport-role`` creates its service role first (kept when it exists).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from skyvault.cli import options as checks
from skyvault.cli.context import AppState, default_account, state
from skyvault.cli.jobrun import environment, runner
from skyvault.errors import ConfirmationRequiredError, NotFoundError, PreflightError
from skyvault.jobs.spec import JobSpec
from skyvault.services.image.driver import CONVERT_JOB


def _sources(st: AppState, sources: list[str]) -> list[dict[str, str]]:
    """A file (resolved), else an image recovery point of the catalog."""
    found: list[dict[str, str]] = []
    for source in sources:
        path = Path(source)
        if path.exists():
            found.append({"path": str(path.resolve())})
            continue
        try:
            point = st.recovery_point(source)
        except NotFoundError:
            raise NotFoundError(
                f"{source!r} is neither a disk image file nor a recovery point",
                hint="give an image file (raw, VHD, VHDX, VMDK, QCOW2, OVA) or an ID from 'skyvault backups list'",
            ) from None
        found.append({"recovery_point": point.id})
    return found


def _gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB"


def print_plan(st: AppState, plan: dict[str, Any]) -> None:
    target = plan["target"]
    st.info(
        f"target: account {target['account']} ({target['account_id']}), {target['region']}, "
        f"subnet {target['subnet']} ({target['availability_zone']}); method {plan['method']}"
    )
    for position, disk in enumerate(plan["disks"]):
        role = "boot" if position == 0 else "data"
        st.info(
            f"  {disk['device']} ({role}): {disk['name']}: {disk['format']} {disk['variant']}, "
            f"virtual size {disk['virtual_size']:,} bytes ({_gib(disk['virtual_size'])}) -> "
            f"{disk['volume_size_gib']} GiB volume"
        )
    permissions = plan.get("permissions") or {}
    if permissions:
        verdict = "ok" if permissions["ok"] else f"MISSING {', '.join(permissions['missing'])}"
        unverified = f"; unverified: {', '.join(permissions['unverified'])}" if permissions["unverified"] else ""
        row = "convert-vmimport" if plan["method"] == "vmimport" else "convert"
        st.info(f"permissions (policy row {row}, checked by {permissions['method']}): {verdict}{unverified}")
    if plan["method"] == "vmimport":
        st.info(
            f"  uploads to s3://{plan['bucket']}, then {plan['import']} ({', '.join(plan['import_formats'])}) under "
            f"the vmimport role ({plan['vmimport_role']})"
        )
    if plan["volumes_only"]:
        st.info("  creates volumes only (no instance)")
    else:
        vm = plan.get("vm") or {}
        hardware = f" (image: {vm.get('cpus')} CPUs, {vm.get('memory_mib')} MiB)" if vm else ""
        st.info(
            f"  launches a {plan['instance_type']}{hardware}, boot mode {plan['boot_mode'] or 'AMI default'}, "
            f"{plan['architecture']}, ENA"
        )


def print_result(st: AppState, result: dict[str, Any]) -> None:
    if st.json_output:
        st.emit_json(result)
        return
    s = result["stats"]
    if result.get("instance_id"):
        st.info(f"instance {result['instance_id']} in {result['region']} ({result['account']})")
    for device, volume_id in result["volume_ids"].items():
        st.info(f"  {device}: {volume_id}")
    mb_s = s["logical_bytes"] / 1e6 / s["duration_s"] if s["duration_s"] else 0.0
    if result["method"] == "vmimport":
        resumed = f", {s['parts_resumed']} parts kept from a killed attempt" if s["parts_resumed"] else ""
        st.info(
            f"{s['bytes_uploaded']:,} bytes uploaded in {s['parts_uploaded']} parts{resumed}; import "
            f"{', '.join(result['import_task_ids'])}; {s['duration_s']} s ({mb_s:.1f} MB/s of image)"
        )
        for action in result["actions"]:
            st.info(f"  {action}")
        return
    st.info(
        f"{s['blocks_written']} blocks written ({s['bytes_written']:,} bytes of {s['logical_bytes']:,} logical), "
        f"{s['duration_s']} s ({mb_s:.1f} MB/s of image)"
    )
    for action in result["actions"]:
        st.info(f"  {action}")


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert_command(
        ctx: typer.Context,
        sources: Annotated[
            list[str], typer.Argument(help="Disk images or OVAs, or image recovery point IDs; the first boots.")
        ],
        method: Annotated[
            str, typer.Option(help="direct: EBS direct APIs; vmimport: S3 upload + VM Import/Export (--bucket).")
        ] = "direct",
        account: Annotated[str | None, typer.Option(help="Configured account (default: the admin/only one).")] = None,
        region: Annotated[
            str | None, typer.Option(help="Region (default: the account's first).", callback=checks.region)
        ] = None,
        instance_type: Annotated[
            str | None, typer.Option(help="Instance type (default: from the OVA's CPUs/memory, else t3.micro).")
        ] = None,
        subnet: Annotated[str | None, typer.Option(help="Subnet ID (default: the region's default subnet).")] = None,
        boot_mode: Annotated[str | None, typer.Option(help="legacy-bios | uefi (default: the AMI's).")] = None,
        architecture: Annotated[str, typer.Option(help="x86_64 | arm64.")] = "x86_64",
        volumes_only: Annotated[bool, typer.Option("--volumes-only", help="Create volumes, no instance.")] = False,
        name: Annotated[str | None, typer.Option(help="Name tag of the instance.")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the preflight only; create nothing.")] = False,
        bucket: Annotated[
            str | None, typer.Option(help="vmimport: S3 bucket of the target region to upload the images to.")
        ] = None,
        create_vmimport_role: Annotated[
            bool,
            typer.Option(
                "--create-vmimport-role", help="vmimport: create the vmimport service role (kept if it exists)."
            ),
        ] = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation after the preflight.")] = (
            False
        ),
    ) -> None:
        """Convert a VM disk image into EC2 (EBS direct write or VM Import/Export)."""
        st = state(ctx)
        if method not in ("direct", "vmimport"):
            raise typer.BadParameter("must be 'direct' or 'vmimport'", param_hint="--method")
        if create_vmimport_role and method != "vmimport":
            raise typer.BadParameter("only with --method vmimport", param_hint="--create-vmimport-role")
        if method == "vmimport" and not bucket:
            raise PreflightError(
                "--method vmimport uploads the images to S3 first: give --bucket BUCKET (a bucket of the target "
                "region that the vmimport role may read)",
                hint="'skyvault policy vmimport --bucket BUCKET' renders the role for that bucket",
            )
        if boot_mode not in (None, "legacy-bios", "uefi"):
            raise typer.BadParameter("must be 'legacy-bios' or 'uefi'", param_hint="--boot-mode")
        if architecture not in ("x86_64", "arm64"):
            raise typer.BadParameter("must be 'x86_64' or 'arm64'", param_hint="--architecture")
        chosen = default_account(st, account)
        where = region or st.config().account(chosen).regions[0]
        params: dict[str, Any] = {
            "sources": _sources(st, sources),
            "method": method,
            "account": chosen,
            "region": where,
            "instance_type": instance_type,
            "subnet": subnet,
            "boot_mode": boot_mode,
            "architecture": architecture,
            "volumes_only": volumes_only,
            "name": name,
            "bucket": bucket,
        }
        params = {key: value for key, value in params.items() if value is not None}
        from skyvault.engine.preflight import preflight as check_permissions
        from skyvault.services.image import convert, vmimport

        env = environment(st)
        row = vmimport.ROW if method == "vmimport" else "convert"
        if create_vmimport_role and bucket:
            if dry_run:
                role = vmimport.role_state(env.factory, chosen, where)
                st.info(f"vmimport role: {role} ({'kept' if role == 'present' else 'created when not a dry run'})")
            else:
                outcome = vmimport.ensure_role(env.factory, chosen, bucket, where)
                st.info(f"vmimport role {outcome} in account {chosen}")
        plan = convert.preflight(env.factory, env.catalog, env.open_library, params)
        if method == "vmimport":
            required = vmimport.required_permissions(create_role=create_vmimport_role)
            values = {"Bucket": str(bucket)}
            report = check_permissions(env.factory, chosen, rows=[row], region=where, values=values, registry=required)
        else:
            report = check_permissions(env.factory, chosen, rows=[row], region=where)
        plan["permissions"] = {
            "method": report.method,
            "ok": report.ok,
            "missing": report.missing_actions(),
            "unverified": sorted({a for r in report.results for a in r.unverified}),
        }
        if dry_run:
            if st.json_output:
                st.emit_json({"dry_run": True, **plan})
            else:
                print_plan(st, plan)
                st.info("dry run: nothing was created")
            return
        if not report.ok:
            raise PreflightError(
                f"account {chosen!r} lacks {', '.join(plan['permissions']['missing'])} (policy row {row!r}); "
                "nothing was created",
                hint=f"'skyvault policy {row}' renders what to attach; 'skyvault check --account A' explains",
            )
        if not st.json_output:
            print_plan(st, plan)
        if not yes and sys.stdin.isatty() and not st.json_output and not typer.confirm("Convert?", default=True):
            raise ConfirmationRequiredError("conversion not confirmed; nothing was created")
        print_result(st, runner(st).run(JobSpec(CONVERT_JOB, params)))
