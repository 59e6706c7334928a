"""Lab model: renaming an RDS/Aurora/DocumentDB instance or cluster, or a Redshift cluster, is asynchronous.

What AWS does (RDS User Guide, "Renaming a DB instance",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html; the same for Aurora and
DocumentDB clusters through ``ModifyDBCluster NewDBClusterIdentifier`` and for Redshift through ``ModifyCluster
NewClusterIdentifier``): the call returns at once with the resource still under its old identifier, in status
``renaming``; the new name "becomes effective in about 10 minutes" and the resource "is not available until the
new name becomes effective". Until then the new identifier answers ``DBInstanceNotFound`` /
``DBClusterNotFoundFault`` / ``ClusterNotFound`` and the old one still exists (so nothing can be created under
it yet). A name that is already taken is refused (``DBInstanceAlreadyExists``, ``DBClusterAlreadyExistsFault``,
``ClusterAlreadyExists``), and a resource that is already being renamed cannot be modified again.

What moto 5.2.1 does: renames at once, inside the modify call, and a renamed cluster loses its member instances
(moto finds members by the cluster's name; in AWS they stay with the renamed cluster).

What the lab does: the rename stays pending for the next ``RENAME_POLLS`` describe calls (``DescribeDBInstances``,
``DescribeDBClusters``, ``DescribeClusters``, any identifier) of the same account and region, and takes effect on
the one after; during that time the resource keeps its old identifier with status ``renaming``. Counting
describe calls instead of seconds keeps tests deterministic while a driver that looks at the new name at once,
or reuses the old name at once, fails as it would against AWS. ``set_rename_polls`` changes the count (in the lab
process); ``reset`` restores the default.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

DEFAULT_RENAME_POLLS = 2
RENAME_POLLS = DEFAULT_RENAME_POLLS
_applied = False
_lock = threading.RLock()
_PENDING = "_skyvault_pending_renames"


@dataclass
class PendingRename:
    kind: str  # instance | cluster | redshift
    old: str
    new: str
    remaining: int


def set_rename_polls(count: int) -> dict[str, Any]:
    global RENAME_POLLS
    if count < 0:
        raise ValueError("rename_polls must be >= 0")
    RENAME_POLLS = count
    return {"rename_polls": RENAME_POLLS}


def reset() -> None:
    global RENAME_POLLS
    RENAME_POLLS = DEFAULT_RENAME_POLLS


def _pending(backend: Any) -> list[PendingRename]:
    found: list[PendingRename] | None = getattr(backend, _PENDING, None)
    if found is None:
        found = []
        setattr(backend, _PENDING, found)
    return found


def _pending_for(backend: Any, kind: str, name: str) -> PendingRename | None:
    return next((p for p in _pending(backend) if p.kind == kind and name in (p.old, p.new)), None)


def apply() -> None:
    global _applied
    if _applied:
        return
    rds: Any = importlib.import_module("moto.rds.models")
    rds_errors: Any = importlib.import_module("moto.rds.exceptions")
    redshift: Any = importlib.import_module("moto.redshift.models")
    redshift_errors: Any = importlib.import_module("moto.redshift.exceptions")
    rds_backend, redshift_backend = rds.RDSBackend, redshift.RedshiftBackend
    rds_response: Any = importlib.import_module("moto.rds.responses").RDSResponse
    redshift_response: Any = importlib.import_module("moto.redshift.responses").RedshiftResponse
    modify_instance, modify_cluster = rds_backend.modify_db_instance, rds_backend.modify_db_cluster
    modify_redshift = redshift_backend.modify_cluster

    def complete(backend: Any, rename: PendingRename) -> None:
        if rename.kind == "instance":
            modify_instance(backend, rename.old, {"new_db_instance_identifier": rename.new})
            backend.databases[rename.new].status = "available"
        elif rename.kind == "cluster":
            modify_cluster(backend, {"db_cluster_identifier": rename.old, "new_db_cluster_identifier": rename.new})
            backend.clusters[rename.new].status = "available"
            # AWS: the members stay with the renamed cluster; moto matches members by the cluster's name.
            for database in backend.databases.values():
                if getattr(database, "db_cluster_identifier", None) == rename.old:
                    database.db_cluster_identifier = rename.new
        else:
            modify_redshift(backend, cluster_identifier=rename.old, new_cluster_identifier=rename.new)
            backend.clusters[rename.new].status = "available"

    def tick(backend: Any) -> None:
        with _lock:
            pending = _pending(backend)
            for rename in list(pending):
                rename.remaining -= 1
                if rename.remaining < 0:  # answered RENAME_POLLS describes while pending: done now
                    pending.remove(rename)
                    complete(backend, rename)

    def start(backend: Any, rename: PendingRename, resource: Any) -> None:
        with _lock:
            if RENAME_POLLS == 0:
                complete(backend, rename)
                return
            rename.remaining = RENAME_POLLS
            _pending(backend).append(rename)
            resource.status = "renaming"

    # -- RDS / Aurora / DocumentDB instances ------------------------------------------------------------
    def modify_db_instance(self: Any, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        new = db_kwargs.pop("new_db_instance_identifier", None)
        db_kwargs.pop("NewDBInstanceIdentifier", None)
        if _pending_for(self, "instance", db_instance_identifier):
            raise rds_errors.InvalidDBInstanceStateFault(f"DB instance {db_instance_identifier} is being renamed.")
        database = modify_instance(self, db_instance_identifier, db_kwargs)
        if new and new != db_instance_identifier:
            if new in self.databases or _pending_for(self, "instance", new):
                raise rds_errors.DBInstanceAlreadyExists()
            start(self, PendingRename("instance", db_instance_identifier, new, 0), database)
        return database

    def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        current = kwargs["db_cluster_identifier"]
        new = kwargs.pop("new_db_cluster_identifier", None)
        if _pending_for(self, "cluster", current):
            raise rds_errors.InvalidDBClusterStateFault(f"DB cluster {current} is being renamed.")
        if current not in self.clusters:
            raise rds_errors.DBClusterNotFoundError(current)
        if new and new != current and (new in self.clusters or _pending_for(self, "cluster", new)):
            raise rds_errors.RDSClientError("DBClusterAlreadyExistsFault", "DB cluster already exists")
        modified = modify_cluster(self, kwargs)
        if new and new != current:
            cluster = self.clusters[current]
            start(self, PendingRename("cluster", current, new, 0), cluster)
            modified.status = cluster.status
        return modified

    # Only the API's describe calls advance a rename (moto's own methods describe internally too).
    def ticking(describe: Any, backend_of: Any) -> Any:
        def respond(self: Any) -> Any:
            tick(backend_of(self))
            return describe(self)

        return respond

    rds_response.describe_db_instances = ticking(rds_response.describe_db_instances, lambda r: r.backend)
    rds_response.describe_db_clusters = ticking(rds_response.describe_db_clusters, lambda r: r.backend)
    rds_backend.modify_db_instance = modify_db_instance
    rds_backend.modify_db_cluster = modify_db_cluster

    # -- Redshift clusters ---------------------------------------------------------------------------------
    def modify_redshift_cluster(self: Any, **cluster_kwargs: Any) -> Any:
        current = cluster_kwargs["cluster_identifier"]
        new = cluster_kwargs.pop("new_cluster_identifier", None)
        if _pending_for(self, "redshift", current):
            raise redshift_errors.RedshiftClientError("InvalidClusterState", f"Cluster {current} is being renamed.")
        if new and new != current and (new in self.clusters or _pending_for(self, "redshift", new)):
            raise redshift_errors.ClusterAlreadyExistsFaultError()
        cluster = modify_redshift(self, **cluster_kwargs)
        if new and new != current:
            start(self, PendingRename("redshift", current, new, 0), cluster)
        return cluster

    redshift_response.describe_clusters = ticking(redshift_response.describe_clusters, lambda r: r.redshift_backend)
    redshift_backend.modify_cluster = modify_redshift_cluster
    _applied = True
