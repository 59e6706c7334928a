"""The lab's demo estate: in each account, something of every kind skyvault protects, deterministic per seed.

Per account, in its first region: an EC2 instance (2 GiB Linux-like root volume + 1 GiB data volume, both with
blocks written through the lab's guest API), an RDS PostgreSQL instance, an Aurora PostgreSQL cluster with a
writer, a Redshift cluster, a DocumentDB cluster with an instance, a DynamoDB table with a GSI and thousands of
items of every attribute type, a versioned S3 bucket (several versions, a delete marker) and a media bucket
(nested prefixes). In its second region: an unattached EBS volume, a DynamoDB table with TTL, and a log bucket.

The root volumes of all accounts hold the same "golden image" blocks (same seed), as instances launched from one
AMI do: a library that deduplicates shows it. Seeding is idempotent: whatever already exists is kept as is.

One resource of every kind a plan can back up carries ``backup=daily`` (the demo's plan selects by it): the app
instance, the RDS instance, the Aurora, DocumentDB and Redshift clusters, the orders table and the media bucket.

This is lab tooling, not product: its AWS calls are declared under ``policy="lab"`` / ``Feature.LAB`` so that
no generated policy includes them, and it refuses any endpoint that is not on this machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlparse

from skyvault.aws.clients import ClientFactory
from skyvault.errors import ConflictError, LabError, NotFoundError
from skyvault.lab import control
from skyvault.lab.labconfig import LabInfo
from skyvault.permissions import Feature, declare

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import WriteRequestOutputTypeDef, WriteRequestTypeDef
    from types_boto3_ec2.type_defs import FilterTypeDef

    from skyvault.aws.clients import DynamoDBClient, EC2Client, S3Client

ESTATE_TAG = "skyvault-lab:estate"


def _lab(
    service: str, operation: str, purpose: str, *, actions: tuple[str, ...] = (), resources: tuple[str, ...] = ("*",)
) -> None:
    declare(
        policy="lab",
        service=service,
        operation=operation,
        feature=Feature.LAB,
        step="seed demo estate",
        purpose=f"Lab only: {purpose}",
        actions=actions,
        resources=resources,
    )


def _arn(service: str, resource: str, *, account: bool = True) -> str:
    return f"arn:${{Partition}}:{service}:${{Region}}:{'${Account}' if account else ''}:{resource}"


_INSTANCE, _VOLUME = _arn("ec2", "instance/*"), _arn("ec2", "volume/*")
_DB, _CLUSTER = _arn("rds", "db:*"), _arn("rds", "cluster:*")
_RDS_CREATE_CLUSTER = (
    _CLUSTER, _arn("rds", "cluster-pg:*"), _arn("rds", "og:*"), _arn("rds", "subgrp:*"),
)  # fmt: skip
_TABLE = _arn("dynamodb", "table/*")
_BUCKET = "arn:${Partition}:s3:::*"
_OBJECT = "arn:${Partition}:s3:::*/*"

_lab("ec2", "DescribeImages", "find a Linux AMI to launch the demo instance from.")
_lab("ec2", "DescribeInstances", "find the demo instance of an earlier seeding (seeding is idempotent).")
_lab("ec2", "DescribeVolumes", "find the demo volumes of an earlier seeding.")
_lab(
    "ec2",
    "RunInstances",
    "launch the demo instance with its root volume, tagged at launch.",
    actions=("ec2:RunInstances", "ec2:CreateTags"),
    resources=(
        _arn("ec2", "image/*", account=False), _INSTANCE, _VOLUME, _arn("ec2", "network-interface/*"),
        _arn("ec2", "security-group/*"), _arn("ec2", "subnet/*"),
    ),
)  # fmt: skip
_lab(
    "ec2",
    "CreateVolume",
    "create the demo data and archive volumes, tagged at creation.",
    actions=("ec2:CreateVolume", "ec2:CreateTags"),
    resources=(_VOLUME,),
)
_lab("ec2", "AttachVolume", "attach the data volume to the demo instance.", resources=(_INSTANCE, _VOLUME))
_lab(
    "rds",
    "CreateDBInstance",
    "create the demo RDS instance and the Aurora writer.",
    actions=("rds:CreateDBInstance", "rds:AddTagsToResource"),
    resources=(_DB, _CLUSTER),
)
_lab(
    "rds",
    "CreateDBCluster",
    "create the demo Aurora cluster.",
    actions=("rds:CreateDBCluster", "rds:AddTagsToResource"),
    resources=_RDS_CREATE_CLUSTER,
)
_lab(
    "docdb",
    "CreateDBCluster",
    "create the demo DocumentDB cluster.",
    actions=("rds:CreateDBCluster", "rds:AddTagsToResource"),
    resources=_RDS_CREATE_CLUSTER,
)
_lab(
    "docdb",
    "CreateDBInstance",
    "create the demo DocumentDB instance.",
    actions=("rds:CreateDBInstance",),
    resources=(_DB, _CLUSTER),
)
_lab(
    "redshift",
    "CreateCluster",
    "create the demo Redshift cluster.",
    actions=("redshift:CreateCluster", "redshift:CreateTags"),
    resources=(_arn("redshift", "cluster:*"),),
)
_lab(
    "dynamodb",
    "CreateTable",
    "create the demo tables.",
    actions=("dynamodb:CreateTable", "dynamodb:TagResource"),
    resources=(_TABLE,),
)
_lab("dynamodb", "DescribeTable", "wait until a demo table is active.", resources=(_TABLE,))
_lab("dynamodb", "BatchWriteItem", "fill the demo tables.", resources=(_TABLE,))
_lab("dynamodb", "UpdateTimeToLive", "enable TTL on the sessions table.", resources=(_TABLE,))
_lab(
    "s3", "HeadBucket", "find the demo buckets of an earlier seeding.", actions=("s3:ListBucket",), resources=(_BUCKET,)
)
_lab("s3", "CreateBucket", "create the demo buckets.", resources=(_BUCKET,))
_lab("s3", "PutBucketVersioning", "version the documents bucket.", resources=(_BUCKET,))
_lab("s3", "PutBucketTagging", "tag the demo buckets.", resources=(_BUCKET,))
_lab(
    "s3",
    "PutObject",
    "write the demo objects (with metadata and tags).",
    actions=("s3:PutObject", "s3:PutObjectTagging"),
    resources=(_OBJECT,),
)
_lab("s3", "DeleteObject", "leave a delete marker in the versioned bucket.", resources=(_OBJECT,))

ORDERS_ADMIN = 2000  # items in the admin account's orders table
ORDERS_TENANT = 1000
SESSIONS = 300
BATCH = 25  # BatchWriteItem's limit
BLOCK_SIZE = 512 * 1024  # the guest writes whole EBS blocks
MASTER_PASSWORD = "lab-only-Passw0rd"  # the lab's databases hold no data; never a real credential

# Blocks written by the guest (512 KiB each): (first index, count, compressible share).
GOLDEN_IMAGE = [(0, 2, 0.1), (64, 3, 0.85), (512, 3, 0.3)]  # boot, /etc text, /usr binaries: same in every account
ROOT_OWN = [(2048, 2, 0.9)]  # per-account logs on the root volume
DATA_BLOCKS = [(0, 6, 0.5), (1024, 2, 0.0)]  # application data: half-compressible records, random blobs
DATA_ZEROED = [2, 3]  # files deleted and zeroed by the guest: read back as zeros, stored as absent
ARCHIVE_BLOCKS = [(0, 4, 0.7)]


@dataclass
class AccountEstate:
    """What one account holds after seeding (``created``: new now; ``kept``: already there)."""

    account: str
    account_id: str
    regions: list[str]
    resources: dict[str, list[str]] = field(default_factory=dict)
    created: int = 0
    kept: int = 0
    items: int = 0
    objects: int = 0
    blocks_written: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, service: str, resource_id: str, *, new: bool) -> None:
        self.resources.setdefault(service, []).append(resource_id)
        if new:
            self.created += 1
        else:
            self.kept += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "regions": self.regions,
            "resources": self.resources,
            "created": self.created,
            "kept": self.kept,
            "dynamodb_items": self.items,
            "s3_objects": self.objects,
            "ebs_blocks_written": self.blocks_written,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class _Ctx:
    factory: ClientFactory
    account: str
    account_id: str
    primary: str
    secondary: str
    seed: int
    lab: LabInfo
    out: AccountEstate
    write_data: bool  # the lab has the EBS block model (guest writes)
    orders: int | None  # items per orders table; None: the demo's sizes

    def rng(self, purpose: str) -> random.Random:
        # Independent, reproducible streams per account and purpose (str seeds hash stably, unlike hash()).
        return random.Random(f"{self.seed}:{self.account}:{purpose}")

    def block_seed(self, purpose: str, *, shared: bool = False) -> int:
        key = f"{self.seed}:{purpose}" if shared else f"{self.seed}:{self.account}:{purpose}"
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")

    def tags(self, **extra: str) -> list[Any]:
        # Any: one list serves every service's Tag shape (their stubs differ in which of Key/Value are required).
        base = {ESTATE_TAG: "demo", "owner": self.account, "env": "demo"}
        return [{"Key": k, "Value": v} for k, v in {**base, **extra}.items()]


def _created(create: Callable[[], Any]) -> bool:
    """Run a create call; False if the resource already exists (idempotent seeding)."""
    try:
        create()
    except ConflictError:
        return False
    return True


# -- EC2 / EBS ------------------------------------------------------------------------------------------
def _linux_image(ec2: EC2Client) -> str:
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*", "amzn-ami-hvm-*"]}])["Images"]
    if not images:
        raise LabError("the lab offers no Amazon Linux AMI to launch the demo instance from")
    return str(sorted(images, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))[-1]["ImageId"])


def _write(ctx: _Ctx, volume_id: str, region: str, spans: list[tuple[int, int, float]], seed: int) -> int:
    if not ctx.write_data:
        return 0
    written = 0
    for first, count, compressible in spans:
        result = control.write_blocks(
            ctx.lab,
            volume_id,
            count,
            seed + first,
            account_id=ctx.account_id,
            region=region,
            indices=list(range(first, first + count)),
            compressible=compressible,
        )
        written += len(result.indices)
    return written


def _existing(ec2: EC2Client, kind: str, role: str) -> list[dict[str, Any]]:
    filters: list[FilterTypeDef] = [
        {"Name": f"tag:{ESTATE_TAG}", "Values": ["demo"]},
        {"Name": "tag:role", "Values": [role]},
    ]
    if kind == "instance":
        filters.append({"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]})
        reservations = ec2.describe_instances(Filters=filters)["Reservations"]
        return [dict(i) for r in reservations for i in r["Instances"]]
    return [dict(v) for v in ec2.describe_volumes(Filters=filters)["Volumes"]]


def _root_volume(instance: Mapping[str, Any]) -> str:
    root = instance.get("RootDeviceName")
    mappings = [m for m in instance["BlockDeviceMappings"] if m.get("Ebs")]
    return str(next((m for m in mappings if m["DeviceName"] == root), mappings[0])["Ebs"]["VolumeId"])


def _seed_ec2(ctx: _Ctx) -> None:
    ec2 = ctx.factory.client(ctx.account, ctx.primary, "ec2")
    found = _existing(ec2, "instance", "app")
    instance: Mapping[str, Any]
    if found:
        instance = found[0]
        ctx.out.add("ec2", instance["InstanceId"], new=False)
        ctx.out.add("ebs", _root_volume(instance), new=False)
    else:
        instance = ec2.run_instances(
            ImageId=_linux_image(ec2),
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.small",
            BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 2, "VolumeType": "gp3", "DeleteOnTermination": True}}
            ],
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": ctx.tags(Name=f"{ctx.account}-app-1", role="app", backup="daily")},
                {"ResourceType": "volume", "Tags": ctx.tags(Name=f"{ctx.account}-app-1-root", role="root")},
            ],
        )["Instances"][0]
        ctx.out.add("ec2", instance["InstanceId"], new=True)
        root = _root_volume(instance)
        ctx.out.add("ebs", root, new=True)
        golden = _write(ctx, root, ctx.primary, GOLDEN_IMAGE, ctx.block_seed("golden-image", shared=True))
        own = _write(ctx, root, ctx.primary, ROOT_OWN, ctx.block_seed("root-logs"))
        ctx.out.blocks_written += golden + own
    zone = instance["Placement"]["AvailabilityZone"]
    _seed_volume(ctx, ec2, ctx.primary, zone, "data", size=1, spans=DATA_BLOCKS, attach_to=instance["InstanceId"])
    archive = ctx.factory.client(ctx.account, ctx.secondary, "ec2")
    _seed_volume(ctx, archive, ctx.secondary, f"{ctx.secondary}a", "archive", size=1, spans=ARCHIVE_BLOCKS)


def _seed_volume(
    ctx: _Ctx,
    ec2: EC2Client,
    region: str,
    zone: str,
    role: str,
    *,
    size: int,
    spans: list[tuple[int, int, float]],
    attach_to: str | None = None,
) -> None:
    found = _existing(ec2, "volume", role)
    if found:
        ctx.out.add("ebs", found[0]["VolumeId"], new=False)
        return
    volume_id = ec2.create_volume(
        AvailabilityZone=zone,
        Size=size,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": ctx.tags(Name=f"{ctx.account}-{role}", role=role)}],
    )["VolumeId"]
    ctx.out.add("ebs", volume_id, new=True)
    if attach_to:
        ec2.attach_volume(VolumeId=volume_id, InstanceId=attach_to, Device="/dev/sdf")
    ctx.out.blocks_written += _write(ctx, volume_id, region, spans, ctx.block_seed(role))
    if role == "data" and ctx.write_data:
        control.write_blocks(
            ctx.lab, volume_id, len(DATA_ZEROED), 0, account_id=ctx.account_id, region=region,
            indices=DATA_ZEROED, zero=True,
        )  # fmt: skip


# -- RDS, Aurora, DocumentDB, Redshift ----------------------------------------------------------------------
def _seed_databases(ctx: _Ctx) -> None:
    rds = ctx.factory.client(ctx.account, ctx.primary, "rds")
    name = f"{ctx.account}-orders-db"
    new = _created(
        lambda: rds.create_db_instance(
            DBInstanceIdentifier=name,
            Engine="postgres",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            MasterUsername="app",
            MasterUserPassword=MASTER_PASSWORD,
            BackupRetentionPeriod=7,
            Tags=ctx.tags(app="orders", backup="daily"),
        )
    )
    ctx.out.add("rds", name, new=new)

    aurora = f"{ctx.account}-aurora-pg"
    new = _created(
        lambda: rds.create_db_cluster(
            DBClusterIdentifier=aurora,
            Engine="aurora-postgresql",
            MasterUsername="app",
            MasterUserPassword=MASTER_PASSWORD,
            DatabaseName="ledger",
            Tags=ctx.tags(app="ledger", backup="daily"),
        )
    )
    # moto answers CreateDBCluster for an existing cluster without an error: the writer tells.
    new = (
        _created(
            lambda: rds.create_db_instance(
                DBInstanceIdentifier=f"{aurora}-writer",
                DBClusterIdentifier=aurora,
                Engine="aurora-postgresql",
                DBInstanceClass="db.r6g.large",
            )
        )
        and new
    )
    ctx.out.add("aurora", aurora, new=new)
    _seed_docdb(ctx)

    redshift = ctx.factory.client(ctx.account, ctx.primary, "redshift")
    cluster = f"{ctx.account}-analytics"
    new = _created(
        lambda: redshift.create_cluster(
            ClusterIdentifier=cluster,
            NodeType="ra3.xlplus",
            ClusterType="single-node",
            DBName="analytics",
            MasterUsername="admin",
            MasterUserPassword="LabOnly-Passw0rd",
            Tags=ctx.tags(app="analytics", backup="daily"),
        )
    )
    ctx.out.add("redshift", cluster, new=new)


def _seed_docdb(ctx: _Ctx) -> None:
    docdb = ctx.factory.client(ctx.account, ctx.primary, "docdb")
    cluster = f"{ctx.account}-docs"
    # The lab's docdb model makes moto accept the engine: if it broke, seeding fails here rather than skipping.
    new = _created(
        lambda: docdb.create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine="docdb",
            MasterUsername="app",
            MasterUserPassword=MASTER_PASSWORD,
            Tags=ctx.tags(app="catalog", backup="daily"),
        )
    )
    new = (
        _created(
            lambda: docdb.create_db_instance(
                DBInstanceIdentifier=f"{cluster}-1",
                DBClusterIdentifier=cluster,
                Engine="docdb",
                DBInstanceClass="db.r6g.large",
            )
        )
        and new
    )
    ctx.out.add("docdb", cluster, new=new)


# -- DynamoDB -----------------------------------------------------------------------------------------------
_STATUSES = ("new", "paid", "shipped", "delivered", "returned")
_CITIES = ("Lisbon", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Pune", "Austin")
_LABELS = ("gift", "express", "fragile", "bulk", "promo", "b2b", "priority")


def order_item(rng: random.Random, index: int) -> dict[str, Any]:
    """One order with every DynamoDB attribute type: S, N, B, BOOL, NULL, L, M, SS, NS (and BS)."""
    lines = [
        {"M": {"sku": {"S": f"SKU-{rng.randrange(10_000):05d}"}, "qty": {"N": str(rng.randrange(1, 9))}}}
        for _ in range(rng.randrange(1, 5))
    ]
    item: dict[str, Any] = {
        "pk": {"S": f"customer#{rng.randrange(400):04d}"},
        "sk": {"S": f"order#{index:06d}"},
        "status": {"S": rng.choice(_STATUSES)},
        "total": {"N": f"{rng.randrange(100, 250_000) / 100:.2f}"},
        "created": {"N": str(1_767_225_600 + index * 37)},
        "gift": {"BOOL": rng.random() < 0.2},
        "coupon": {"NULL": True} if rng.random() < 0.7 else {"S": f"SAVE{rng.randrange(5, 50)}"},
        "lines": {"L": lines},
        "ship_to": {"M": {"city": {"S": rng.choice(_CITIES)}, "zip": {"S": f"{rng.randrange(10**5):05d}"}}},
        "labels": {"SS": sorted(rng.sample(_LABELS, rng.randrange(1, 4)))},
        "ratings": {"NS": sorted({str(rng.randrange(1, 6)) for _ in range(rng.randrange(1, 4))})},
        "receipt": {"B": rng.randbytes(rng.randrange(16, 200))},
    }
    if rng.random() < 0.1:
        item["attachments"] = {"BS": [rng.randbytes(8), rng.randbytes(12)]}
    return item


def session_item(rng: random.Random, index: int) -> dict[str, Any]:
    return {
        "session_id": {"S": f"{rng.getrandbits(64):016x}"},
        "user": {"S": f"user{rng.randrange(1000):04d}"},
        "expires": {"N": str(1_767_225_600 + index * 60)},
        "data": {"M": {"cart": {"L": [{"S": f"SKU-{rng.randrange(10_000):05d}"}]}, "n": {"N": str(index)}}},
    }


def _batch_write(client: DynamoDBClient, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), BATCH):
        requests: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = [
            {"PutRequest": {"Item": item}} for item in items[start : start + BATCH]
        ]
        for attempt in range(10):
            unprocessed = client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
            requests = unprocessed.get(table, [])
            if not requests:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))  # the documented answer to UnprocessedItems: back off, retry
        else:
            raise LabError(f"{table}: BatchWriteItem kept returning unprocessed items")


def _seed_table(
    ctx: _Ctx,
    region: str,
    spec: dict[str, Any],
    make: Callable[[random.Random, int], dict[str, Any]],
    count: int,
    **tags: str,
) -> None:
    client = ctx.factory.client(ctx.account, region, "dynamodb")
    name = spec["TableName"]
    new = _created(lambda: client.create_table(**spec, Tags=ctx.tags(**tags)))
    ctx.out.add("dynamodb", name, new=new)
    if not new:
        return
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    rng = ctx.rng(name)
    _batch_write(client, name, [make(rng, i) for i in range(count)])
    ctx.out.items += count


def _seed_dynamodb(ctx: _Ctx) -> None:
    orders = {
        "TableName": "orders",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
    count = ctx.orders if ctx.orders is not None else ORDERS_ADMIN if ctx.account == "admin" else ORDERS_TENANT
    _seed_table(ctx, ctx.primary, orders, order_item, count, backup="daily")
    sessions = {
        "TableName": "sessions",
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        "AttributeDefinitions": [{"AttributeName": "session_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
    }
    before = ctx.out.items
    _seed_table(
        ctx, ctx.secondary, sessions, session_item, SESSIONS if ctx.orders is None else min(ctx.orders, SESSIONS)
    )
    if ctx.out.items > before:
        ctx.factory.client(ctx.account, ctx.secondary, "dynamodb").update_time_to_live(
            TableName="sessions", TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
        )


# -- S3 -----------------------------------------------------------------------------------------------------
def _bucket(ctx: _Ctx, region: str, suffix: str, *, versioned: bool = False, **tags: str) -> tuple[S3Client, str, bool]:
    s3 = ctx.factory.client(ctx.account, region, "s3")
    name = f"skyvault-demo-{ctx.account_id}-{suffix}"
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    # CreateBucket succeeds again for its owner in us-east-1 (AWS's legacy behaviour), so ask first.
    try:
        s3.head_bucket(Bucket=name)
        new = False
    except NotFoundError:
        new = _created(lambda: s3.create_bucket(**params))
    ctx.out.add("s3", name, new=new)
    if new:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": ctx.tags(purpose=suffix, **tags)})
        if versioned:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3, name, new


def _text(rng: random.Random, size: int) -> bytes:
    words = ("order", "invoice", "shipped", "customer", "total", "EUR", "USD", "ok", "pending", "refund")
    out = bytearray()
    while len(out) < size:
        out += f"{rng.randrange(10**6):06d},{rng.choice(words)},{rng.randrange(10**4) / 100:.2f}\n".encode()
    return bytes(out[:size])


def _put(ctx: _Ctx, s3: S3Client, bucket: str, key: str, body: bytes, **tags: str) -> None:
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "Metadata": {"source": "skyvault-lab", "sha256": hashlib.sha256(body).hexdigest()},
        "ContentType": "application/octet-stream" if key.endswith((".jpg", ".bin", ".pdf")) else "text/plain",
    }
    if tags:
        params["Tagging"] = urlencode(tags)
    s3.put_object(**params)
    ctx.out.objects += 1


def _seed_s3(ctx: _Ctx) -> None:
    rng = ctx.rng("s3")
    s3, docs, new = _bucket(ctx, ctx.primary, "documents", versioned=True)
    if new:
        for month in ("09", "10", "11"):
            for n in range(4):
                body = _text(rng, rng.randrange(2_000, 40_000))
                _put(ctx, s3, docs, f"reports/2026/{month}/report-{n:02d}.csv", body, kind="report", month=month)
        for client_name in ("acme", "globex", "initech"):
            body = rng.randbytes(rng.randrange(8_000, 30_000))
            _put(ctx, s3, docs, f"contracts/{client_name}/2026/contract.pdf", body, kind="contract")
        for version in range(1, 4):  # three versions of one key
            config = {"version": version, "feature_flags": sorted(rng.sample(_LABELS, 3)), "account": ctx.account}
            _put(ctx, s3, docs, "app/config.json", json.dumps(config, indent=2).encode(), kind="config")
        _put(ctx, s3, docs, "tmp/scratch.txt", _text(rng, 1_000))
        s3.delete_object(Bucket=docs, Key="tmp/scratch.txt")  # a delete marker over an older version
    s3, media, new = _bucket(ctx, ctx.primary, "media", backup="daily")
    if new:
        for n in range(12):
            key = f"images/2026/{n % 3 + 9:02d}/{n % 4:02d}/img-{n:03d}.jpg"
            _put(ctx, s3, media, key, rng.randbytes(rng.randrange(4_000, 64_000)), kind="image")
        _put(ctx, s3, media, "empty/placeholder.bin", b"")
    s3, logs, new = _bucket(ctx, ctx.secondary, "logs")
    if new:
        for hour in range(8):
            _put(ctx, s3, logs, f"logs/app/2026/11/29/app-{hour:02d}.log", _text(rng, rng.randrange(5_000, 20_000)))


# -- entry point ----------------------------------------------------------------------------------------------
def _check_on_lab(factory: ClientFactory, account: str, lab: LabInfo) -> None:
    endpoint = factory.endpoint_url(account)
    host = urlparse(endpoint).hostname if endpoint else None
    on_lab = endpoint is not None and urlparse(endpoint).port == urlparse(lab.endpoint).port
    if not endpoint or host not in ("127.0.0.1", "localhost", "::1") or not on_lab:
        raise LabError(
            f"account {account!r} does not point at this lab ({lab.endpoint}; its endpoint is {endpoint or 'AWS'}): "
            "refusing to seed it",
            hint="the demo estate is for the lab only: 'skyvault lab up', then 'skyvault lab seed'",
        )


EBS_BLOCK_MODEL = "skyvault.lab.models.ebs_blocks"


def _lab_writes_blocks(lab: LabInfo) -> bool:
    return EBS_BLOCK_MODEL in control.ping(lab).get("models", [])


def _seed_account(
    factory: ClientFactory, lab: LabInfo, account: str, seed: int, write_data: bool, orders: int | None
) -> AccountEstate:
    regions = factory.config.account(account).regions
    primary = regions[0]
    secondary = regions[1] if len(regions) > 1 else primary
    account_id = factory.account_id(account)
    out = AccountEstate(account=account, account_id=account_id, regions=list(regions))
    ctx = _Ctx(factory, account, account_id, primary, secondary, seed, lab, out, write_data, orders)
    if not write_data:
        out.notes.append(f"EBS volumes left empty: this lab has no {EBS_BLOCK_MODEL} model to write guest blocks")
    for step in (_seed_ec2, _seed_databases, _seed_dynamodb, _seed_s3):
        step(ctx)
    return out


def seed_estate(
    factory: ClientFactory, lab: LabInfo, *, accounts: list[str], seed: int, orders: int | None = None
) -> dict[str, Any]:
    """Build (or complete) the demo estate in every account, concurrently; returns what each account holds.

    ``orders`` overrides the number of items per orders table (tests use a few dozen; the demo thousands).
    """
    for account in accounts:  # refuse before creating anything
        _check_on_lab(factory, account, lab)
    write_data = _lab_writes_blocks(lab)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(accounts)), thread_name_prefix="estate") as pool:
        results = list(pool.map(lambda a: _seed_account(factory, lab, a, seed, write_data, orders), accounts))
    # Flat totals first, the per-account detail last: 'skyvault lab seed' prints one line per key.
    return {
        "seed": seed,
        "elapsed_s": round(time.monotonic() - started, 2),
        "created": sum(r.created for r in results),
        "kept": sum(r.kept for r in results),
        "dynamodb_items": sum(r.items for r in results),
        "s3_objects": sum(r.objects for r in results),
        "ebs_blocks_written": sum(r.blocks_written for r in results),
        "notes": sorted({note for r in results for note in r.notes}),
        "accounts": {r.account: r.to_json() for r in results},
    }
