"""Scale-out: jobs run on Celery workers, one queue per region, with the catalog shared in PostgreSQL.

- ``app``: the Celery application (one task: run a catalog job by ID; late acknowledgement, prefetch 1);
- ``dispatcher``: ``CeleryDispatcher``, the ``JobDispatcher`` that records jobs and sends their IDs to queues;
- ``task``: ``JobHandler``, what a worker does with an ID (run it if queued, resume it if its worker died);
- ``sweep``: ``Sweeper``, each worker's re-queueing of its queues' jobs whose lease expired;
- ``serve``: running a worker (``skyvault worker``).

Celery is imported only when an app is made: the rest of skyvault never loads it.
"""
