"""The job model drivers write steps against: ``JobSpec``, ``JobContext``, progress events, leases. Data only.

No runner, no Celery, no CLI here: ``skyvault.engine.runner`` executes a ``JobSpec`` by handing a ``JobContext``
to the body its driver declares (``skyvault.services.registry``); any process can do that, so a job started in
one process can be resumed in another.
"""

from skyvault.jobs.context import JobContext, ProgressCallback, ProgressEvent
from skyvault.jobs.spec import JobSpec

__all__ = ["JobContext", "JobSpec", "ProgressCallback", "ProgressEvent"]
