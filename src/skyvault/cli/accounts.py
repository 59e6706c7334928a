"""``skyvault accounts add|list|remove``: named AWS accounts and how skyvault authenticates to them."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from skyvault.cli.context import state
from skyvault.config import AccountConfig, AuthMethod, parse_config
from skyvault.errors import ConfigError, ConflictError, NotFoundError, SkyvaultError

app = typer.Typer(help="AWS accounts: add, list, remove.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name, e.g. admin, prod, tenant-a.")],
    auth: Annotated[AuthMethod, typer.Option(help="default | keys | assume_role")] = AuthMethod.DEFAULT,
    region: Annotated[list[str] | None, typer.Option("--region", "-r", help="Repeat for several regions.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile (default/keys).")] = None,
    credentials_file: Annotated[str | None, typer.Option(help="Shared credentials file for the profile.")] = None,
    access_key_id_env: Annotated[str | None, typer.Option(help="Env var holding the access key ID.")] = None,
    secret_access_key_env: Annotated[str | None, typer.Option(help="Env var holding the secret key.")] = None,
    session_token_env: Annotated[str | None, typer.Option(help="Env var holding a session token.")] = None,
    role_arn: Annotated[str | None, typer.Option(help="Tenant role to assume (assume_role).")] = None,
    external_id: Annotated[str | None, typer.Option(help="External ID the tenant role requires.")] = None,
    source_account: Annotated[str | None, typer.Option(help="Configured account to assume from.")] = None,
    account_id: Annotated[str | None, typer.Option(help="Expected 12-digit account ID (verified).")] = None,
    endpoint_url: Annotated[str | None, typer.Option(help="Endpoint (local lab, LocalStack).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an account of the same name.")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Check the credentials now.")] = False,
) -> None:
    """Add an account. Secrets are never stored: keys come from env vars or profiles at run time."""
    st = state(ctx)
    config = st.config(missing_ok=True)
    if name in config.accounts and not replace:
        raise ConflictError(f"account {name!r} already exists", hint="use --replace to change it")
    fields: dict[str, Any] = {
        "auth": auth,
        "profile": profile,
        "credentials_file": credentials_file,
        "access_key_id_env": access_key_id_env,
        "secret_access_key_env": secret_access_key_env,
        "session_token_env": session_token_env,
        "role_arn": role_arn,
        "external_id": external_id,
        "source_account": source_account,
        "account_id": account_id,
        "endpoint_url": endpoint_url,
    }
    if region:
        fields["regions"] = region
    try:
        account = AccountConfig(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or name}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise ConfigError(f"account {name!r}: {problems}") from None
    data = config.model_dump(mode="json", exclude_none=True)
    data.setdefault("accounts", {})[name] = account.model_dump(mode="json", exclude_none=True)
    updated = parse_config(data, str(st.config_path))
    if verify:
        st._config = updated
        st._factory = None
        account_number = st.factory().account_id(name)
        st.info(f"credentials OK: account {account_number}")
    st.save(updated)
    if st.json_output:
        st.emit_json({"account": name, **account.model_dump(mode="json", exclude_none=True)})
    else:
        st.info(f"added account {name!r} ({account.auth}) to {st.config_path}")


@app.command("list")
def list_accounts(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option("--verify", help="Resolve each account's ID with its credentials.")] = False,
) -> None:
    """List configured accounts (never shows secrets)."""
    st = state(ctx)
    config = st.config()
    rows: list[dict[str, Any]] = []
    for name, account in config.accounts.items():
        row: dict[str, Any] = {
            "name": name,
            "auth": str(account.auth),
            "account_id": account.account_id or account.role_account_id,
            "regions": account.regions,
            "endpoint_url": account.endpoint_url,
            "source_account": account.source_account,
            "role_arn": account.role_arn,
        }
        if verify:
            try:
                row["account_id"] = st.factory().account_id(name)
                row["verified"] = True
            except SkyvaultError as exc:
                row["verified"] = False
                row["error"] = exc.message
        rows.append(row)
    if st.json_output:
        st.emit_json(rows)
        return
    table = Table(title=f"accounts in {st.config_path}")
    for column in ("name", "auth", "account id", "regions", "via", "endpoint"):
        table.add_column(column)
    if verify:
        table.add_column("verified")
    for row in rows:
        cells = [
            row["name"],
            row["auth"],
            row["account_id"] or "?",
            ", ".join(row["regions"]),
            row["source_account"] or "",
            row["endpoint_url"] or "",
        ]
        if verify:
            cells.append("yes" if row["verified"] else f"no: {row.get('error', '')}")
        table.add_row(*cells)
    st.console.print(table)


@app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Remove an account (refused while another account or a library depends on it)."""
    st = state(ctx)
    config = st.config()
    if name not in config.accounts:
        raise NotFoundError(f"no account named {name!r}", hint="skyvault accounts list")
    users = [n for n, a in config.accounts.items() if a.source_account == name]
    users += [f"library {n}" for n, lib in config.libraries.items() if lib.account == name]
    if users:
        raise ConflictError(f"account {name!r} is used by: {', '.join(users)}", hint="remove or change those first")
    data = config.model_dump(mode="json", exclude_none=True)
    del data["accounts"][name]
    st.save(parse_config(data, str(st.config_path)))
    if st.json_output:
        st.emit_json({"removed": name})
    else:
        st.info(f"removed account {name!r}")
