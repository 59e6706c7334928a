"""``skyvault restore RECOVERY_POINT``: one command for every kind; the point's driver runs ``restore-<kind>``.

Options that do not apply to the point's kind (each driver lists its ``restore_options``) are refused with a
usage error naming the kinds they apply to, before anything happens: ``--to-file`` on an EC2 point must not
launch an instance.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skyvault.cli import options as checks
from skyvault.cli.context import PASSPHRASE_ENV, AppState, state
from skyvault.cli.results import print_result
from skyvault.errors import ConfirmationRequiredError, NotBuiltError
from skyvault.services import registry

if TYPE_CHECKING:
    from skyvault.catalog import RecoveryPoint

# The job runner (SQLAlchemy, for the catalog) is imported when a restore runs: ``restore --help`` needs none of it.

_FLAGS = {"source": "--from"}  # option names whose flag is not --<name with hyphens>


def _flag(option: str) -> str:
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


def _refuse_foreign_options(point: RecoveryPoint, given: dict[str, Any]) -> None:
    """A usage error (exit 2) for the first given option the point's driver does not take."""
    accepted = registry.driver_for_kind(point.kind).restore_options
    for option in given:
        if option not in accepted:
            owners = registry.restore_option_owners(option)
            applies = f"applies to {', '.join(owners)} recovery points" if owners else "applies to no kind yet"
            raise typer.BadParameter(
                f"{applies}, not to {point.id} (kind {point.kind})", param_hint=f"'{_flag(option)}'"
            )


def _confirm(st: AppState, recovery_point: str, yes: bool) -> bool:
    if yes:
        return True
    confirmed = False
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
    return True


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
        region: Annotated[str | None, typer.Option(help="Restore into this region.", callback=checks.region)] = None,
        source: Annotated[str | None, typer.Option("--from", help="EC2: snapshot | library")] = None,
        name: Annotated[str | None, typer.Option(help="Name/identifier of the new resource.")] = None,
        instance_type: Annotated[str | None, typer.Option(help="EC2: instance type.")] = None,
        subnet: Annotated[str | None, typer.Option(help="EC2: subnet ID.")] = None,
        volumes_only: Annotated[bool, typer.Option("--volumes-only", help="EC2: create volumes only.")] = False,
        instance_class: Annotated[str | None, typer.Option(help="RDS/DocumentDB: instance class.")] = None,
        subnet_group: Annotated[str | None, typer.Option(help="RDS/DocumentDB/Redshift: subnet group.")] = None,
        node_type: Annotated[str | None, typer.Option(help="Redshift: node type.")] = None,
        table_name: Annotated[str | None, typer.Option(help="DynamoDB: new table name.")] = None,
        via: Annotated[
            str | None,
            typer.Option(help="DynamoDB: batch (BatchWriteItem, the default) or import (ImportTable, new table only)."),
        ] = None,
        export_bucket: Annotated[
            str | None,
            typer.Option(help="DynamoDB --via import: S3 bucket to stage the items in (default: the export's)."),
        ] = None,
        bucket: Annotated[str | None, typer.Option(help="S3: target bucket.")] = None,
        prefix: Annotated[str | None, typer.Option(help="S3: target prefix (replaces the backed-up one).")] = None,
        as_of: Annotated[
            str | None,
            typer.Option("--as-of", help="S3: the state at this time (ISO 8601)."),
        ] = None,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="S3: replace existing objects (with --yes).")
        ] = False,
    ) -> None:
        """Restore a recovery point to a new resource, or over the original only with --yes."""
        from skyvault.cli.jobrun import open_early, runner
        from skyvault.jobs.spec import JobSpec

        st = state(ctx)
        if target not in ("new", "original"):
            raise typer.BadParameter("must be 'new' or 'original'", param_hint="--target")
        point = st.recovery_point(recovery_point)
        job_kind = f"restore-{point.kind}"
        if point.kind not in registry.POINT_KINDS or job_kind not in registry.driver_for_kind(point.kind).jobs:
            raise NotBuiltError(f"restoring {point.kind!r} recovery points is not built yet")
        options = {
            "instance_type": instance_type,
            "subnet": subnet,
            "volumes_only": volumes_only or None,
            "instance_class": instance_class,
            "subnet_group": subnet_group,
            "node_type": node_type,
            "table_name": table_name,
            "via": via,
            "export_bucket": export_bucket,
            "bucket": bucket,
            "prefix": prefix,
            "as_of": as_of,
            "overwrite": overwrite or None,
        }
        common = {
            "target": target if target != "new" else None,
            "to_file": str(to_file.resolve()) if to_file is not None else None,
            "account": account,
            "region": region,
            "source": source,
            "name": name,
        }
        given = {key: value for key, value in {**common, **options}.items() if value is not None}
        _refuse_foreign_options(point, given)
        confirmed = _confirm(st, recovery_point, yes) if target == "original" else yes
        params = {
            "recovery_point": point.id,
            **{key: value for key, value in common.items() if value is not None},
            "target": target,
            "confirmed": confirmed,
            "options": {key: value for key, value in options.items() if value is not None},
        }
        # A disk image's library is opened (scrypt) while the runner loads, as `backup image` does; only without a
        # prompt, which must come after the job has refused a target it would not write.
        early = None
        if point.kind == "image" and point.library and os.environ.get(PASSPHRASE_ENV):
            early = open_early(st, point.library)
        print_result(st, job_kind, runner(st, early=early).run(JobSpec(job_kind, params)))
