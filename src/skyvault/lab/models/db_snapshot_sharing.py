"""Lab model: RDS/Aurora/DocumentDB snapshot encryption keys and cross-account sharing, as AWS does them.

What AWS does:
- ``StorageEncrypted=True`` without ``KmsKeyId`` encrypts with the account's AWS-managed key ``alias/aws/rds``
  (DocumentDB too); key IDs and aliases are reported as key ARNs.
- A manual snapshot shared (``ModifyDB[Cluster]SnapshotAttribute`` ``restore``) with account B becomes visible in
  B: ``Describe*Snapshots`` with ``SnapshotType=shared`` or ``IncludeShared=True``, or by its ARN; B can copy it
  (``SourceDB[Cluster]SnapshotIdentifier`` = the ARN) and restore from it (the ARN as snapshot identifier).
  Unshared snapshots of other accounts stay invisible (not found).
- A snapshot encrypted with the AWS-managed key cannot be shared (the key policy of ``aws/rds`` cannot grant
  another account); copying an encrypted snapshot to another region or from another account needs ``KmsKeyId``.

What moto 5.2.1 does: writes the placeholder ``default_kms_key_id``; resolves ARNs only in the caller's account
(a shared snapshot is never found by ARN), ignores ``IncludeShared``, and shares anything. This model fixes that.
"""

from __future__ import annotations

import importlib
from typing import Any

MANAGED_ALIAS = "alias/aws/rds"
_PLACEHOLDER = "default_kms_key_id"
_applied = False


def _kms(account_id: str, region: str) -> Any:
    from moto.kms.models import kms_backends

    return kms_backends[account_id][region]


def managed_key_arn(account_id: str, region: str) -> str:
    """The account's AWS-managed RDS key in the region, created on first use like AWS does."""
    kms = _kms(account_id, region)
    key_id = kms.get_key_id_from_alias(MANAGED_ALIAS)  # moto creates reserved aliases' keys on first lookup
    key = kms.keys[key_id]
    key.key_manager = "AWS"  # ...but reports them as customer managed
    key.description = "Default key that protects my RDS database volumes when no other key is defined"
    return str(kms.keys[key_id].arn)


def _key_arn(account_id: str, region: str, key: str | None, encrypted: bool) -> str | None:
    if not encrypted:
        return None
    if not key or key == _PLACEHOLDER:
        return managed_key_arn(account_id, region)
    if key.startswith("arn:"):
        return key
    try:
        return str(_kms(account_id, region).describe_key(key).arn)
    except Exception:  # an unknown key is reported as given, as moto did
        return key


def is_aws_managed(key_arn: str | None) -> bool:
    if not key_arn or not key_arn.startswith("arn:"):
        return False
    parts = key_arn.split(":")
    try:
        key = _kms(parts[4], parts[3]).describe_key(key_arn)
    except Exception:
        return False
    return bool(key.key_manager == "AWS")


def _parse_arn(identifier: str | None) -> tuple[str, str, str] | None:
    """(account, region, name) of an RDS snapshot ARN, else None."""
    if not identifier or not identifier.startswith("arn:"):
        return None
    parts = identifier.split(":")
    return (parts[4], parts[3], parts[6]) if len(parts) >= 7 else None


def _shared_with(snapshot: Any, account_id: str) -> bool:
    restore = snapshot.attributes.get("restore", [])
    return account_id in restore or "all" in restore


def apply() -> None:
    global _applied
    if _applied:
        return
    # moto's internals are patched, not typed against: load them as Any.
    models: Any = importlib.import_module("moto.rds.models")
    responses: Any = importlib.import_module("moto.rds.responses")
    exceptions: Any = importlib.import_module("moto.rds.exceptions")
    InvalidParameterValue = exceptions.InvalidParameterValue  # noqa: N806

    backend_cls = models.RDSBackend

    # -- encryption keys ------------------------------------------------------------------------------
    instance_init = models.DBInstance.__init__

    def db_instance_init(self: Any, *args: Any, **kwargs: Any) -> None:
        instance_init(self, *args, **kwargs)
        if self.db_cluster_identifier is None:
            self.kms_key_id = _key_arn(self.account_id, self.region, self.kms_key_id, bool(self.storage_encrypted))

    models.DBInstance.__init__ = db_instance_init

    cluster_init = models.DBCluster.__init__

    def db_cluster_init(self: Any, *args: Any, **kwargs: Any) -> None:
        cluster_init(self, *args, **kwargs)
        self.kms_key_id = _key_arn(self.account_id, self.region, self.kms_key_id, bool(self.storage_encrypted))

    models.DBCluster.__init__ = db_cluster_init

    # -- shared snapshots resolve across accounts -----------------------------------------------------
    get_snapshot = backend_cls.get_snapshot

    def resolve(self: Any, identifier: str, resource_type: Any, not_found_exception: Any) -> Any:
        parsed = _parse_arn(identifier)
        if parsed is None or parsed[0] == self.account_id:
            return get_snapshot(self, identifier, resource_type, not_found_exception)
        account, region, name = parsed
        owner = models.rds_backends[account][region]
        snapshot = owner.resource_map[resource_type].get(name)
        if snapshot is None or not _shared_with(snapshot, self.account_id):
            raise not_found_exception(identifier)
        return snapshot

    backend_cls.get_snapshot = resolve

    extract = backend_cls.extract_snapshot_name_from_arn

    def extract_name(self: Any, snapshot_arn: str) -> str:
        name = extract(self, snapshot_arn)
        parsed = _parse_arn(snapshot_arn)
        # A foreign ARN stays an ARN so that restore looks it up across accounts (see describe below).
        return snapshot_arn if parsed and parsed[0] != self.account_id else name

    backend_cls.extract_snapshot_name_from_arn = extract_name

    def describing(original: Any, resource_type: Any, not_found: Any, owner_param: str) -> Any:
        # moto calls these positionally and by keyword: (owner id, snapshot id, snapshot type, filters)
        names = (owner_param, "db_snapshot_identifier", "snapshot_type", "filters")

        def describe(self: Any, *args: Any, **kwargs: Any) -> Any:
            call = dict(zip(names, args, strict=False)) | kwargs
            snapshot_id = call.get("db_snapshot_identifier")
            parsed = _parse_arn(snapshot_id)
            if parsed is not None:
                if parsed[0] != self.account_id or parsed[1] != self.region_name:
                    return [resolve(self, snapshot_id or "", resource_type, not_found)]
                call["db_snapshot_identifier"] = parsed[2]
            return original(self, **call)

        return describe

    backend_cls.describe_db_snapshots = describing(
        backend_cls.describe_db_snapshots,
        models.DBSnapshot,
        exceptions.DBSnapshotNotFoundFault,
        "db_instance_identifier",
    )
    backend_cls.describe_db_cluster_snapshots = describing(
        backend_cls.describe_db_cluster_snapshots,
        models.DBClusterSnapshot,
        exceptions.DBClusterSnapshotNotFoundError,
        "db_cluster_identifier",
    )

    # -- copies of encrypted snapshots across regions/accounts need a key there ---------------------------
    def copying(original: Any, getter: str, source_param: str) -> Any:
        def copy(self: Any, **kwargs: Any) -> Any:
            source_id = kwargs.get(source_param) or ""
            source = getattr(self, getter)(source_id)
            parsed = _parse_arn(source_id)
            remote = parsed is not None and (parsed[0] != self.account_id or parsed[1] != self.region_name)
            if remote and getattr(source, "storage_encrypted", False) and not kwargs.get("kms_key_id"):
                raise InvalidParameterValue(
                    "KmsKeyId is required to copy an encrypted snapshot from another AWS Region or account."
                )
            return original(self, **kwargs)

        return copy

    backend_cls.copy_db_snapshot = copying(
        backend_cls.copy_db_snapshot, "get_db_snapshot", "source_db_snapshot_identifier"
    )
    backend_cls.copy_db_cluster_snapshot = copying(
        backend_cls.copy_db_cluster_snapshot, "get_db_cluster_snapshot", "source_db_cluster_snapshot_identifier"
    )

    # -- no sharing of snapshots encrypted with the AWS-managed key -----------------------------------
    def sharing(original: Any, describe: str, id_param: str) -> Any:
        def modify(self: Any, **kwargs: Any) -> Any:
            snapshot = getattr(self, describe)(None, kwargs[id_param])[0]
            key = snapshot.kms_key_id if snapshot.storage_encrypted else None
            if kwargs.get("values_to_add") and is_aws_managed(key):
                raise InvalidParameterValue(
                    "Snapshots encrypted with the AWS managed KMS key (aws/rds) can't be shared. "
                    "Copy the snapshot with a customer managed key and share the copy."
                )
            return original(self, **kwargs)

        return modify

    backend_cls.modify_db_snapshot_attribute = sharing(
        backend_cls.modify_db_snapshot_attribute, "describe_db_snapshots", "db_snapshot_identifier"
    )
    backend_cls.modify_db_cluster_snapshot_attribute = sharing(
        backend_cls.modify_db_cluster_snapshot_attribute,
        "describe_db_cluster_snapshots",
        "db_cluster_snapshot_identifier",
    )

    # -- IncludeShared ------------------------------------------------------------------------------------
    def including_shared(original: Any, key: str, shared: str, owner_param: str, owner_attr: str) -> Any:
        def describe(self: Any) -> Any:
            result = original(self)
            include = str(self.params.get("IncludeShared", "")).lower() == "true"
            if include and not self.params.get("SnapshotType") and isinstance(result.result, dict):
                owner = self.params.get(owner_param)
                extra = [s for s in getattr(self.backend, shared)() if not owner or getattr(s, owner_attr) == owner]
                result.result[key] = [*result.result[key], *extra]
            return result

        return describe

    response_cls = responses.RDSResponse
    response_cls.describe_db_snapshots = including_shared(
        response_cls.describe_db_snapshots,
        "DBSnapshots",
        "get_shared_db_snapshots",
        "DBInstanceIdentifier",
        "db_instance_identifier",
    )
    response_cls.describe_db_cluster_snapshots = including_shared(
        response_cls.describe_db_cluster_snapshots,
        "DBClusterSnapshots",
        "get_shared_db_cluster_snapshots",
        "DBClusterIdentifier",
        "db_cluster_identifier",
    )
    _applied = True
