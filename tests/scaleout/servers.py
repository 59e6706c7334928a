"""A real ``redis-server``, a real PostgreSQL and a real RabbitMQ for the scale-out tests: started on free ports in
temporary folders, tied to the test process (they die with it, even after a kill -9), stopped at the end of the
session.

``make test`` installs them from the OS packages when they are missing (``apt-get install redis-server postgresql
rabbitmq-server``); ``find_binaries`` says what is missing when they are truly unavailable. PostgreSQL refuses to run
as root: as root, the server runs as the ``postgres`` user (made by the Debian package), else ``nobody``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent(sig: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` when the test process exits, however it exits (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return arm


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- what is installed ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Binaries:
    redis_server: str | None
    postgres_bin: Path | None  # the folder holding initdb and postgres
    rabbitmq_server: str | None = None  # the Debian package's script, not its /usr/sbin wrapper (which wants root)

    def missing(self) -> str | None:
        """Why the servers cannot be started here, or None."""
        found = {"redis-server": self.redis_server, "postgres": self.postgres_bin, "rabbitmq": self.rabbitmq_server}
        absent = [name for name, where in found.items() if not where]
        if not absent:
            return None
        how = "make test installs them: apt-get install redis-server postgresql rabbitmq-server"
        return f"{' and '.join(absent)} not installed ({how})"


def find_binaries() -> Binaries:
    redis_server = shutil.which("redis-server")
    postgres_bin: Path | None = None
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3], reverse=True)
    candidates = [shutil.which("initdb"), *map(str, debian)]
    for candidate in candidates:
        if candidate and (Path(candidate).resolve().parent / "postgres").exists():
            postgres_bin = Path(candidate).resolve().parent
            break
    rabbitmq = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    rabbitmq_server = str(rabbitmq) if rabbitmq.exists() and shutil.which("epmd") else None
    return Binaries(redis_server=redis_server, postgres_bin=postgres_bin, rabbitmq_server=rabbitmq_server)


# -- Redis ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def redis_server(binary: str) -> Iterator[RedisServer]:
    where = Path(tempfile.mkdtemp(prefix="skyvault-redis-"))
    log = where / "redis.log"
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(where), "--save", ""]
    command += ["--appendonly", "no", "--logfile", str(log), "--daemonize", "no"]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent(signal.SIGTERM)
    )
    try:
        _wait_port(port, process, log, "redis-server")
        yield RedisServer(port=port, process=process)
    finally:
        _stop(process, signal.SIGTERM)
        shutil.rmtree(where, ignore_errors=True)


# -- PostgreSQL -----------------------------------------------------------------------------------------------
SUPERUSER = "skyvault"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL (psycopg 3) of ``database``; trust authentication on 127.0.0.1, no password."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _server_user() -> tuple[int, int] | None:
    """Who runs the server: None (this user) unless root, which initdb and postgres refuse."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


@contextlib.contextmanager
def postgres_server(bindir: Path) -> Iterator[PostgresServer]:
    where = Path(tempfile.mkdtemp(prefix="skyvault-pg-"))
    owner = _server_user()
    if owner is not None:
        os.chown(where, *owner)
    uid, gid = owner if owner is not None else (None, None)
    groups: list[int] | None = None if owner is None else []
    data, log = where / "data", where / "postgres.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(where)}
    initdb = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        env=env,
        cwd=where,
        check=False,
        user=uid,
        group=gid,
        extra_groups=groups,
    )
    if initdb.returncode != 0:
        shutil.rmtree(where, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {initdb.stderr.decode(errors='replace')[-2000:]}")
    port = free_port()
    settings = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(where),
        "fsync": "off",  # a throwaway server: durability buys nothing here
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    command = [str(bindir / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        command += ["-c", f"{key}={value}"]
    with log.open("wb") as out:
        if owner is not None:
            os.chown(log, *owner)
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=where,
            preexec_fn=_die_with_parent(signal.SIGQUIT),  # immediate shutdown if the tests die
            user=uid,
            group=gid,
            extra_groups=groups,
        )
    try:
        _wait_port(port, process, log, "postgres")
        _wait_ready(port, process, log)
        yield PostgresServer(port=port, process=process)
    finally:
        _stop(process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(where, ignore_errors=True)


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres", connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres is not accepting connections: {tail}") from exc
            time.sleep(0.1)


# -- RabbitMQ -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RabbitServer:
    port: int
    process: subprocess.Popen[bytes]

    password = "guest"  # RabbitMQ's default user, allowed to connect from 127.0.0.1 only

    def url(self) -> str:
        """Without the password, as skyvault's config wants it (``[workers] password_env`` supplies it)."""
        return f"amqp://guest@127.0.0.1:{self.port}//"


@contextlib.contextmanager
def rabbitmq_server(script: str) -> Iterator[RabbitServer]:
    """A private RabbitMQ node: its own folder, ports and ``epmd`` (run here, so that none outlives the tests)."""
    where = Path(tempfile.mkdtemp(prefix="skyvault-rabbitmq-"))
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (where / "enabled_plugins").write_text("[].\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(where),  # the Erlang cookie lives here
        "LC_ALL": "C.UTF-8",
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_NODENAME": f"skyvault-{os.getpid()}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(where / "mnesia"),
        "RABBITMQ_LOG_BASE": str(where / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(where / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(where / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(where / "advanced.config"),
        "RABBITMQ_PID_FILE": str(where / "rabbitmq.pid"),
    }
    log = where / "rabbitmq.out"
    epmd = subprocess.Popen(
        [shutil.which("epmd") or "epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        preexec_fn=_die_with_parent(signal.SIGKILL),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [script],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=where,
            preexec_fn=_die_with_parent(signal.SIGKILL),  # beam would otherwise outlive a killed test run
        )
    try:
        _wait_port(port, process, log, "rabbitmq-server")
        yield RabbitServer(port=port, process=process)
    finally:
        _stop(process, signal.SIGTERM)
        _stop(epmd, signal.SIGTERM)
        shutil.rmtree(where, ignore_errors=True)
