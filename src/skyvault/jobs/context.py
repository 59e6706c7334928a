"""What a job body sees: its ID, named steps, intermediates, progress and its own API call counts.

``step(name, fn)`` runs ``fn`` once per job and records its JSON-able result in the catalog; a resumed job (in
this process or another) gets the recorded result back instead of running ``fn`` again, so a crash mid-job never
repeats a snapshot that already exists. ``intermediate(type, id, account, region)`` records a temporary resource
BEFORE it is created (a crash between the two leaves a record that cleanup treats as already gone); the runner
deletes every live intermediate when the job ends, however it ends, through the cleaner the type's driver
declares. ``progress`` forwards to the process's callback (the CLI draws it; drivers never print).

Steps may run from several threads at once (e.g. the volumes of one instance in parallel): the context is
thread-safe, and ``executor`` gives a pool whose threads count their AWS calls for this job. A step name belongs
to one thread at a time. When the runner's heartbeat finds that another process took the job's lease over,
``lease_lost`` is set and the next ``step`` raises ``JobError``: the job stops at a step boundary, and the new
owner resumes it from the recorded steps.

The runner (``skyvault.engine.runner``) builds contexts; drivers only use them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar, copy_context
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from skyvault.aws.guard import CallCounter
from skyvault.errors import JobError, SkyvaultError

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.catalog import Catalog

T = TypeVar("T")
P = ParamSpec("P")
CLEANUP_STEP = "cleanup"  # the runner's own record of the job-end cleanup (never a body's step)
# (job ID, step name) being run in this context: progress events name their step, also from executor tasks.
_CURRENT_STEP: ContextVar[tuple[str, str] | None] = ContextVar("skyvault_current_step", default=None)


@dataclass(frozen=True)
class ProgressEvent:
    job_id: str
    step: str | None
    message: str
    done: float | None = None
    total: float | None = None
    unit: str | None = None  # "blocks", "bytes", ... (a progress bar's unit), None for plain messages


ProgressCallback = Callable[[ProgressEvent], None]


def _no_progress(_: ProgressEvent) -> None:
    return None


class _ContextExecutor(ThreadPoolExecutor):
    """Each task runs in a copy of the submitter's context variables (the job's call counter among them)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        context = copy_context()

        def run_in_context() -> T:
            return context.run(fn, *args, **kwargs)

        return super().submit(run_in_context)


class JobContext:
    """One job's view of its run: built by the runner, handed to the job body."""

    def __init__(
        self,
        job_id: str,
        catalog: Catalog,
        factory: ClientFactory | Callable[[], ClientFactory],
        *,
        steps: dict[str, Any],
        has_cleaner: Callable[[str], bool],
        progress: ProgressCallback | None = None,
        counter: CallCounter | None = None,
        lease_lost: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id
        self.catalog = catalog
        self._factory = factory  # or what makes it, on first use: a job that calls no AWS API never imports boto3
        self.lease_lost = lease_lost or threading.Event()
        self._steps = {name: state for name, state in steps.items() if name != CLEANUP_STEP}
        self._has_cleaner = has_cleaner
        self._progress = progress or _no_progress
        self._counter = counter or CallCounter()
        self._factory_lock = threading.Lock()  # steps in several threads may ask at once: one factory for all
        self._lock = threading.Lock()  # one catalog write of the steps at a time (read-modify-write of a row)

    @property
    def factory(self) -> ClientFactory:
        with self._factory_lock:
            if callable(self._factory):
                self._factory = self._factory()
            return self._factory

    def step(self, name: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` as the named step, once per job (a resumed job gets the recorded result back)."""
        if name == CLEANUP_STEP:
            raise SkyvaultError(f"step name {name!r} is reserved for the runner (a skyvault bug)")
        if self.lease_lost.is_set():
            raise JobError(
                f"job {self.job_id} stopped before step {name!r}: another process took over its lease",
                hint=f"skyvault jobs show {self.job_id}",
            )
        with self._lock:
            recorded = self._steps.get(name)
        if isinstance(recorded, dict) and recorded.get("status") == "done":
            self.progress(f"{name}: done earlier, resuming after it")
            return recorded.get("result")  # type: ignore[return-value]
        started = time.monotonic()
        inside = _CURRENT_STEP.set((self.job_id, name))
        self._record(name, {"status": "running", "started_at": datetime.now(UTC).isoformat()})
        try:
            result = fn()
        except BaseException as exc:
            self._record(name, {"status": "failed", "error": str(exc)[:2000]})
            raise
        finally:
            _CURRENT_STEP.reset(inside)
        self._record(name, {"status": "done", "result": result, "duration_s": round(time.monotonic() - started, 3)})
        return result

    def intermediate(self, resource_type: str, resource_id: str, account: str, region: str) -> None:
        """Record a temporary resource BEFORE creating it; it is deleted when the job ends, however it ends."""
        if not self._has_cleaner(resource_type):
            raise SkyvaultError(
                f"no driver declares a cleaner for intermediate type {resource_type!r} (a skyvault bug)"
            )
        self.catalog.record_intermediate(self.job_id, resource_type, resource_id, account, region)

    def release(self, resource_id: str) -> None:
        """The body deleted an intermediate itself (e.g. to free a name): mark it gone."""
        self.catalog.mark_deleted(resource_id)

    def progress(
        self, message: str, done: float | None = None, total: float | None = None, unit: str | None = None
    ) -> None:
        self._progress(ProgressEvent(self.job_id, self._current_step(), message, done, total, unit))

    def api_calls(self) -> dict[str, int]:
        """AWS calls per operation made by this job so far (its own threads and its executors' only)."""
        return dict(sorted(self._counter.counts().items()))

    def executor(self, max_workers: int, thread_name_prefix: str = "job") -> ThreadPoolExecutor:
        """A pool whose tasks run in a copy of the submitter's context, so their AWS calls count for this job."""
        return _ContextExecutor(max_workers=max(1, max_workers), thread_name_prefix=thread_name_prefix)

    def steps(self) -> dict[str, Any]:
        """The recorded state of every step so far (a copy)."""
        with self._lock:
            return dict(self._steps)

    def _current_step(self) -> str | None:
        current = _CURRENT_STEP.get()
        return current[1] if current is not None and current[0] == self.job_id else None

    def _record(self, name: str, state: dict[str, Any]) -> None:
        with self._lock:
            self._steps[name] = state
            self.catalog.record_step(self.job_id, name, state)
