"""Running jobs from the CLI: the job environment this process supplies, progress on stderr, result printing.

Commands build a ``JobSpec`` and run it with ``JobRunner(environment(st, ...))``; ``jobs resume`` prints a resumed
job's result with ``cli.results.print_result`` exactly as the command that started it would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skyvault.cli.context import AppState
from skyvault.jobs import ProgressCallback, ProgressEvent
from skyvault.services.contract import JobEnvironment

if TYPE_CHECKING:
    from skyvault.engine.runner import JobRunner
    from skyvault.library.repository import Repository

# The runner and the catalog (SQLAlchemy) are imported when a job runs: a command module importing this one stays
# cheap to load, so its ``--help`` is (tests/core/test_startup.py).


def progress_printer(st: AppState) -> ProgressCallback:
    """Step messages on stderr (not with --json unless -v); counted events only every 10% (a copy emits one
    per block)."""

    shown_tenths: dict[tuple[str, str | None], int] = {}

    def show(event: ProgressEvent) -> None:
        if st.json_output and st.verbose == 0:
            return
        if event.total and event.done is not None:
            tenth = min(10, int(10 * event.done / event.total))
            key = (event.job_id, event.step)
            if shown_tenths.get(key) == tenth:
                return
            shown_tenths[key] = tenth
        message = event.message
        if event.unit == "bytes" and event.total and event.done is not None:
            message = f"{message}: {int(event.done):,}/{int(event.total):,} bytes"
        st.err_console.print(f"[dim]{event.job_id}[/dim] {message}", highlight=False)

    return show


def environment(st: AppState, progress: ProgressCallback | None = None) -> JobEnvironment:
    """What this process gives a job: the catalog, its clients, libraries opened with the passphrase it holds."""
    from skyvault.cli.library import open_library  # cli.library imports this module's neighbours

    asked: dict[str, str | None] = {}  # one passphrase prompt per library, however many jobs open it

    def open_named(name: str | None) -> Repository:
        return open_library(st, name, asked=asked)

    # st.factory, not st.factory(): the client factory (boto3) is made only if a job calls AWS.
    return JobEnvironment(catalog=st.catalog(), factory=st.factory, open_library=open_named, progress=progress)


def runner(st: AppState) -> JobRunner:
    """A runner in this process, drawing progress on stderr."""
    from skyvault.engine.runner import JobRunner

    return JobRunner(environment(st, progress_printer(st)))


def print_backups(st: AppState, results: list[dict[str, Any]], line: Any) -> None:
    """``--json``: one ``{"recovery_point", "stats"}`` for one source, a list for several; else ``line(result)``."""
    shown = [{"recovery_point": r["recovery_point"], "stats": r["stats"]} for r in results]
    if st.json_output:
        st.emit_json(shown[0] if len(shown) == 1 else shown)
        return
    for result in shown:
        st.info(line(result))
