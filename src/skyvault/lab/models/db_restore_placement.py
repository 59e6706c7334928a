"""Lab model: RDS/Aurora/DocumentDB restores do not inherit the source's networking and groups.

What AWS does: a snapshot keeps the data, engine, storage and encryption, not the placement. A restore without
``DBSubnetGroupName`` lands in the default VPC (default subnet group), without ``VpcSecurityGroupIds`` in that
VPC's default security group, and with the default parameter/option groups; this is why backup tools capture the
configuration and pass it back on restore, and why a restore in another account cannot reuse those names.

What moto 5.2.1 does: copies the source's subnet group (and, for clusters, security groups and cluster parameter
group) from the snapshot into the restored resource, so a restore into another account fails on a subnet group
that exists only in the source account. This model drops what the request did not name.

Also: AWS names automated snapshots ``rds:<id>-<date>-<time>`` and keeps them apart per DB resource; moto names
them per minute, so re-creating an identifier within a minute (a rename-swap restore does) collides with
``DBSnapshotAlreadyExists``. The model adds a suffix to the automated snapshot's name instead.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

_applied = False
_restoring = threading.local()


def apply() -> None:
    global _applied
    if _applied:
        return
    models: Any = importlib.import_module("moto.rds.models")
    backend_cls = models.RDSBackend

    def restoring(original: Any, dropped: tuple[str, ...]) -> Any:
        def restore(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
            _restoring.drop = [key for key in dropped if not overrides.get(key)]
            try:
                return original(self, from_snapshot_id, overrides)
            finally:
                _restoring.drop = []

        return restore

    def creating(original: Any) -> Any:
        def create(self: Any, kwargs: dict[str, Any]) -> Any:
            for key in getattr(_restoring, "drop", []):
                kwargs.pop(key, None)
            _restoring.drop = []  # only the restored resource itself, not what it creates in turn
            return original(self, kwargs)

        return create

    backend_cls.restore_db_instance_from_db_snapshot = restoring(
        backend_cls.restore_db_instance_from_db_snapshot, ("db_subnet_group_name", "option_group_name")
    )
    backend_cls.restore_db_cluster_from_snapshot = restoring(
        backend_cls.restore_db_cluster_from_snapshot,
        ("db_subnet_group_name", "vpc_security_group_ids", "db_cluster_parameter_group_name", "parameter_group"),
    )

    def unique_auto(original: Any, existing: str) -> Any:
        def create_auto(self: Any, source_id: str, snapshot_id: str) -> Any:
            taken, name, count = getattr(self, existing), snapshot_id, 1
            while name in taken:
                count += 1
                name = f"{snapshot_id}-{count}"
            return original(self, source_id, name)

        return create_auto

    backend_cls.create_auto_snapshot = unique_auto(backend_cls.create_auto_snapshot, "database_snapshots")
    backend_cls.create_auto_cluster_snapshot = unique_auto(
        backend_cls.create_auto_cluster_snapshot, "cluster_snapshots"
    )
    backend_cls.create_db_instance = creating(backend_cls.create_db_instance)
    backend_cls.create_db_cluster = creating(backend_cls.create_db_cluster)
    _applied = True
