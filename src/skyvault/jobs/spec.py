"""A job as data: what to run (its kind) and every parameter needed to run it again in another process."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    """``kind`` names the job body (``backup-ec2``, ``restore-rds``...: the registry maps it to a driver).

    ``params`` must be JSON-safe and complete: a resumed job is rebuilt from the catalog's copy alone, so timeouts,
    poll intervals, library names and copy choices live here, never in closures. Secrets never do (a library's
    passphrase comes from the process that runs the job: ``skyvault.services.contract.JobEnvironment``).
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        json.dumps(self.params)  # fail at creation, not at resume, when a parameter is not JSON-safe

    @property
    def operation(self) -> str:
        """``backup`` or ``restore`` (the part of the kind before the first hyphen)."""
        return self.kind.split("-", 1)[0]

    @property
    def subject(self) -> str:
        """The recovery-point kind the job is about (``ec2``, ``rds``, ``image``...)."""
        return self.kind.split("-", 1)[1] if "-" in self.kind else self.kind
