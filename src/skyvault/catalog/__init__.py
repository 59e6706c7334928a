"""The catalog: jobs, recovery points and the intermediate resources jobs create (SQLAlchemy; SQLite default)."""

from skyvault.catalog.store import Catalog, IntermediateResource, Job, RecoveryPoint

__all__ = ["Catalog", "IntermediateResource", "Job", "RecoveryPoint"]
