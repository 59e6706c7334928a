"""Lab model: the DocumentDB engine (``docdb``) on moto's RDS backend.

What AWS does: Amazon DocumentDB shares the RDS control plane (same endpoint ``rds.<region>.amazonaws.com``,
signing name ``rds``, IAM prefix ``rds:``); its API (botocore service ``docdb``) is a subset of RDS's with
``Engine="docdb"``: a cluster holds the storage (cluster snapshots, restores), instances join a cluster and
never stand alone, the default port is 27017, engine versions are 3.6/4.0/5.0 and the default cluster parameter
group is ``default.docdb5.0``.

What moto 5.2.1 does: rejects ``docdb`` as a cluster and instance engine, and has no defaults for it. This model
adds the engine with AWS's defaults and refuses a standalone DocumentDB instance, like AWS.
"""

from __future__ import annotations

import importlib
from typing import Any

ENGINE = "docdb"
DEFAULT_VERSION = "5.0.0"
DEFAULT_PORT = 27017
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    # moto's internals are patched, not typed against: load them as Any.
    models: Any = importlib.import_module("moto.rds.models")
    utils: Any = importlib.import_module("moto.rds.utils")
    InvalidParameterValue = importlib.import_module("moto.rds.exceptions").InvalidParameterValue  # noqa: N806
    ClusterEngine, DbInstanceEngine = utils.ClusterEngine, utils.DbInstanceEngine  # noqa: N806

    cluster_engines = ClusterEngine.list_cluster_engines
    instance_engines = DbInstanceEngine.valid_db_instance_engine
    # Enum classes accept new non-member attributes: replace the two validators' lists with ours appended.
    type.__setattr__(
        ClusterEngine, "list_cluster_engines", classmethod(lambda cls: sorted([*cluster_engines(), ENGINE]))
    )
    type.__setattr__(
        DbInstanceEngine, "valid_db_instance_engine", classmethod(lambda cls: sorted([*instance_engines(), ENGINE]))
    )

    def with_docdb(original: Any, value: Any) -> Any:
        def lookup(engine: str, *args: Any, **kwargs: Any) -> Any:
            return value if engine == ENGINE else original(engine, *args, **kwargs)

        return staticmethod(lookup)

    cluster = models.DBCluster
    cluster.default_engine_version = with_docdb(cluster.default_engine_version, DEFAULT_VERSION)
    cluster.default_port = with_docdb(cluster.default_port, DEFAULT_PORT)
    cluster.default_allocated_storage = with_docdb(cluster.default_allocated_storage, 1)
    models.DBInstance.default_port = with_docdb(models.DBInstance.default_port, DEFAULT_PORT)
    models.DBInstance.default_engine_versions[ENGINE] = DEFAULT_VERSION

    original_cluster_init = cluster.__init__

    def cluster_init(self: Any, backend: Any, db_cluster_identifier: str, engine: str, **kwargs: Any) -> None:
        original_cluster_init(self, backend, db_cluster_identifier, engine, **kwargs)
        if engine == ENGINE and not kwargs.get("db_cluster_parameter_group_name"):
            self.parameter_group = f"default.docdb{self.engine_version.rsplit('.', 1)[0]}"

    cluster.__init__ = cluster_init

    original_create_instance = models.RDSBackend.create_db_instance

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        if db_kwargs.get("engine") == ENGINE and not db_kwargs.get("db_cluster_identifier"):
            raise InvalidParameterValue("DocumentDB instances must be created in a DB cluster (DBClusterIdentifier).")
        return original_create_instance(self, db_kwargs)

    models.RDSBackend.create_db_instance = create_db_instance
    _applied = True
