"""``skyvault backup <service>`` and ``skyvault backups list|show``.

Each service's ``backup`` subcommand lives in its own module; ``register`` lists them explicitly.
"""

from __future__ import annotations

from typing import Annotated

import typer

from skyvault.cli.context import state
from skyvault.cli.lazy import LazyCommand, LazyGroup
from skyvault.cli.tables import Column, print_table

app = typer.Typer(help="Back up resources (one subcommand per service).", no_args_is_help=True)
backups_app = typer.Typer(help="Recovery points in the catalog: list, show, hold, release.", no_args_is_help=True)


@backups_app.command("list")
def backups_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="ec2, rds, image, ...")] = None,
    resource: Annotated[str | None, typer.Option("--resource", help="Only this resource ID.")] = None,
    all_states: Annotated[bool, typer.Option("--all", help="Include failed and expired points.")] = False,
) -> None:
    """List recovery points, oldest first."""
    st = state(ctx)
    catalog = st.catalog_if_any()  # none yet: nothing backed up here, and listing creates nothing
    status = None if all_states else "completed"
    points = catalog.recovery_points(kind=kind, resource_id=resource, status=status) if catalog else []
    if st.json_output:
        st.emit_json([p.to_dict() for p in points])
        return
    columns = [
        Column("id", identifier=True),
        Column("kind"),
        Column("resource", identifier=True),
        Column("account", hide_rank=3),
        Column("region", hide_rank=4),
        Column("created", hide_rank=2),
        Column("native", hide_rank=5),
        Column("library copy", hide_rank=6),
        Column("status", hide_rank=1),
    ]
    rows = [
        [
            p.id,
            p.kind,
            p.resource_id,
            p.account,
            p.region,
            p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            ", ".join(f"{k}={v}" for k, v in p.native.items() if isinstance(v, str)) or "-",
            p.library_snapshot or "-",
            p.status,
        ]
        for p in points
    ]
    print_table(st.table_console, "recovery points", columns, rows)


@backups_app.command("show")
def backups_show(ctx: typer.Context, recovery_point: str) -> None:
    """Show one recovery point with its captured configuration and stats."""
    st = state(ctx)
    point = st.recovery_point(recovery_point)
    if st.json_output:
        st.emit_json(point.to_dict())
        return
    from rich.pretty import Pretty

    st.console.print(Pretty(point.to_dict()))


@backups_app.command("hold")
def backups_hold(
    ctx: typer.Context,
    recovery_point: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (a case or ticket): shown by backups show.")],
) -> None:
    """Put a legal hold on a recovery point: no retention expires it until it is released."""
    st = state(ctx)
    if not reason.strip():
        raise typer.BadParameter("must say why", param_hint="--reason")
    point = st.recovery_point(recovery_point)
    held = st.catalog().hold_recovery_point(point.id, reason.strip())
    if st.json_output:
        st.emit_json(held.to_dict())
    else:
        st.info(f"{held.id}: held ({held.hold_reason})")


@backups_app.command("release")
def backups_release(ctx: typer.Context, recovery_point: str) -> None:
    """Release a recovery point's legal hold: its plan's retention applies to it again."""
    st = state(ctx)
    point = st.recovery_point(recovery_point)
    released = st.catalog().release_recovery_point(point.id)
    if st.json_output:
        st.emit_json(released.to_dict())
    else:
        st.info(f"{released.id}: released" + ("" if point.hold_reason else " (it was not held)"))


_DATABASES = "skyvault.cli.backup_databases:register"

# Every service's subcommand, listed here (none registers itself by being imported) and loaded only when it runs:
# ``backup image`` never imports the AWS services' command modules. tests/core/test_startup.py checks each help.
BACKUP_COMMANDS: dict[str, LazyCommand] = {
    "rds": LazyCommand("Back up RDS DB instances (DB snapshots).", _DATABASES),
    "aurora": LazyCommand(
        "Back up Aurora clusters (cluster snapshots; restores add the writer after the cluster).", _DATABASES
    ),
    "docdb": LazyCommand(
        "Back up DocumentDB clusters (cluster snapshots; restores add the instances after the cluster).", _DATABASES
    ),
    "redshift": LazyCommand(
        "Back up Redshift clusters (manual snapshots; vault copies by restore-and-snapshot).", _DATABASES
    ),
    "ec2": LazyCommand(
        "Back up EC2 instances: crash-consistent snapshots, then changed-block copies into the library.",
        "skyvault.cli.backup_ec2:register",
    ),
    "s3": LazyCommand(
        "Back up S3 buckets, prefixes or S3 on Outposts access points into the library, incrementally.",
        "skyvault.cli.backup_s3:register",
    ),
    "dynamodb": LazyCommand(
        "Back up DynamoDB tables: parallel Scan or an export to S3 into the library, or native on-demand backups.",
        "skyvault.cli.backup_dynamodb:register",
    ),
    "image": LazyCommand(
        "Back up raw disk images into the library, incrementally against each image's previous recovery point.",
        "skyvault.cli.backup_image:register",
    ),
}


class BackupGroup(LazyGroup):
    lazy_commands = BACKUP_COMMANDS


def register(root: typer.Typer) -> None:
    """``skyvault backup``: the services' subcommands (lazily) and the ones still to be built."""
    group = typer.Typer(cls=BackupGroup, help=app.info.help, no_args_is_help=True)

    @group.callback(invoke_without_command=True)
    def backup_plan(
        ctx: typer.Context,
        plan: Annotated[
            str | None, typer.Option("--plan", help="Run this backup plan now (one job per resource).")
        ] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="With --plan: list the jobs it would run.")] = False,
    ) -> None:
        """Back up resources (one subcommand per service), or run a plan now with --plan NAME."""
        if ctx.invoked_subcommand is not None:
            if plan is not None or dry_run:
                raise typer.BadParameter(
                    "goes before no subcommand: 'skyvault backup --plan NAME'", param_hint="--plan"
                )
            return
        if plan is None:
            raise typer.BadParameter("say which plan, or name a service: 'skyvault backup --plan NAME'")
        from skyvault.cli.plans import run_plan_now

        run_plan_now(state(ctx), plan, dry_run=dry_run)

    for command in app.registered_commands:  # commands of the contract not built yet (none today)
        group.registered_commands.append(command)
    root.add_typer(group, name="backup")
