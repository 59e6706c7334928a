"""The catalog: jobs, recovery points and the intermediate resources jobs create (SQLAlchemy + Alembic; SQLite
default). Callers get plain records (``records.py``); the ORM rows stay in this package."""

from skyvault.catalog.records import IntermediateResource, Job, PlanRun, RecoveryPoint
from skyvault.catalog.revision import SchemaUpgrade
from skyvault.catalog.store import Catalog

__all__ = ["Catalog", "IntermediateResource", "Job", "PlanRun", "RecoveryPoint", "SchemaUpgrade"]
