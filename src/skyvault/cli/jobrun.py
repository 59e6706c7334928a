"""Running jobs from the CLI: the job environment this process supplies, progress on stderr, result printing.

Commands build a ``JobSpec`` and run it with ``JobRunner(environment(st, ...))``; ``jobs resume`` prints a resumed
job's result with ``cli.results.print_result`` exactly as the command that started it would have.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
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


def environment(
    st: AppState,
    progress: ProgressCallback | None = None,
    *,
    asked: dict[str, str | None] | None = None,
    opened: dict[str, Future[Repository]] | None = None,
) -> JobEnvironment:
    """What this process gives a job: the catalog, its clients, libraries opened with the passphrase it holds.

    ``asked``: passphrases read already, by library; ``opened``: libraries being opened already
    (``open_early``), each handed to the first job that opens it.
    """
    from skyvault.cli.library import library_config, open_library  # cli.library imports this module's neighbours

    asked = {} if asked is None else asked  # one passphrase prompt per library, however many jobs open it
    early = dict(opened or {})

    def open_named(name: str | None) -> Repository:
        chosen, _cfg = library_config(st, name)
        future = early.pop(chosen, None)
        if future is not None:
            return future.result()  # raises what opening raised (a wrong passphrase), as opening here would
        return open_library(st, name, asked=asked)

    # st.factory, not st.factory(): the client factory (boto3) is made only if a job calls AWS.
    return JobEnvironment(catalog=st.catalog(), factory=st.factory, open_library=open_named, progress=progress)


@dataclass
class EarlyLibraries:
    """Libraries being opened in threads (``open_early``), and the passphrases read for them."""

    asked: dict[str, str | None] = field(default_factory=dict)
    opened: dict[str, Future[Repository]] = field(default_factory=dict)


def open_early(st: AppState, name: str | None) -> EarlyLibraries:
    """Start opening the library ``name`` in a thread, for a job that will open it.

    A command calls this as soon as it knows the library, before importing the job and the catalog (SQLAlchemy,
    ~0.25 s): the key derivation (scrypt, ~0.1 s, through OpenSSL outside the GIL: library/crypto.py) then costs
    no wall time on a machine with a second core. Only a local library without a KMS key (the others need the
    client factory, boto3, made once when the job asks for it). The passphrase is read here, so a prompt never
    comes from that thread.
    """
    from skyvault.cli.library import library_config, open_library, read_passphrase

    early = EarlyLibraries()
    chosen, cfg = library_config(st, name)
    if cfg.kind != "local" or cfg.kms_key:
        return early
    early.asked[chosen] = read_passphrase()
    future: Future[Repository] = Future()

    def run() -> None:
        try:
            future.set_result(open_library(st, chosen, asked=early.asked))
        except BaseException as exc:  # handed to the job that opens the library, and raised there
            future.set_exception(exc)

    threading.Thread(target=run, name=f"open library {chosen}", daemon=True).start()
    early.opened[chosen] = future
    return early


def runner(st: AppState, *, early: EarlyLibraries | None = None) -> JobRunner:
    """A runner in this process, drawing progress on stderr; ``early``: libraries ``open_early`` is opening."""
    early = early or EarlyLibraries()
    from skyvault.engine.runner import JobRunner

    return JobRunner(environment(st, progress_printer(st), asked=early.asked, opened=early.opened))


def print_backups(st: AppState, results: list[dict[str, Any]], line: Any) -> None:
    """``--json``: one ``{"recovery_point", "stats"}`` for one source, a list for several; else ``line(result)``."""
    shown = [{"recovery_point": r["recovery_point"], "stats": r["stats"]} for r in results]
    if st.json_output:
        st.emit_json(shown[0] if len(shown) == 1 else shown)
        return
    for result in shown:
        st.info(line(result))
