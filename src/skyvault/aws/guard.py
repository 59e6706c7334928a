"""The call guard: a botocore ``before-call`` hook on every client skyvault creates.

An operation that no module declared in the permission registry is refused (strict mode, used by the tests)
or logged as a warning (production), so generated policies cannot drift from the code. It also counts
calls per operation, which jobs report as ``api_calls``.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

from skyvault.errors import SkyvaultError
from skyvault.permissions.registry import REGISTRY, Registry

log = logging.getLogger(__name__)


class UndeclaredCallError(SkyvaultError):
    """Code called an AWS operation that no permission declaration covers (a bug in skyvault)."""

    exit_code = 1


class CallGuard:
    def __init__(self, *, strict: bool, registry: Registry = REGISTRY) -> None:
        self.strict = strict
        self.registry = registry
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        with self._lock:
            self._counts[operation] += 1
        if self.registry.is_declared(service, operation):
            return
        message = f"undeclared AWS call {service}:{operation}: declare it in the module that makes it"
        if self.strict:
            raise UndeclaredCallError(message)
        log.warning(message)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
