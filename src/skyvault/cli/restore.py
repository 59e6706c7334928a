"""``skyvault restore RECOVERY_POINT``: one command for every kind; the handler is chosen by the point's kind."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from skyvault.cli import options
from skyvault.cli.context import state
from skyvault.engine.restore import RestoreRequest, restore
from skyvault.errors import ConfirmationRequiredError


def register(app: typer.Typer) -> None:
    @app.command("restore")
    def restore_command(
        ctx: typer.Context,
        recovery_point: Annotated[str, typer.Argument(help="Recovery point ID (skyvault backups list).")],
        target: Annotated[str, typer.Option(help="new: a new resource; original: replace the original.")] = "new",
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Confirm replacing the original, or an existing --to-file target.")
        ] = False,
        to_file: Annotated[
            Path | None,
            typer.Option("--to-file", help="Disk images: write to this file (or onto this block device)."),
        ] = None,
        account: Annotated[str | None, typer.Option(help="Restore into this configured account.")] = None,
        region: Annotated[str | None, typer.Option(help="Restore into this region.", callback=options.region)] = None,
        source: Annotated[str | None, typer.Option("--from", help="snapshot | library")] = None,
        name: Annotated[str | None, typer.Option(help="Name/identifier of the new resource.")] = None,
        instance_type: Annotated[str | None, typer.Option(help="EC2: instance type.")] = None,
        subnet: Annotated[str | None, typer.Option(help="EC2: subnet ID.")] = None,
        volumes_only: Annotated[bool, typer.Option("--volumes-only", help="EC2: create volumes only.")] = False,
        instance_class: Annotated[str | None, typer.Option(help="RDS/DocumentDB: instance class.")] = None,
        subnet_group: Annotated[str | None, typer.Option(help="RDS/DocumentDB/Redshift: subnet group.")] = None,
        node_type: Annotated[str | None, typer.Option(help="Redshift: node type.")] = None,
        table_name: Annotated[str | None, typer.Option(help="DynamoDB: new table name.")] = None,
        bucket: Annotated[str | None, typer.Option(help="S3: target bucket.")] = None,
        prefix: Annotated[str | None, typer.Option(help="S3: target prefix.")] = None,
    ) -> None:
        """Restore a recovery point to a new resource, or over the original only with --yes."""
        st = state(ctx)
        if target not in ("new", "original"):
            raise typer.BadParameter("must be 'new' or 'original'", param_hint="--target")
        confirmed = yes
        if target == "original" and not yes:
            if sys.stdin.isatty() and not st.json_output:
                confirmed = typer.confirm(
                    f"Replace the ORIGINAL resource of {recovery_point}? The original is stopped or renamed and "
                    "kept until the replacement is verified (see the service's docs for what happens to it then)",
                    default=False,
                )
            if not confirmed:
                raise ConfirmationRequiredError(
                    "restoring over the original needs explicit confirmation; nothing was changed",
                    hint="add --yes (or restore with --target new)",
                )
        catalog = st.catalog()
        point = catalog.recovery_point(recovery_point)
        options = {
            key: value
            for key, value in {
                "instance_type": instance_type,
                "subnet": subnet,
                "volumes_only": volumes_only or None,
                "instance_class": instance_class,
                "subnet_group": subnet_group,
                "node_type": node_type,
                "table_name": table_name,
                "bucket": bucket,
                "prefix": prefix,
            }.items()
            if value is not None
        }
        result = restore(
            RestoreRequest(
                point=point,
                catalog=catalog,
                target=target,
                confirmed=confirmed,
                to_file=to_file,
                account=account,
                region=region,
                source=source,
                name=name,
                options=options,
                context=st,
            )
        )
        if st.json_output:
            st.emit_json(result)
        else:
            for key, value in result.items():
                st.info(f"{key}: {value}")
