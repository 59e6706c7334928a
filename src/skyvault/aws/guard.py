"""The call guard: a botocore ``before-call`` hook on every client skyvault creates.

An operation that no module declared in the permission registry is refused (strict mode, used by the tests)
or logged as a warning (production), so generated policies cannot drift from the code. It also counts calls
per operation twice: in the factory's own counter (every call the factory's clients made) and in the counter
bound to the current context (``counting_into``), which the job runner binds per job so that two jobs running
side by side on one factory each report their own ``api_calls``. Context variables do not follow a call into a
new thread by themselves: a job's worker threads run in a copy of its context (``JobContext.executor``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from skyvault.errors import SkyvaultError
from skyvault.permissions.registry import REGISTRY, Registry

log = logging.getLogger(__name__)


class UndeclaredCallError(SkyvaultError):
    """Code called an AWS operation that no permission declaration covers (a bug in skyvault)."""

    exit_code = 1


class CallCounter:
    """AWS calls per operation name (thread-safe)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, operation: str) -> None:
        with self._lock:
            self._counts[operation] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_BOUND: ContextVar[CallCounter | None] = ContextVar("skyvault_bound_call_counter", default=None)


@contextmanager
def counting_into(counter: CallCounter) -> Iterator[CallCounter]:
    """Count every guarded AWS call made in this context (this thread, and tasks run in copies of it)."""
    token = _BOUND.set(counter)
    try:
        yield counter
    finally:
        _BOUND.reset(token)


def bound_counter() -> CallCounter | None:
    """The counter ``counting_into`` bound in this context, if any."""
    return _BOUND.get()


class CallGuard:
    def __init__(self, *, strict: bool, registry: Registry = REGISTRY) -> None:
        self.strict = strict
        self.registry = registry
        self._counter = CallCounter()

    def __call__(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        self._counter.add(operation)
        bound = _BOUND.get()
        if bound is not None:
            bound.add(operation)
        if self.registry.is_declared(service, operation):
            return
        message = f"undeclared AWS call {service}:{operation}: declare it in the module that makes it"
        if self.strict:
            raise UndeclaredCallError(message)
        log.warning(message)

    def counts(self) -> dict[str, int]:
        """Every call this guard saw, whichever job or thread made it."""
        return self._counter.counts()

    def reset_counts(self) -> None:
        self._counter.clear()
