"""S3 backend: one object per library file under ``s3://bucket/prefix/``.

Clients come from the ``ClientFactory`` of a configured account (optionally through an STS role: the role is
assumed from that account). Data packs get the configured storage class; with ``object_lock_days`` every
content file (packs, indexes, snapshots, keys, config) is written with an Object Lock retention date, so
nobody (not even skyvault's prune, which then only adds delete markers) can destroy it before it expires.
Lock files are never retained: they must be deletable. ``put(if_absent=True)`` uses S3 conditional writes
(``If-None-Match: *``); S3 is strongly read-after-write consistent, which the lock protocol relies on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from skyvault.aws.clients import ClientFactory
from skyvault.config import AccountConfig, AuthMethod
from skyvault.errors import AwsError, ConflictError, LibraryError, NotFoundError
from skyvault.library.backends.base import Backend, Buffer
from skyvault.library.format import DATA, LOCKS, validate_name
from skyvault.permissions import Feature, declare

if TYPE_CHECKING:
    from types_boto3_s3.literals import StorageClassType
    from types_boto3_s3.type_defs import PutObjectRequestTypeDef

    from skyvault.aws.clients import S3Client

_BUCKET = "arn:${Partition}:s3:::${Bucket}"
_OBJECTS = "arn:${Partition}:s3:::${Bucket}/${Prefix}/*"

PUT_OBJECT = declare(
    policy="library",
    service="s3",
    operation="PutObject",
    feature=Feature.LIBRARY,
    step="write library file",
    purpose="Write encrypted packs, indexes, snapshot manifests, key files and lock files into the library prefix.",
    resources=(_OBJECTS,),
)
PUT_OBJECT_RETENTION = declare(
    policy="library",
    service="s3",
    operation="PutObject",
    feature=Feature.LIBRARY,
    step="write immutable library file",
    purpose="Set an Object Lock retention date on library files when the library is immutable (object_lock_days).",
    actions=("s3:PutObjectRetention",),
    resources=(_OBJECTS,),
)
GET_OBJECT = declare(
    policy="library",
    service="s3",
    operation="GetObject",
    feature=Feature.LIBRARY,
    step="read library file",
    purpose="Read library files, and byte ranges of packs to fetch single blobs on restore.",
    resources=(_OBJECTS,),
)
HEAD_OBJECT = declare(
    policy="library",
    service="s3",
    operation="HeadObject",
    feature=Feature.LIBRARY,
    step="test library file",
    purpose="Test whether a library file (e.g. the exclusive lock or the config) exists.",
    actions=("s3:GetObject",),
    resources=(_OBJECTS,),
)
LIST_OBJECTS = declare(
    policy="library",
    service="s3",
    operation="ListObjectsV2",
    feature=Feature.LIBRARY,
    step="list library files",
    purpose="List packs, indexes, snapshots, keys and locks under the library prefix (check, prune, locking).",
    actions=("s3:ListBucket",),
    resources=(_BUCKET,),
    conditions=(("StringLike", "s3:prefix", ("${Prefix}/*",)),),
)
DELETE_OBJECT = declare(
    policy="library",
    service="s3",
    operation="DeleteObject",
    feature=Feature.LIBRARY,
    step="delete library file",
    purpose="Remove lock files, and packs/indexes that prune proved unreferenced (retained versions survive).",
    resources=(_OBJECTS,),
    destructive=True,
)
GET_BUCKET_LOCATION = declare(
    policy="library",
    service="s3",
    operation="GetBucketLocation",
    feature=Feature.LIBRARY,
    step="open library bucket",
    purpose="Check that the library bucket exists and find its region.",
    resources=(_BUCKET,),
)
GET_OBJECT_LOCK_CONFIGURATION = declare(
    policy="library",
    service="s3",
    operation="GetObjectLockConfiguration",
    feature=Feature.LIBRARY,
    step="open library bucket",
    purpose="Check that Object Lock is enabled on the bucket before promising an immutable library.",
    actions=("s3:GetBucketObjectLockConfiguration",),
    resources=(_BUCKET,),
)


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise LibraryError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    if not bucket or not prefix:
        raise LibraryError(f"an S3 library needs a bucket and a prefix: s3://BUCKET/PREFIX, not {url!r}")
    return bucket, prefix


def library_client_factory(factory: ClientFactory, account: str, region: str, role_arn: str | None) -> ClientFactory:
    """The factory to use: the account's own, or one whose extra account assumes ``role_arn`` from it."""
    if not role_arn:
        return factory
    base = factory.config.account(account)
    name = f"{account[:40]}-library-role"
    role_account = AccountConfig(
        auth=AuthMethod.ASSUME_ROLE,
        role_arn=role_arn,
        source_account=account,
        regions=[region],
        endpoint_url=base.endpoint_url,
        session_name="skyvault-library",
    )
    config = factory.config.model_copy(update={"accounts": {**factory.config.accounts, name: role_account}})
    return ClientFactory(config, base_dir=factory.base_dir, strict_guard=factory.guard.strict)


class S3Backend(Backend):
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        *,
        storage_class: str | None = None,
        object_lock_days: int | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}"
        self.storage_class = storage_class
        self.object_lock_days = object_lock_days

    @classmethod
    def open(
        cls,
        factory: ClientFactory,
        *,
        url: str,
        account: str,
        region: str | None = None,
        role_arn: str | None = None,
        storage_class: str | None = None,
        object_lock_days: int | None = None,
    ) -> S3Backend:
        bucket, prefix = parse_s3_url(url)
        region = region or factory.config.account(account).regions[0]
        lib_factory = library_client_factory(factory, account, region, role_arn)
        client_account = f"{account[:40]}-library-role" if role_arn else account
        client = lib_factory.client(client_account, region, "s3")
        return cls(client, bucket, prefix, storage_class=storage_class, object_lock_days=object_lock_days)

    def verify_bucket(self) -> None:
        """Fail early (at init) when the bucket is missing, or Object Lock is asked for but not enabled."""
        self.client.get_bucket_location(Bucket=self.bucket)
        if self.object_lock_days:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket).get("ObjectLockConfiguration")
            except (NotFoundError, AwsError):
                conf = None
            if not conf or conf.get("ObjectLockEnabled") != "Enabled":
                raise LibraryError(
                    f"bucket {self.bucket} does not have Object Lock enabled; --object-lock-days needs it",
                    hint="create the bucket with Object Lock enabled (it cannot be turned on later for old objects)",
                )

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{validate_name(name)}"

    def put(self, name: str, data: Buffer, *, if_absent: bool = False) -> None:
        params: PutObjectRequestTypeDef = {"Bucket": self.bucket, "Key": self._key(name), "Body": bytes(data)}
        if self.storage_class and name.startswith(DATA + "/"):
            params["StorageClass"] = cast("StorageClassType", self.storage_class)  # AWS validates the name
        if self.object_lock_days and not name.startswith(LOCKS + "/"):
            params["ObjectLockMode"] = "GOVERNANCE"
            params["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.object_lock_days)
        if if_absent:
            params["IfNoneMatch"] = "*"
        try:
            self.client.put_object(**params)
        except AwsError as exc:
            if exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ConflictError(f"{name} already exists") from None
            raise

    def get(self, name: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except NotFoundError:
            raise NotFoundError(f"library file {name} not found in {self.location}") from None
        return bytes(response["Body"].read())

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self._key(name), Range=f"bytes={offset}-{offset + length - 1}"
            )
        except NotFoundError:
            raise NotFoundError(f"library file {name} not found in {self.location}") from None
        data = bytes(response["Body"].read())
        if len(data) != length:
            raise NotFoundError(f"library file {name}: range {offset}+{length} beyond its end")
        return data

    def prepare_new(self) -> None:
        strip = len(self.prefix) + 1
        unrelated: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/"):
            for item in page.get("Contents", []):
                try:
                    validate_name(item["Key"][strip:])
                except LibraryError:
                    unrelated.append(item["Key"])
            if unrelated:
                break  # one page is proof enough
        if unrelated:
            shown = ", ".join(unrelated[:3]) + (", ..." if len(unrelated) > 3 else "")
            raise ConflictError(
                f"{self.location} holds objects that are not a library's ({shown}); nothing was written",
                hint="choose an empty or new prefix",
            )

    def list(self, kind: str) -> Iterator[tuple[str, int]]:
        strip = len(self.prefix) + 1
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/{kind}/"
        ):
            for item in page.get("Contents", []):
                name = item["Key"][strip:]
                try:
                    yield validate_name(name), int(item["Size"])
                except LibraryError:
                    continue  # a stray object under the prefix is not ours to report

    def delete(self, name: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except NotFoundError:
            return

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except NotFoundError:
            return False
        return True
