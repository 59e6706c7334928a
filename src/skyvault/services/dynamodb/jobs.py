"""DynamoDB job bodies: ``backup-dynamodb`` (scan into the library, or native backups) and ``restore-dynamodb``.

A backup job covers the tables of one ``skyvault backup dynamodb`` call. Per table: a recovery point opened as
``running`` (a failed run leaves a findable ``failed`` point), the schema captured, then either

- ``scan``: an optional temporary read-capacity raise (recorded as an intermediate *before* UpdateTable, so the
  runner's cleanup reverts it after a failure, and ``skyvault cleanup`` / ``jobs resume`` after a kill), the
  parallel scan into the library, the capacity reverted at once;
- ``native``: CreateBackup (recorded as an intermediate by name before it is made, released once the recovery
  point owns it), waited for until AVAILABLE;
- ``export``: ExportTableToPointInTime to the export bucket (its objects recorded as an intermediate before the
  request), waited for, ingested into the library as the scan's tree format, the objects deleted (``export.py``).

A restore is a BatchWriteItem restore (``restore.py``), RestoreTableFromBackup for a native point, or with ``via``
``import`` the point's items staged in S3 and ImportTable into a new table (``export.py``).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog, Job, RecoveryPoint
from skyvault.catalog.store import new_id
from skyvault.errors import AwsError, ConflictError, LibraryCorruptError, LibraryError, NotFoundError
from skyvault.library.repository import Repository
from skyvault.library.snapshots import Manifest
from skyvault.permissions import Feature, declare
from skyvault.services.contract import JobEnvironment
from skyvault.services.dynamodb import export as exports
from skyvault.services.dynamodb import items as codec
from skyvault.services.dynamodb import native
from skyvault.services.dynamodb import restore as restores
from skyvault.services.dynamodb import schema as schemas
from skyvault.services.dynamodb.scan import KIND, ScanOptions, backup_items
from skyvault.services.dynamodb.schema import TABLE_ARN

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import TagTypeDef

    from skyvault.aws.clients import DynamoDBClient
    from skyvault.jobs.context import JobContext
    from skyvault.jobs.spec import JobSpec

__all__ = [
    "BACKUP_JOB", "CLEANERS", "KIND", "RESTORE_JOB", "backup_job", "backup_params", "expire", "prepare_resume",
    "restore_job",
]  # fmt: skip

BACKUP_JOB = f"backup-{KIND}"
RESTORE_JOB = f"restore-{KIND}"
METHODS = ("scan", "native", "export")
LIBRARY_METHODS = ("scan", "export")
VIAS = ("batch", "import")
READ_CAPACITY = "dynamodb-read-capacity"
DEFAULT_ON_DEMAND_RATE = 1000.0  # read units per second for on-demand tables (configurable per job)
DEFAULT_FRACTION = 0.5
DEFAULT_WORKERS = 4

declare(policy="dynamodb", service="dynamodb", operation="UpdateTable", feature=Feature.BACKUP,
        step="raise read capacity", purpose="--raise-read-capacity: raise the table's provisioned read capacity "
        "for the scan, and put it back afterwards (also after a failure: recorded as an intermediate).",
        resources=(TABLE_ARN,))  # fmt: skip
declare(
    policy="dynamodb",
    service="dynamodb",
    operation="ListBackups",
    feature=Feature.BACKUP,
    step="remove failed backup",
    purpose="Find the backup a failed job made, by its skyvault- name.",
)


def backup_params(
    *,
    tables: list[str],
    account: str,
    region: str,
    method: str = "scan",
    library: str | None = None,
    max_read_fraction: float = DEFAULT_FRACTION,
    on_demand_read_rate: float = DEFAULT_ON_DEMAND_RATE,
    consistent_read: bool = False,
    raise_read_capacity: int | None = None,
    workers: int = DEFAULT_WORKERS,
    retain_days: float | None = None,
    export_bucket: str | None = None,
    keep_export: bool = False,
    full_export: bool = False,
) -> dict[str, Any]:
    """The ``params`` of a ``backup-dynamodb`` job (what the CLI and tests build)."""
    if method not in METHODS:
        raise ConflictError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    if method in LIBRARY_METHODS and not library:
        raise ConflictError(f"a {method} backup needs a library")
    if method == "export" and not export_bucket:
        raise ConflictError("an export backup needs an S3 bucket for the export", hint="add --export-bucket BUCKET")
    if not 0 < max_read_fraction <= 1:
        raise ConflictError("--max-read-fraction must be in (0, 1]")
    return {
        "tables": list(tables), "account": account, "region": region, "method": method, "library": library,
        "max_read_fraction": max_read_fraction, "on_demand_read_rate": on_demand_read_rate,
        "consistent_read": consistent_read, "raise_read_capacity": raise_read_capacity, "workers": workers,
        "retain_days": retain_days, "export_bucket": export_bucket, "keep_export": keep_export,
        "full_export": full_export,
    }  # fmt: skip


def _source(account_id: str, region: str, table: str) -> str:
    return f"{account_id}/{region}/{table}"


def previous_manifest(
    repo: Repository, catalog: Catalog, library: str, table: str, account: str, region: str
) -> Manifest | None:
    points = [
        p for p in catalog.recovery_points(kind=KIND, resource_id=table)
        if p.library == library and p.account == account and p.region == region and p.library_snapshot
    ]  # fmt: skip
    for point in reversed(points):
        try:
            return repo.load_snapshot(str(point.library_snapshot))
        except NotFoundError:
            continue
    return None


# -- read capacity raise: an intermediate ---------------------------------------------------------------------------
def capacity_id(table_arn: str, original: int, raised: int) -> str:
    return f"{table_arn}#read-capacity:{original}:{raised}"


def revert_capacity(factory: ClientFactory, item: Any) -> None:
    """Put the read capacity back if it is still the raised value (someone else's later change is left alone)."""
    arn, _, spec = str(item.id).partition("#read-capacity:")
    original, raised = (int(x) for x in spec.split(":"))
    table_name = arn.split(":table/", 1)[1]
    client = factory.client(item.account, item.region, "dynamodb")
    table = schemas.wait_active(client, table_name)
    current = table.get("ProvisionedThroughput") or {}
    if int(current.get("ReadCapacityUnits") or 0) != raised:
        raise NotFoundError(f"read capacity of {table_name} is not the raised {raised}: nothing to revert")
    client.update_table(
        TableName=table_name,
        ProvisionedThroughput={"ReadCapacityUnits": original, "WriteCapacityUnits": int(current["WriteCapacityUnits"])},
    )
    schemas.wait_active(client, table_name)


def remove_failed_backup(factory: ClientFactory, item: Any) -> None:
    arn, _, name = str(item.id).partition("#backup:")
    table_name = arn.split(":table/", 1)[1]
    client = factory.client(item.account, item.region, "dynamodb")
    found = [
        b["BackupArn"]
        for b in client.list_backups(TableName=table_name).get("BackupSummaries") or []
        if b.get("BackupName") == name
    ]
    if not found or not any(native.delete_owned(client, arn) for arn in found):
        raise NotFoundError(f"no backup {name} of {table_name} to remove")


CLEANERS: dict[str, Any] = {
    READ_CAPACITY: revert_capacity,
    native.BACKUP_INTERMEDIATE: remove_failed_backup,
    exports.EXPORT_OBJECTS: exports.remove_objects,
}


def _raise_capacity(ctx: JobContext, client: DynamoDBClient, schema: dict[str, Any], raised: int,
                    account: str, region: str) -> dict[str, Any]:  # fmt: skip
    table = schemas.wait_active(client, schema["table_name"])
    if (table.get("BillingModeSummary") or {}).get("BillingMode") == "PAY_PER_REQUEST":
        raise ConflictError(f"table {schema['table_name']} is on-demand: it has no read capacity to raise")
    current = table["ProvisionedThroughput"]
    original = int(current["ReadCapacityUnits"])
    if raised <= original:
        return {"raised": False, "read_capacity": original}
    ctx.intermediate(READ_CAPACITY, capacity_id(table["TableArn"], original, raised), account, region)
    ctx.progress(f"raising read capacity of {schema['table_name']} from {original} to {raised}")
    client.update_table(
        TableName=schema["table_name"],
        ProvisionedThroughput={"ReadCapacityUnits": raised, "WriteCapacityUnits": int(current["WriteCapacityUnits"])},
    )
    schemas.wait_active(client, schema["table_name"])
    return {"raised": True, "read_capacity": raised, "original": original}


def _read_rate(schema: dict[str, Any], params: dict[str, Any], raised: dict[str, Any] | None) -> float:
    if schema["billing_mode"] == "PAY_PER_REQUEST" or not schema.get("throughput"):
        return float(params.get("on_demand_read_rate") or DEFAULT_ON_DEMAND_RATE)
    capacity = (raised or {}).get("read_capacity") or schema["throughput"]["read"]
    return max(0.5, float(capacity) * float(params.get("max_read_fraction") or DEFAULT_FRACTION))


def _scan_table(ctx: JobContext, env: JobEnvironment, repo: Repository, params: dict[str, Any], table: str,
                schema: dict[str, Any], raised: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    account, region, library = str(params["account"]), str(params["region"]), str(params["library"])
    client = env.factory.client(account, region, "dynamodb")
    parent = previous_manifest(repo, env.catalog, library, table, account, region)
    items = max(1, int(schema.get("item_count") or 0))
    average = float(schema.get("size_bytes") or 0) / items if schema.get("size_bytes") else 400.0
    total_items = int(schema.get("item_count") or 0) or None
    done = [0]

    def on_page(count: int) -> None:
        done[0] += count
        ctx.progress(f"scanning {table}", done[0], total_items, unit="items")

    options = ScanOptions(
        workers=int(params.get("workers") or DEFAULT_WORKERS),
        read_rate=_read_rate(schema, params, raised),
        consistent=bool(params.get("consistent_read")),
        average_item_bytes=max(average, 100.0),
        on_page=on_page,
    )
    workers = options.workers
    with ctx.executor(workers, thread_name_prefix="dynamodb-scan") as executor:
        result = backup_items(
            repo, client, executor, source=_source(env.factory.account_id(account), region, table),
            schema=schema, parent=parent, options=options,
            meta={"account": account, "region": region, "consistent_read": options.consistent},
        )  # fmt: skip
    return {
        "manifest_id": result.manifest.id,
        "items": result.items,
        "checksum": f"{result.checksum:032x}",
        "total_segments": result.segments,
        "stats": result.stats,
    }


def _backup_table(ctx: JobContext, env: JobEnvironment, repo: Repository | None, params: dict[str, Any],
                  table: str, point_id: str) -> dict[str, Any]:  # fmt: skip
    account, region, method = str(params["account"]), str(params["region"]), str(params["method"])
    client = env.factory.client(account, region, "dynamodb")
    schema: dict[str, Any] = ctx.step(f"{table}: capture schema", lambda: schemas.capture(client, table))
    captured = {**schema, "method": method}
    if method == "native":
        name = native.backup_name(table, point_id)
        ctx.intermediate(native.BACKUP_INTERMEDIATE, f"{schema['table_arn']}#backup:{name}", account, region)
        made: dict[str, Any] = ctx.step(f"{table}: create backup", lambda: native.create(client, table, point_id))
        details = ctx.step(f"{table}: wait for backup", lambda: native.wait_available(client, made["backup_arn"]))
        return {
            "native": {**made, "method": "native"},
            "captured": captured,
            "stats": {"backups": 1, "size_bytes": details.get("size_bytes"), "items": schema["item_count"]},
            "release": f"{schema['table_arn']}#backup:{name}",
        }
    assert repo is not None
    if method == "export":
        return _export_table(ctx, env, repo, params, table, point_id, schema, captured)
    raised: dict[str, Any] | None = None
    if params.get("raise_read_capacity"):
        target = int(params["raise_read_capacity"])
        raised = ctx.step(
            f"{table}: raise read capacity",
            lambda: _raise_capacity(ctx, client, schema, target, account, region),
        )
    scanned: dict[str, Any] = ctx.step(
        f"{table}: scan", functools.partial(_scan_table, ctx, env, repo, params, table, schema, raised)
    )
    if raised and raised.get("raised"):
        item_id = capacity_id(schema["table_arn"], int(raised["original"]), int(raised["read_capacity"]))
        ctx.step(f"{table}: revert read capacity", lambda: _revert_now(env.factory, item_id, account, region))
        ctx.release(item_id)
    captured.update(items=scanned["items"], checksum=scanned["checksum"], total_segments=scanned["total_segments"])
    return {
        "native": {"method": "scan"},
        "captured": captured,
        "stats": scanned["stats"],
        "library_snapshot": scanned["manifest_id"],
    }


def _export_table(ctx: JobContext, env: JobEnvironment, repo: Repository, params: dict[str, Any], table: str,
                  point_id: str, schema: dict[str, Any], captured: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    account, region, library = str(params["account"]), str(params["region"]), str(params["library"])
    bucket = str(params["export_bucket"])
    client = env.factory.client(account, region, "dynamodb")
    s3 = env.factory.client(account, region, "s3")
    prefix = exports.export_prefix(table, point_id)
    item_id = exports.objects_id(schema["table_arn"], bucket, prefix)
    exports.require_pitr(schema)  # before anything is recorded: a refused export leaves nothing to clean
    base = None if params.get("full_export") else _export_base(repo, env.catalog, library, table, account, region)
    since = exports.incremental_since(base[0].native.get("export_time")) if base is not None else None

    def start() -> dict[str, Any]:
        if since is not None:
            try:
                return exports.start_export(client, schema, bucket, prefix, since=since)
            except AwsError as exc:
                if exc.code not in exports.INCREMENTAL_REFUSALS:
                    raise
                ctx.progress(f"{table}: incremental export refused ({exc.code}): exporting in full")
        return exports.start_export(client, schema, bucket, prefix)

    ctx.intermediate(exports.EXPORT_OBJECTS, item_id, account, region)
    started: dict[str, Any] = ctx.step(f"{table}: export", start)
    done: dict[str, Any] = ctx.step(
        f"{table}: wait for export",
        lambda: exports.wait_export(client, started["export_arn"], progress=lambda s: ctx.progress(f"{table}: {s}")),
    )
    parent = previous_manifest(repo, env.catalog, library, table, account, region)

    def ingest() -> dict[str, Any]:
        source = _source(env.factory.account_id(account), region, table)
        workers = int(params.get("workers") or DEFAULT_WORKERS)
        meta = {"account": account, "region": region}
        total = done["items"] or None
        if started["type"] == "incremental":
            assert base is not None
            result = exports.ingest_incremental(
                repo, s3, bucket=bucket, export=done, schema=schema, source=source, base=base[1], workers=workers,
                meta=meta, progress=lambda n: ctx.progress(f"applying changes to {table}", n, total, unit="items"),
            )  # fmt: skip
        else:
            result = exports.ingest(
                repo, s3, bucket=bucket, export=done, schema=schema, parent=parent, source=source, workers=workers,
                meta=meta, progress=lambda n: ctx.progress(f"ingesting {table}", n, total, unit="items"),
            )  # fmt: skip
        return {"manifest_id": result.manifest.id, "items": result.items, "checksum": f"{result.checksum:032x}",
                "total_segments": result.segments, "stats": result.stats}  # fmt: skip

    ingested: dict[str, Any] = ctx.step(f"{table}: ingest export", ingest)
    if params.get("keep_export"):
        ctx.release(item_id)  # kept on request: the user's now
    else:
        ctx.step(f"{table}: remove export objects", lambda: exports.delete_objects(s3, bucket, f"{prefix}/"))
        ctx.release(item_id)
    captured.update(items=ingested["items"], checksum=ingested["checksum"], total_segments=ingested["total_segments"])
    return {
        "native": {"method": "export", "bucket": bucket, "export_arn": done["export_arn"],
                   "export_type": started["type"], "since": started.get("since"),
                   "export_time": done.get("export_time"), "kept_prefix": f"{prefix}/" if params.get("keep_export")
                   else None},
        "captured": captured,
        "stats": {**ingested["stats"], "export_items": done["items"], "export_type": started["type"]},
        "library_snapshot": ingested["manifest_id"],
    }  # fmt: skip


def _export_base(repo: Repository, catalog: Catalog, library: str, table: str, account: str,
                 region: str) -> tuple[RecoveryPoint, Manifest] | None:  # fmt: skip
    """The latest completed export point of the table in this library whose tree loads (segmented by skyvault's
    key hash): what an incremental export is applied to."""
    points = [
        p for p in catalog.recovery_points(kind=KIND, resource_id=table)
        if p.library == library and p.account == account and p.region == region and p.library_snapshot
        and p.status == "completed" and p.native.get("method") == "export" and p.native.get("export_time")
    ]  # fmt: skip
    for point in reversed(points):
        try:
            manifest = repo.load_snapshot(str(point.library_snapshot))
        except NotFoundError:
            continue
        if (manifest.meta or {}).get("segmenting") == exports.SEGMENTING:
            return point, manifest
    return None


class _Item:
    def __init__(self, item_id: str, account: str, region: str) -> None:
        self.id, self.account, self.region, self.resource_type = item_id, account, region, READ_CAPACITY


def _revert_now(factory: ClientFactory, item_id: str, account: str, region: str) -> bool:
    try:
        revert_capacity(factory, _Item(item_id, account, region))
    except NotFoundError:
        return False
    return True


def backup_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> list[dict[str, Any]]:
    """``backup-dynamodb``: ``{"recovery_point", "stats"}`` per table, in the order given."""
    params = spec.params
    account, region, method = str(params["account"]), str(params["region"]), str(params["method"])
    library = params.get("library")
    repo = env.open_library(str(library)) if method in LIBRARY_METHODS else None
    catalog = env.catalog
    results = []
    try:
        with repo.lock(purpose="backup dynamodb") if repo is not None else contextlib.nullcontext():
            for table in params["tables"]:
                started = time.monotonic()

                def open_point(table: str = table) -> str:
                    return catalog.add_recovery_point(
                        id=new_id("rp"), kind=KIND, resource_id=table, account=account, region=region,
                        status="running", job_id=ctx.job_id, library=library if method in LIBRARY_METHODS else None,
                    ).id  # fmt: skip

                point_id: str = ctx.step(f"{table}: open recovery point", open_point)
                try:
                    outcome = _backup_table(ctx, env, repo, params, table, point_id)
                except BaseException:
                    catalog.update_recovery_point(point_id, status="failed")
                    raise
                stats = {**outcome["stats"], "duration_s": round(time.monotonic() - started, 3), "method": method}
                retain = params.get("retain_days")
                expires = datetime.now(UTC) + timedelta(days=float(retain)) if retain is not None else None
                catalog.update_recovery_point(
                    point_id, status="completed", native=outcome["native"], captured_config=outcome["captured"],
                    stats=stats, expires_at=expires, library_snapshot=outcome.get("library_snapshot"),
                )  # fmt: skip
                if outcome.get("release"):
                    ctx.release(str(outcome["release"]))  # the recovery point owns the backup now
                results.append({"recovery_point": point_id, "stats": stats})
    finally:
        if repo is not None:
            repo.close()
    return results


def prepare_resume(catalog: Catalog, job: Job) -> None:
    """Before a backup job is resumed the runner reverts its leftover intermediates, a raised read capacity
    included: a table whose scan did not finish gets its raise step again, so its scan is paced to the capacity the
    table really has (and the capacity is raised, then reverted, once more)."""
    if job.kind != BACKUP_JOB:
        return
    done = {name for name, state in job.steps.items() if state.get("status") == "done"}
    forget = {f"{table}: raise read capacity" for table in job.params.get("tables", []) if f"{table}: scan" not in done}
    # an export whose files were not ingested: the runner's cleanup deleted them, so the table is exported again
    forget |= {f"{table}: {step}" for table in job.params.get("tables", []) for step in ("export", "wait for export")
               if f"{table}: ingest export" not in done}  # fmt: skip
    if forget & set(job.steps):
        catalog.reset_steps(job.id, [name for name in job.steps if name not in forget])


# -- restore ----------------------------------------------------------------------------------------------------------
def _restore_native(ctx: JobContext, env: JobEnvironment, point: RecoveryPoint, table: str, account: str,
                    region: str) -> dict[str, Any]:  # fmt: skip
    if account != point.account or region != point.region:
        raise ConflictError(
            f"recovery point {point.id} is a DynamoDB backup in {point.account}/{point.region}: it restores there only"
        )
    client = env.factory.client(account, region, "dynamodb")
    schema = dict(point.captured_config)
    if schemas.describe(client, table) is not None:
        raise ConflictError(
            f"table {table} exists: a native backup restores into a new table only; nothing was changed",
            hint="restore with --table-name NEW",
        )
    started = time.monotonic()
    ctx.progress(f"restoring {table} from {point.native['backup_name']}")
    client.restore_table_from_backup(TargetTableName=table, BackupArn=point.native["backup_arn"])
    restored = schemas.wait_active(client, table)
    tags: list[TagTypeDef] = [{"Key": k, "Value": v} for k, v in sorted((schema.get("tags") or {}).items())
            if not k.startswith("skyvault:")]  # fmt: skip
    if tags:
        client.tag_resource(ResourceArn=restored["TableArn"], Tags=tags)
    restores.restore_settings(client, schema, table)
    if schema.get("stream") and not (restored.get("StreamSpecification") or {}).get("StreamEnabled"):
        client.update_table(
            TableName=table,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": schema["stream"]["view_type"]},
        )
        schemas.wait_active(client, table)
    return {
        "recovery_point": point.id,
        "table": table,
        "method": "native",
        "stats": {"duration_s": round(time.monotonic() - started, 3)},
    }


def _point_manifest(repo: Repository, point: RecoveryPoint, schema: dict[str, Any]) -> Manifest:
    manifest = repo.load_snapshot(str(point.library_snapshot))
    if manifest.kind != KIND or manifest.content.get("type") != "tree":
        raise LibraryError(f"library snapshot {manifest.id} is not a DynamoDB table")
    if manifest.meta.get("checksum") != schema.get("checksum"):
        raise LibraryError(f"library snapshot {manifest.id} does not match recovery point {point.id}")
    return manifest


def _restore_library(ctx: JobContext, env: JobEnvironment, point: RecoveryPoint, table: str, account: str,
                     region: str, confirmed: bool, workers: int) -> dict[str, Any]:  # fmt: skip
    if not point.library_snapshot or not point.library:
        raise LibraryError(f"recovery point {point.id} has no library copy")
    schema = dict(point.captured_config)
    client = env.factory.client(account, region, "dynamodb")
    started = time.monotonic()
    repo = env.open_library(point.library)
    try:
        with repo.lock(purpose=f"restore {point.id}"):
            manifest = _point_manifest(repo, point, schema)
            target = restores.prepare_target(client, schema, table, confirmed=confirmed)
            keys = schemas.key_names(schema)
            restored_keys: set[bytes] | None = None
            lines = restores.read_lines(repo, manifest)
            if not target["was_empty"]:
                restored_keys = set()
                lines = _remember_keys(lines, keys, restored_keys)
            total = int(schema.get("items") or 0)
            written = restores.write_items(
                client, table, lines, workers=workers,
                progress=lambda done: ctx.progress(f"writing {table}", done, total, unit="items"),
            )  # fmt: skip
    finally:
        repo.close()
    if written["checksum"] != schema.get("checksum") or written["items"] != total:
        raise LibraryError(f"the library's items for {point.id} do not match its recorded checksum")
    ctx.progress(f"verifying {table}")
    checked = restores.verify(
        client, table, keys=keys, expected_items=total, expected_checksum=str(schema["checksum"]),
        was_empty=bool(target["was_empty"]), restored_keys=restored_keys, workers=workers,
    )  # fmt: skip
    duration = time.monotonic() - started
    return {
        "recovery_point": point.id,
        "table": table,
        "method": "scan",
        "created": target["created"],
        "stats": {**written, **checked, "duration_s": round(duration, 3),
                  "items_per_s": round(total / duration, 1) if duration > 0 else None},
    }  # fmt: skip


def _restore_import(ctx: JobContext, env: JobEnvironment, point: RecoveryPoint, table: str, account: str,
                    region: str, bucket: str | None, workers: int) -> dict[str, Any]:  # fmt: skip
    """``via import``: stage the point's items in S3, ImportTable into a new table, apply what ImportTable cannot,
    verify by count and checksum, delete the staged objects."""
    if not point.library_snapshot or not point.library:
        raise ConflictError(
            f"recovery point {point.id} is a native backup: --via import restores library points (scan or export)",
            hint="restore it without --via import",
        )
    bucket = bucket or point.native.get("bucket")
    if not bucket:
        raise ConflictError("--via import stages the items in an S3 bucket", hint="add --export-bucket BUCKET")
    schema = dict(point.captured_config)
    client = env.factory.client(account, region, "dynamodb")
    s3 = env.factory.client(account, region, "s3")
    if schemas.describe(client, table) is not None:
        raise ConflictError(
            f"table {table} exists: ImportTable creates a new table only; nothing was changed",
            hint="restore with --table-name NEW, or without --via import to write into it",
        )
    exports.refuse_unimportable(schema, table)
    started = time.monotonic()
    prefix = f"{exports.import_prefix(point.id, ctx.job_id)}/"
    item_id = exports.objects_id(str(schema["table_arn"]), str(bucket), prefix.rstrip("/"))
    total = int(schema.get("items") or 0)
    repo = env.open_library(point.library)
    try:
        with repo.lock(purpose=f"restore {point.id}"):
            manifest = _point_manifest(repo, point, schema)
            ctx.intermediate(exports.EXPORT_OBJECTS, item_id, account, region)
            staged = exports.stage(
                s3, str(bucket), prefix, restores.read_lines(repo, manifest),
                progress=lambda n: ctx.progress(f"staging {table}", n, total, unit="items"),
            )  # fmt: skip
    finally:
        repo.close()
    if staged["checksum"] != schema.get("checksum") or staged["items"] != total:
        raise LibraryError(f"the library's items for {point.id} do not match its recorded checksum")
    ctx.progress(f"importing {table}")
    request = exports.import_params(schema, table, str(bucket), prefix, token=f"skyvault-{ctx.job_id}-{table}")
    arn = client.import_table(**request)["ImportTableDescription"]["ImportArn"]
    imported = exports.wait_import(client, arn)
    if imported["import_errors"] or imported["imported_items"] != total:
        raise LibraryCorruptError(
            f"import {arn} into {table} imported {imported['imported_items']} of {total} items "
            f"({imported['import_errors']} errors)",
            hint="its CloudWatch Logs group /aws-dynamodb/imports names the failed lines; delete the table and "
            "restore again",
        )
    described = schemas.wait_active(client, table)
    exports.import_settings(client, schema, table, str(described["TableArn"]))
    restores.restore_settings(client, schema, table)
    ctx.progress(f"verifying {table}")
    checked = restores.verify(
        client, table, keys=schemas.key_names(schema), expected_items=total,
        expected_checksum=str(schema["checksum"]), was_empty=True, restored_keys=None, workers=workers,
    )  # fmt: skip
    exports.delete_objects(s3, str(bucket), prefix)
    ctx.release(item_id)
    duration = time.monotonic() - started
    return {
        "recovery_point": point.id,
        "table": table,
        "method": "import",
        "created": True,
        "stats": {**imported, **checked, "staged_files": staged["files"], "duration_s": round(duration, 3),
                  "items_per_s": round(total / duration, 1) if duration > 0 else None},
    }  # fmt: skip


def _remember_keys(lines: Iterator[bytes], keys: list[str], into: set[bytes]) -> Iterator[bytes]:
    for line in lines:
        into.add(codec.sort_key(codec.from_line(line), keys))
        yield line


def restore_job(ctx: JobContext, spec: JobSpec, env: JobEnvironment) -> dict[str, Any]:
    """``restore-dynamodb``: a new table (``table_name``, default the source's), or into an existing one (confirmed
    when it holds items)."""
    params = spec.params
    point = env.catalog.recovery_point(str(params["recovery_point"]))
    if point.kind != KIND:
        raise NotFoundError(f"recovery point {point.id} is of kind {point.kind!r}, not {KIND!r}")
    if point.status != "completed":
        raise NotFoundError(f"recovery point {point.id} is {point.status}, not restorable")
    options = dict(params.get("options") or {})
    table = str(options.get("table_name") or point.resource_id)
    account = str(params.get("account") or point.account)
    region = str(params.get("region") or point.region)
    via = str(options.get("via") or "batch")
    if via not in VIAS:
        raise ConflictError(f"unknown --via {via!r} (one of {', '.join(VIAS)})")
    workers = int(params.get("workers") or 8)
    if via == "import":
        return _restore_import(ctx, env, point, table, account, region, options.get("export_bucket"), workers)
    if point.native.get("method") == "native":
        return _restore_native(ctx, env, point, table, account, region)
    return _restore_library(ctx, env, point, table, account, region, bool(params.get("confirmed")), workers)


def expire(factory: ClientFactory, point: RecoveryPoint) -> int:
    """A native point's backup is deleted (if its name is skyvault's); a scan point owns nothing in AWS (its library
    snapshot goes with ``library prune``)."""
    if point.native.get("method") != "native" or not point.native.get("backup_arn"):
        return 0
    client = factory.client(point.account, point.region, "dynamodb")
    return int(native.delete_owned(client, str(point.native["backup_arn"])))
