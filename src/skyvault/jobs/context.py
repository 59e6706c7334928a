"""What a job body sees: its ID, named steps, intermediates, progress and its own API call counts.

``step(name, fn)`` runs ``fn`` once per job and records its JSON-able result in the catalog (row per step); a
resumed job (in this process or another) gets the recorded result back instead of running ``fn`` again.
``intermediate(type, id, account, region)`` records a temporary resource BEFORE it is created; the runner deletes
every live intermediate when the job ends, however it ends, through the cleaner the type's driver declares.
Steps may run from several threads at once (e.g. the volumes of one instance in parallel): the context is
thread-safe, and ``executor`` gives a pool whose threads count their AWS calls for this job.

INTERFACE OWNED BY THE ENGINE/JOBS ENGINEER: keep these names; the drivers build on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    job_id: str
    step: str | None
    message: str
    done: float | None = None
    total: float | None = None
    unit: str | None = None  # "blocks", "bytes", ... (a progress bar's unit), None for plain messages


ProgressCallback = Callable[[ProgressEvent], None]

# The rest (JobContext: job_id, catalog, factory, step(), intermediate(), release(), progress(), api_calls(),
# executor(max_workers), lease_lost) is written by the engine/jobs engineer, moving engine/jobs.py here.
