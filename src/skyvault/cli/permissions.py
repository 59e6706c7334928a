"""``skyvault policy|permissions|check``: generated policies, the usage table, and the preflight check.

``policy`` takes policy rows (``ec2 rds ...``) or one special form: ``trust --admin-account ID --external-id X``,
``admin --tenant-role ARN...`` or ``vmimport --bucket B``. JSON output is the policy document itself, or, when
the rows exceed IAM's managed-policy size and are split, a list of ``{"name", "document"}``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from skyvault.cli import options
from skyvault.cli.context import AppState, state
from skyvault.config import SkyvaultConfig
from skyvault.engine.preflight import preflight
from skyvault.errors import ConfigError, PreflightError
from skyvault.permissions.check import PreflightReport
from skyvault.permissions.cloudformation import render_cloudformation
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.render import POLICY_ROWS, PolicyDocument, render_policies
from skyvault.permissions.terraform import render_terraform
from skyvault.permissions.trust import admin_policy, tenant_trust_policy, vmimport_policies
from skyvault.permissions.usage import UsageRow, markdown_document, markdown_table, usage_rows

SPECIAL = ("trust", "admin", "vmimport")


class PolicyFormat(StrEnum):
    JSON = "json"
    CLOUDFORMATION = "cloudformation"
    TERRAFORM = "terraform"


class TableFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _documents_json(documents: list[PolicyDocument]) -> Any:
    if len(documents) == 1:
        return documents[0].document()
    return [{"name": d.name, "document": d.document()} for d in documents]


def _special(
    kind: str,
    *,
    admin_account: str | None,
    external_id: str | None,
    admin_principal: list[str],
    tenant_role: list[str],
    bucket: str | None,
    kms_key: str | None,
    partition: str,
) -> Any:
    if kind == "trust":
        if not admin_account or not external_id:
            raise typer.BadParameter("'skyvault policy trust' needs --admin-account ID and --external-id X")
        return tenant_trust_policy(admin_account, external_id, admin_principals=admin_principal, partition=partition)
    if kind == "admin":
        return _documents_json(admin_policy(tenant_role))
    if not bucket:
        raise typer.BadParameter(
            "'skyvault policy vmimport' needs --bucket (the bucket VM Import/Export reads images from)"
        )
    return vmimport_policies(bucket, kms_key=kms_key, partition=partition)


def _check_rows(rows: list[str], *, allowed: tuple[str, ...]) -> None:
    """An unknown row is a bad argument: a usage error (exit 2) for ``policy`` and ``permissions`` alike."""
    unknown = [row for row in rows if row not in allowed]
    if unknown:
        raise typer.BadParameter(
            f"unknown policy row {', '.join(map(repr, unknown))} (known rows: {', '.join(allowed)})",
            param_hint="ROW",
        )


def register(app: typer.Typer) -> None:
    @app.command("policy")
    def policy(
        ctx: typer.Context,
        rows: Annotated[
            list[str],
            typer.Argument(
                help=f"Policy rows ({', '.join(POLICY_ROWS)}), or one of: trust, admin, vmimport.",
                show_default=False,
            ),
        ],
        restricted: Annotated[
            bool, typer.Option("--restricted", help="Destructive actions only on skyvault-tagged resources.")
        ] = False,
        output_format: Annotated[PolicyFormat, typer.Option("--format", "-f")] = PolicyFormat.JSON,
        partition: Annotated[str, typer.Option(help="ARN partition (aws, aws-cn, aws-us-gov).")] = "aws",
        account_id: Annotated[str | None, typer.Option(help="Scope ARNs to this account ID (default *).")] = None,
        region: Annotated[
            str | None, typer.Option(help="Scope ARNs to this region (default *).", callback=options.region)
        ] = None,
        bucket: Annotated[
            str | None, typer.Option(help="Library bucket (library row) / image bucket (vmimport).")
        ] = None,
        prefix: Annotated[str | None, typer.Option(help="Library prefix inside the bucket (library row).")] = None,
        admin_account: Annotated[str | None, typer.Option(help="trust: the admin account ID.")] = None,
        external_id: Annotated[str | None, typer.Option(help="trust: the tenant's external ID.")] = None,
        admin_principal: Annotated[
            list[str] | None, typer.Option(help="trust: only these admin role/user ARNs (default: the account).")
        ] = None,
        tenant_role: Annotated[list[str] | None, typer.Option(help="admin: tenant role ARN (repeat).")] = None,
        kms_key: Annotated[str | None, typer.Option(help="vmimport: KMS key ARN for encrypted imports.")] = None,
    ) -> None:
        """Render least-privilege IAM policies from the permission registry."""
        st = state(ctx)
        load_declarations()
        _check_rows(rows, allowed=tuple(dict.fromkeys((*POLICY_ROWS, *SPECIAL))))
        special = [r for r in rows if r in SPECIAL]
        if special:
            if len(rows) > 1:
                raise typer.BadParameter(f"'skyvault policy {special[0]}' takes no other rows (got {' '.join(rows)})")
            if restricted:
                raise typer.BadParameter(
                    f"--restricted applies to policy rows; 'skyvault policy {special[0]}' has nothing to restrict"
                )
            if output_format is not PolicyFormat.JSON:
                raise typer.BadParameter(
                    f"'skyvault policy {special[0]}' prints JSON only; the CloudFormation/Terraform output of "
                    "'skyvault policy ROW...' already contains the tenant role and its trust"
                )
            st.emit_json(
                _special(
                    special[0],
                    admin_account=admin_account,
                    external_id=external_id,
                    admin_principal=admin_principal or [],
                    tenant_role=tenant_role or [],
                    bucket=bucket,
                    kms_key=kms_key,
                    partition=partition,
                )
            )
            return
        if output_format is PolicyFormat.CLOUDFORMATION:
            _write(render_cloudformation(rows, restricted=restricted))
            return
        if output_format is PolicyFormat.TERRAFORM:
            _write(render_terraform(rows, restricted=restricted))
            return
        values = {"Partition": partition}
        for key, value in (("Account", account_id), ("Region", region), ("Bucket", bucket), ("Prefix", prefix)):
            if value:
                values[key] = value.strip("/") if key == "Prefix" else value
        if "library" in rows and not bucket:
            st.err_console.print(
                "[yellow]library row without --bucket/--prefix: its S3 statements name any bucket and prefix; "
                "pass the library's to scope them[/]"
            )
        documents = render_policies(rows, restricted=restricted, values=values)
        if len(documents) > 1:
            st.err_console.print(
                f"[yellow]split into {len(documents)} managed policies (IAM's limit is 6,144 characters each)[/]"
            )
        st.emit_json(_documents_json(documents))

    @app.command("permissions")
    def permissions(
        ctx: typer.Context,
        service: Annotated[str | None, typer.Argument(help="Only this policy row.")] = None,
        output_format: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.TABLE,
    ) -> None:
        """The permission-usage table: each action, the steps that use it, and why."""
        st = state(ctx)
        registry = load_declarations()
        if service is not None:
            _check_rows([service], allowed=tuple(POLICY_ROWS))
        selected = [service] if service else list(POLICY_ROWS)
        rows = usage_rows(selected, registry)
        if st.json_output or output_format is TableFormat.JSON:
            st.emit_json([r.to_json() for r in rows])
            return
        if output_format is TableFormat.MARKDOWN:
            _write(markdown_document(registry) if service is None else markdown_table(rows))
            return
        _print_usage(st, rows)

    @app.command("check")
    def check(
        ctx: typer.Context,
        account: Annotated[list[str] | None, typer.Option("--account", "-a", help="Account(s); default all.")] = None,
        service: Annotated[
            list[str] | None, typer.Option("--service", "-s", help="Policy row(s); default every tenant row.")
        ] = None,
        region: Annotated[
            str | None, typer.Option("--region", "-r", help="Region to ask (default: first).", callback=options.region)
        ] = None,
    ) -> None:
        """Preflight: test an account's real credentials against the registry."""
        st = state(ctx)
        registry = load_declarations()
        config = st.config()
        names = _split(account) or list(config.accounts)
        if not names:
            raise ConfigError("no accounts configured", hint="add one with 'skyvault accounts add'")
        rows = _split(service) or []
        values = _library_values(config)
        reports = [
            preflight(st.factory(), name, rows=rows, region=region, values=values, registry=registry) for name in names
        ]
        if st.json_output:
            st.emit_json([r.to_json() for r in reports])
        else:
            for report in reports:
                _print_report(st, report)
        failed = [r for r in reports if not r.ok]
        if failed:
            details = "; ".join(f"{r.account}: {', '.join(r.missing_actions())}" for r in failed)
            row_hint = " ".join(rows) if rows else "ROW..."
            raise PreflightError(
                f"missing permissions: {details}",
                hint=f"grant them with the policy printed by 'skyvault policy {row_hint}'",
            )


# Below this many columns the six-column table would split words and ARNs: each action becomes a block instead.
TABLE_MIN_WIDTH = 120


def _print_usage(st: AppState, rows: list[UsageRow]) -> None:
    """The usage table on a wide terminal (or piped: whole values); one block per action on a narrow one."""
    console = st.table_console
    if console.width >= TABLE_MIN_WIDTH:
        table = Table(title="skyvault permission usage", show_lines=True)
        table.add_column("Action", no_wrap=True)  # identifiers are copied into policies: never split them
        for column in ("Rows", "Features", "Steps", "Why", "Restricted policy"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(
                r.action,
                ", ".join(r.policies),
                ", ".join(r.features),
                "; ".join(r.steps),
                " ".join(r.purposes),
                r.restricted or "-",
            )
        console.print(table)
        return
    console.print("[bold]skyvault permission usage[/bold]")
    for r in rows:
        console.print()
        console.print(f"[bold]{r.action}[/bold]", highlight=False, soft_wrap=True)
        for label, value in (
            ("rows", ", ".join(r.policies)),
            ("features", ", ".join(r.features)),
            ("steps", "; ".join(r.steps)),
            ("why", " ".join(r.purposes)),
            ("restricted", r.restricted or "-"),
        ):
            # Indented as a block, so wrapped lines stay under their label.
            console.print(
                Padding(Text.assemble((f"{label}: ", "dim"), value), (0, 0, 0, 2), expand=False), highlight=False
            )


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _library_values(config: SkyvaultConfig) -> dict[str, str]:
    """The default S3 library's bucket and prefix, so the library row is checked on the real bucket."""
    name = config.default_library or next(iter(config.libraries), None)
    library = config.libraries.get(name) if name else None
    if library is None or library.kind != "s3" or not library.url:
        return {}
    bucket, _, prefix = library.url[len("s3://") :].partition("/")
    values = {"Bucket": bucket}
    if prefix.strip("/"):
        values["Prefix"] = prefix.strip("/")
    return values


def _print_report(st: AppState, report: PreflightReport) -> None:
    how = {"simulate": "iam:SimulatePrincipalPolicy", "dryrun": "EC2 DryRun probes", "root": "root credentials"}
    st.console.print(f"[bold]{report.account}[/] ({report.principal}), checked with {how[report.method]}")
    if report.simulate_denied is not None:
        st.console.print(
            "  [yellow]iam:SimulatePrincipalPolicy was denied: EC2 actions probed with DryRun, others unverified "
            "(grant the 'check' row: skyvault policy ROW... check)[/]"
        )
    for result in report.results:
        if result.status == "ok":
            st.console.print(f"  [green]OK[/]       {result.policy} / {result.feature}")
        elif result.status == "missing":
            st.console.print(f"  [red]MISSING[/]  {result.policy} / {result.feature}: {', '.join(result.missing)}")
        else:
            st.console.print(
                f"  [yellow]UNVERIFIED[/] {result.policy} / {result.feature}: {', '.join(result.unverified)}"
            )
