"""How a job's result is printed: as the command that starts such jobs prints it (``jobs resume`` and ``restore``).

Beside ``cli.jobrun`` rather than in it: the backup commands use ``jobrun``, and this module uses their printers.
A backup command's module is imported only to print that command's result: ``restore`` loads none of them (the
database ones import the AWS SDK).
"""

from __future__ import annotations

from typing import Any

from skyvault.cli.context import AppState


def print_result(st: AppState, job_kind: str, result: Any) -> None:
    """A (resumed) job's result, printed as the command that starts such jobs prints it."""
    if job_kind == "backup-ec2":
        from skyvault.cli import backup_ec2

        backup_ec2.print_results(st, [result])
    elif job_kind == "backup-image":
        from skyvault.cli import backup_image

        backup_image.print_results(st, result)
    elif job_kind == "backup-s3":
        from skyvault.cli import backup_s3

        backup_s3.print_results(st, result)
    elif job_kind.startswith("backup-"):
        from skyvault.cli import backup_databases

        backup_databases.print_results(st, result)
    elif job_kind == "convert-image":
        from skyvault.cli import convert

        convert.print_result(st, result)
    elif st.json_output:
        st.emit_json(result)
    else:
        for key, value in result.items() if isinstance(result, dict) else [("result", result)]:
            st.info(f"{key}: {value}")
