"""The storage settings a restore sends back: only what AWS accepts for the engine, size and storage type.

AWS (RDS User Guide, "Amazon RDS DB instance storage", gp3 storage): ``DescribeDBInstances`` reports ``Iops`` and
``StorageThroughput`` for every gp3 instance, baseline values included, but below a size threshold (400 GiB for
Db2, MariaDB, MySQL and PostgreSQL, 200 GiB for Oracle; none for SQL Server) a gp3 volume has a fixed baseline
(3,000 IOPS, 125 MiB/s) and a request that sets either is refused. At or above it both can be provisioned.
Provisioned IOPS storage (io1, io2) needs ``Iops``; gp2 and magnetic storage take neither.
"""

from __future__ import annotations

from typing import Any, TypedDict

PROVISIONED_IOPS = ("io1", "io2")


class StorageSettings(TypedDict, total=False):
    StorageType: str
    Iops: int
    StorageThroughput: int


def gp3_threshold_gib(engine: str) -> int | None:
    """Below this size a gp3 volume's IOPS and throughput are fixed; None: settable at any size (SQL Server)."""
    if engine.startswith("sqlserver"):
        return None
    return 200 if engine.startswith("oracle") else 400


def restorable(captured: dict[str, Any]) -> StorageSettings:
    """``StorageType``, and ``Iops`` / ``StorageThroughput`` only where AWS accepts them back."""
    storage_type = captured.get("storage_type")
    settings: StorageSettings = {}
    if not storage_type:
        return settings
    settings["StorageType"] = str(storage_type)
    iops, throughput = captured.get("iops"), captured.get("storage_throughput")
    if storage_type in PROVISIONED_IOPS:
        if iops:
            settings["Iops"] = int(iops)
    elif storage_type == "gp3":
        threshold = gp3_threshold_gib(str(captured.get("engine") or ""))
        if threshold is None or int(captured.get("allocated_storage_gib") or 0) >= threshold:
            if iops:
                settings["Iops"] = int(iops)
            if throughput:
                settings["StorageThroughput"] = int(throughput)
    return settings
