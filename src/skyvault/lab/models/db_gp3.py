"""Lab model: gp3 storage of RDS DB instances: what DescribeDBInstances reports and what a request may set.

What AWS does (RDS User Guide, "Amazon RDS DB instance storage", gp3 storage,
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html#gp3-storage): a gp3 volume below a size
threshold (400 GiB for Db2, MariaDB, MySQL and PostgreSQL, 200 GiB for Oracle) has a fixed baseline of 3,000 IOPS
and 125 MiB/s, and ``Iops`` / ``StorageThroughput`` cannot be set ("You can't specify IOPS or storage throughput
for engine postgres and a storage size less than 400."); at or above it the baseline is 12,000 IOPS and
500 MiB/s and both can be provisioned. SQL Server has no threshold (baseline 3,000 IOPS and 125 MiB/s, both
provisionable at any size). ``DescribeDBInstances`` reports ``Iops`` and ``StorageThroughput`` for every gp3
instance, baseline values included, so a tool that sends back what it read fails on small gp3 databases.

What moto 5.2.1 does: reports only what the request set and accepts ``Iops`` and ``StorageThroughput`` at any
size.

What the lab does: reports the baseline when nothing was set, and refuses ``Iops`` or ``StorageThroughput`` on a
gp3 instance below the threshold in ``CreateDBInstance``, ``RestoreDBInstanceFromDBSnapshot`` (whose size is
the snapshot's) and ``ModifyDBInstance``, with ``InvalidParameterCombination``.
"""

from __future__ import annotations

import importlib
from typing import Any

_applied = False


def threshold_gib(engine: str) -> int | None:
    """Below this size a gp3 volume has a fixed baseline; None: IOPS and throughput settable at any size."""
    if engine.startswith("sqlserver"):
        return None
    return 200 if engine.startswith("oracle") else 400


def baseline(engine: str, allocated_gib: int) -> tuple[int, int]:
    """(IOPS, MiB/s) of a gp3 volume that sets neither."""
    limit = threshold_gib(engine)
    return (12000, 500) if limit is not None and allocated_gib >= limit else (3000, 125)


def apply() -> None:
    global _applied
    if _applied:
        return
    models: Any = importlib.import_module("moto.rds.models")
    responses: Any = importlib.import_module("moto.rds.responses")
    errors: Any = importlib.import_module("moto.rds.exceptions")
    response_cls = responses.RDSResponse

    def refuse_below_threshold(self: Any, engine: str | None, storage_type: str | None, allocated: Any) -> None:
        if storage_type != "gp3" or not engine or allocated is None:
            return
        if self._get_param("Iops") is None and self._get_param("StorageThroughput") is None:
            return
        limit = threshold_gib(engine)
        if limit is not None and int(allocated) < limit:
            raise errors.InvalidParameterCombination(
                f"You can't specify IOPS or storage throughput for engine {engine} and a storage size less than "
                f"{limit}."
            )

    create = response_cls.create_db_instance

    def create_db_instance(self: Any) -> Any:
        refuse_below_threshold(
            self, self._get_param("Engine"), self._get_param("StorageType"), self._get_param("AllocatedStorage")
        )
        return create(self)

    restore = response_cls.restore_db_instance_from_db_snapshot

    def restore_db_instance_from_db_snapshot(self: Any) -> Any:
        source = str(self._get_param("DBSnapshotIdentifier") or "")
        found = [
            s
            for s in self.backend.database_snapshots.values()
            if source.lower() in (s.db_snapshot_identifier, str(s.arn).lower())
        ]
        if found:  # a snapshot moto cannot find here (shared by ARN) is left to moto's own answer
            database = found[0].database
            storage_type = self._get_param("StorageType") or database.storage_type
            allocated = self._get_param("AllocatedStorage") or found[0].allocated_storage
            refuse_below_threshold(self, database.engine, storage_type, allocated)
        return restore(self)

    modify = response_cls.modify_db_instance

    def modify_db_instance(self: Any) -> Any:
        identifier = self._get_param("DBInstanceIdentifier")
        database = self.backend.databases.get(identifier)
        if database is not None:
            storage_type = self._get_param("StorageType") or database.storage_type
            allocated = self._get_param("AllocatedStorage") or database.allocated_storage
            refuse_below_threshold(self, database.engine, storage_type, allocated)
        return modify(self)

    response_cls.create_db_instance = create_db_instance
    response_cls.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot
    response_cls.modify_db_instance = modify_db_instance

    instance_init = models.DBInstance.__init__

    def init_instance(self: Any, *args: Any, **kwargs: Any) -> None:
        instance_init(self, *args, **kwargs)
        if getattr(self, "db_cluster_identifier", None) is None and self.storage_type == "gp3":
            iops, throughput = baseline(self.engine, int(self.allocated_storage or 0))
            self.iops = self.iops or iops
            self.storage_throughput = self.storage_throughput or throughput

    models.DBInstance.__init__ = init_instance
    _applied = True
