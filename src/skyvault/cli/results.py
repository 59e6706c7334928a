"""How a job's result is printed: as the command that starts such jobs prints it (``jobs resume`` and ``restore``).

Beside ``cli.jobrun`` rather than in it: the backup commands use ``jobrun``, and this module uses their printers.
"""

from __future__ import annotations

from typing import Any

from skyvault.cli import backup_databases, backup_ec2, backup_image
from skyvault.cli.context import AppState


def print_result(st: AppState, job_kind: str, result: Any) -> None:
    """A (resumed) job's result, printed as the command that starts such jobs prints it."""
    printers = {
        "backup-ec2": lambda: backup_ec2.print_results(st, [result]),
        "backup-image": lambda: backup_image.print_results(st, result),
    }
    printer = printers.get(job_kind)
    if printer is None and job_kind.startswith("backup-"):
        printer = lambda: backup_databases.print_results(st, result)  # noqa: E731
    if printer is not None:
        printer()
    elif st.json_output:
        st.emit_json(result)
    else:
        for key, value in result.items() if isinstance(result, dict) else [("result", result)]:
            st.info(f"{key}: {value}")
