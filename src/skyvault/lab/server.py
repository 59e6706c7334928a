"""The lab server process: ``python -m skyvault.lab.server --state-dir DIR [--enforce-iam]``.

It applies every fidelity model in ``skyvault.lab.models.MODELS`` to moto's backends, bootstraps the lab's
accounts in-process (no HTTP, so it never counts against IAM enforcement), then serves moto's WSGI app wrapped in
the ``/_skyvault`` control middleware on 127.0.0.1 with a free port. Once it listens it writes ``lab.json``
(the record ``skyvault lab status`` reads); SIGTERM shuts it down cleanly and removes the record.

This module is the only place that imports moto, and only when run as the lab process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from skyvault.aws import redact
from skyvault.lab.blockstore import use_store
from skyvault.lab.labconfig import (
    ADMIN_ACCOUNT_ID,
    TENANT_ACCOUNT_IDS,
    LabInfo,
    blocks_path,
    credentials_path,
    lab_dir,
    read_record,
    remove_record,
    write_record,
)

log = logging.getLogger("skyvault.lab.server")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m skyvault.lab.server", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path, help="where lab.json and lab/ live")
    parser.add_argument("--enforce-iam", action="store_true", help="check every request against IAM policies")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--exit-with-parent", type=int, default=0, metavar="PID", help="stop when PID exits")
    return parser.parse_args(argv)


def apply_models() -> list[str]:
    """Import and apply every registered model (each ``apply()`` is idempotent). Returns the applied names."""
    from skyvault.lab.models import MODELS

    applied = []
    for name in MODELS:
        module = importlib.import_module(name)
        module.apply()
        applied.append(name)
    return applied


def reset_models() -> None:
    from skyvault.lab.models import MODELS

    for name in MODELS:
        reset = getattr(importlib.import_module(name), "reset", None)
        if callable(reset):
            reset()


GC_THRESHOLDS = (50_000, 20, 50)


def _tune_gc() -> None:
    """The lab holds every resource as Python objects (a DynamoDB table of 100,000 items is millions of them) and
    allocates many short-lived ones per request. With CPython's default thresholds (700, 10, 10) the cyclic
    collector runs young passes every few hundred allocations and full passes that walk the whole of moto's state;
    a profile of a parallel BatchWriteItem load showed them as lab CPU that served no request. What start-up made
    (moto's modules, the bootstrapped accounts) is frozen out of every later pass, and passes run less often; memory
    is still reclaimed (reference counting frees what is not in a cycle at once, and full passes still run)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _cache_backend_lookup() -> None:
    """moto's server finds each request's backend by listing its own package folder (``list_of_moto_modules``: a
    ``listdir`` and a ``stat`` per entry, a few hundred system calls) and then matching the host against every
    service's URL patterns, for every request, under one lock that all request threads share. The folder and the
    patterns never change while the lab runs, so the listing is made once and each host's answer is remembered:
    the same backend for the same host, without the system calls."""
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication, "_skyvault_cached_lookup", False):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            if len(known) > 10_000:  # hosts come from requests: bounded, in case a client invents many
                known.clear()
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
    DomainDispatcherApplication._skyvault_cached_lookup = True  # type: ignore[attr-defined]


def _watch_parent(pid: int, stop: threading.Event, shutdown: Any) -> None:
    # A test session that dies (kill -9, CI timeout) must not leave labs behind.
    while not stop.wait(1.0):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("parent %s exited; stopping the lab", pid)
            shutdown()
            return
        except PermissionError:
            continue


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise in the log
    redact.install(logging.getLogger().handlers)  # server.log never holds a key, token or signature either

    import moto
    from moto import settings
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from skyvault.lab.bootstrap import LabAccounts, bootstrap_accounts
    from skyvault.lab.routes import ControlApp

    block_store = use_store(blocks_path(state_dir))  # the EBS model's block bytes: on disk, not in this heap
    applied = apply_models()
    _cache_backend_lookup()
    accounts = LabAccounts(
        admin_account_id=ADMIN_ACCOUNT_ID,
        tenants=dict(TENANT_ACCOUNT_IDS),
        # One external ID per tenant and per lab: a config from another lab cannot assume these roles.
        external_ids={name: f"skyvault-lab-{name}-{secrets.token_hex(6)}" for name in TENANT_ACCOUNT_IDS},
        credentials_file=credentials_path(state_dir),
    )
    bootstrap_accounts(accounts)
    if args.enforce_iam:
        # Bootstrap ran in-process (no requests), so enforcement covers every request from the first one.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    from skyvault.lab.models.s3_outposts import OutpostsFront
    from skyvault.lab.tlsproxy import OutpostsProxy

    moto_app = OutpostsFront(DomainDispatcherApplication(create_backend_app))
    token = secrets.token_urlsafe(32)  # only lab.json (0600) holds it: whoever can read that may drive the lab
    control = ControlApp(
        moto_app, accounts=accounts, enforce_iam=args.enforce_iam, reset_models=reset_models, token=token
    )
    server = make_server(args.host, args.port, control, threaded=True)
    endpoint = f"http://{args.host}:{server.server_port}"
    proxy = OutpostsProxy(lab_dir(state_dir) / "tls", server.server_port)  # HTTPS for S3 on Outposts hosts
    proxy.start()
    info = LabInfo(
        endpoint=endpoint,
        pid=os.getpid(),
        enforce_iam=args.enforce_iam,
        state_dir=str(state_dir),
        admin_account_id=accounts.admin_account_id,
        tenants=dict(accounts.tenants),
        external_ids=dict(accounts.external_ids),
        credentials_file=str(accounts.credentials_file),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        moto_version=str(getattr(moto, "__version__", "")),
        token=token,
        https_proxy=proxy.info.url,
        ca_bundle=str(proxy.info.ca_bundle),
    )
    control.info = info

    stopping = threading.Event()

    def shutdown() -> None:
        if not stopping.is_set():
            stopping.set()
            # shutdown() blocks until serve_forever returns, so it must not run on the serving thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: shutting down", signum)
        shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_with_parent:
        threading.Thread(
            target=_watch_parent, args=(args.exit_with_parent, stopping, shutdown), daemon=True, name="parent-watch"
        ).start()

    _tune_gc()
    write_record(state_dir, info)
    log.info("lab serving on %s (models: %s, enforce_iam=%s)", endpoint, ", ".join(applied), args.enforce_iam)
    started = time.monotonic()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        proxy.stop()
        stopping.set()
        block_store.remove()
        # Remove the record only if it is still ours (a newer lab may have replaced it).
        with contextlib.suppress(Exception):
            current = read_record(state_dir)
            if current is not None and current.pid == os.getpid():
                remove_record(state_dir)
        log.info("lab stopped after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
