"""Lab model: AWS's identifier rules for database clusters, cluster snapshots and Redshift, which moto skips.

What AWS does (RDS API Reference: CreateDBCluster, CreateDBClusterSnapshot, CopyDBClusterSnapshot, ModifyDBInstance,
ModifyDBCluster; the DocumentDB API reference says the same; Redshift API Reference: CreateCluster,
CreateClusterSnapshot, ModifyCluster):
- DB instance and DB cluster identifiers (RDS, Aurora, DocumentDB; also as ``NewDB...Identifier`` of a rename):
  1-63 letters, digits or hyphens, the first a letter, no trailing hyphen, no two consecutive hyphens.
- ``DBClusterSnapshotIdentifier`` (create and copy): the same rules, 1-63 characters. (``DBSnapshotIdentifier``
  of DB instance snapshots allows 1-255.)
- Redshift cluster identifiers (create, restore, ``NewClusterIdentifier``): 1-63 lowercase letters, digits or
  hyphens, the same first/last/double-hyphen rules. Redshift ``SnapshotIdentifier``: 1-255 letters, digits or
  hyphens, same rules.
Violations answer ``InvalidParameterValue``.

What moto 5.2.1 does: checks DB instance identifiers and ``DBSnapshotIdentifier`` only; cluster identifiers,
cluster snapshot identifiers, rename targets and every Redshift identifier are accepted whatever they are.

What the lab does: checks all of the above (automated snapshots, which AWS names itself with ``rds:``/``rs:``,
are exempt).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

_applied = False
_RULES = "^(?!.*--)[a-zA-Z](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$"


def valid(identifier: str, max_length: int, *, lowercase: bool = False) -> bool:
    if not identifier or len(identifier) > max_length or not re.match(_RULES, identifier):
        return False
    return not lowercase or identifier == identifier.lower()


def _message(parameter: str, value: str, max_length: int) -> str:
    return (
        f"The parameter {parameter} is not a valid identifier ({value!r}). Identifiers must contain from 1 to "
        f"{max_length} letters, digits or hyphens; must begin with a letter; and must not end with a hyphen or "
        "contain two consecutive hyphens."
    )


def apply() -> None:
    global _applied
    if _applied:
        return
    rds: Any = importlib.import_module("moto.rds.models")
    rds_errors: Any = importlib.import_module("moto.rds.exceptions")
    redshift: Any = importlib.import_module("moto.redshift.models")
    redshift_errors: Any = importlib.import_module("moto.redshift.exceptions")
    rds_backend, redshift_backend = rds.RDSBackend, redshift.RedshiftBackend

    def check_rds(parameter: str, value: str | None, max_length: int = 63) -> None:
        if value is not None and not valid(value, max_length):
            raise rds_errors.InvalidParameterValue(_message(parameter, value, max_length))

    def check_redshift(parameter: str, value: str | None, max_length: int, *, lowercase: bool = False) -> None:
        if value is not None and not valid(value, max_length, lowercase=lowercase):
            raise redshift_errors.InvalidParameterValueError(_message(parameter, value, max_length))

    create_cluster = rds_backend.create_db_cluster

    def create_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        check_rds("DBClusterIdentifier", kwargs.get("db_cluster_identifier"))
        return create_cluster(self, kwargs)

    create_cluster_snapshot = rds_backend.create_db_cluster_snapshot

    def create_db_cluster_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        snapshot_type = kwargs.get("snapshot_type", args[2] if len(args) > 2 else "manual")
        if snapshot_type == "manual":
            identifier = kwargs.get("db_cluster_snapshot_identifier", args[1] if len(args) > 1 else None)
            check_rds("DBClusterSnapshotIdentifier", identifier)
        return create_cluster_snapshot(self, *args, **kwargs)

    copy_cluster_snapshot = rds_backend.copy_db_cluster_snapshot

    def copy_db_cluster_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        target = kwargs.get("target_db_cluster_snapshot_identifier", args[1] if len(args) > 1 else None)
        check_rds("TargetDBClusterSnapshotIdentifier", target)
        return copy_cluster_snapshot(self, *args, **kwargs)

    modify_instance = rds_backend.modify_db_instance

    def modify_db_instance(self: Any, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        check_rds("NewDBInstanceIdentifier", db_kwargs.get("new_db_instance_identifier"))
        return modify_instance(self, db_instance_identifier, db_kwargs)

    modify_cluster = rds_backend.modify_db_cluster

    def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        check_rds("NewDBClusterIdentifier", kwargs.get("new_db_cluster_identifier"))
        return modify_cluster(self, kwargs)

    rds_backend.create_db_cluster = create_db_cluster
    rds_backend.create_db_cluster_snapshot = create_db_cluster_snapshot
    rds_backend.copy_db_cluster_snapshot = copy_db_cluster_snapshot
    rds_backend.modify_db_instance = modify_db_instance
    rds_backend.modify_db_cluster = modify_db_cluster

    create_redshift = redshift_backend.create_cluster

    def create_redshift_cluster(self: Any, **kwargs: Any) -> Any:
        check_redshift("ClusterIdentifier", kwargs.get("cluster_identifier"), 63, lowercase=True)
        return create_redshift(self, **kwargs)

    snapshot_redshift = redshift_backend.create_cluster_snapshot

    def create_redshift_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        snapshot_type = kwargs.get("snapshot_type", args[4] if len(args) > 4 else "manual")
        if snapshot_type == "manual":
            identifier = kwargs.get("snapshot_identifier", args[1] if len(args) > 1 else None)
            check_redshift("SnapshotIdentifier", identifier, 255)
        return snapshot_redshift(self, *args, **kwargs)

    modify_redshift = redshift_backend.modify_cluster

    def modify_redshift_cluster(self: Any, **kwargs: Any) -> Any:
        check_redshift("NewClusterIdentifier", kwargs.get("new_cluster_identifier"), 63, lowercase=True)
        return modify_redshift(self, **kwargs)

    redshift_backend.create_cluster = create_redshift_cluster
    redshift_backend.create_cluster_snapshot = create_redshift_snapshot
    redshift_backend.modify_cluster = modify_redshift_cluster
    _applied = True
