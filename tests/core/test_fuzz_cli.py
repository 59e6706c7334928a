"""Fuzzing the CLI's arguments and the config file (hypothesis, in-process, no lab).

For any arguments and any config file, every run ends with an exit code from README's "Exit codes" table and
never with a traceback; a run that fails writes nothing (the config file is unchanged, no file appears or
disappears in the working folder, state dir included: a failed lookup does not even create an empty catalog).
Exit code 1 ("unexpected error") counts as a failure
here: every mistake a user can make has a specific class.

Commands whose work reaches AWS (discover, check, cleanup, backup of AWS services, lab) are left out: they
would need the lab, and their argument parsing is shared with the commands fuzzed here (tests/core/
test_hostile_inputs.py covers their option checks).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Cli = Callable[..., Any]

DOCUMENTED_EXIT_CODES = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 64, 130}  # README; 1 excluded
REACHES_AWS = {("discover",), ("check",), ("cleanup",), ("lab",), ("accounts", "list")}
REACHES_AWS_BACKUP = {"ec2", "rds", "aurora", "docdb", "redshift"}
# make test runs a bounded, fixed set of examples (stable, ~20 s per test); a deeper random search:
# SKYVAULT_FUZZ_EXAMPLES=1000 SKYVAULT_FUZZ_RANDOM=1 pytest -n 0 tests/core/test_fuzz_cli.py
FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("SKYVAULT_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not os.environ.get("SKYVAULT_FUZZ_RANDOM"),
    database=None,
)


def _commands() -> dict[tuple[str, ...], list[str]]:
    """Every leaf command of the app (path -> its option names), walked from the click tree."""
    from skyvault.cli.main import app

    found: dict[tuple[str, ...], list[str]] = {}

    # typer's own Command/Group classes (recent typer vendors click: click.Group would match nothing here).
    # Groups are walked through list_commands/get_command: the root group loads its commands lazily.
    def walk(command: Any, context: Any, path: tuple[str, ...]) -> None:
        if isinstance(command, typer.core.TyperGroup):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                walk(sub, type(context)(sub, parent=context, info_name=name), (*path, name))
            return
        found[path] = sorted(opt for param in command.params for opt in param.opts if opt.startswith("-"))

    root = typer.main.get_command(app)
    walk(root, typer.Context(root, info_name="skyvault"), ())
    assert len(found) > 20, f"the walk found too few commands to fuzz: {sorted(found)}"
    return {
        path: opts
        for path, opts in found.items()
        if path[:1] not in {p[:1] for p in REACHES_AWS if len(p) == 1}
        and path not in REACHES_AWS
        and not (path[:1] == ("backup",) and path[1:2] and path[1] in REACHES_AWS_BACKUP)
    }


COMMANDS = _commands()

# Values a user (or a script gone wrong) might pass: valid-looking, hostile paths, bad numbers, odd text.
SAFE_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=0, max_size=40)
VALUES = st.one_of(
    st.sampled_from(
        [
            "main",
            "admin",
            "tenant-a",
            "Bad Name",
            "us-east-1",
            "mars-1",
            "eu-west-1,us-east-1",
            "0",
            "-1",
            "99999999999999999999999",
            "1e400",
            "nan",
            "image",
            "ec2",
            "rds",
            "trust",
            "json",
            "table",
            "markdown",
            "cloudformation",
            "terraform",
            "original",
            "new",
            "library",
            "snapshot",
            "arn:aws:iam::111111111111:role/r",
            "s3://bucket/prefix",
            "i-0123456789abcdef0",
            "lib",
            "afile",
            "adir",
            "afifo",
            "missing/child",
            "/proc/xyz",
            "/proc/self/status",
            "é" * 300,
            "",
        ]
    ),
    SAFE_TEXT,
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
)


CONFIG_PATHS = ["adir", "afile", "afifo", "afile/x.toml", "/proc/xyz/s.toml", "é" * 300, "sub/skyvault.toml"]


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    path = draw(st.sampled_from(sorted(COMMANDS)))
    options = COMMANDS[path]
    args: list[str] = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        kind = draw(st.sampled_from(["option", "value", "flag-value"] if options else ["value"]))
        if kind == "value":
            args.append(draw(VALUES))
        elif kind == "option":
            args.append(draw(st.sampled_from(options)))
        else:
            args.extend([draw(st.sampled_from(options)), draw(VALUES)])
    globals_ = draw(st.lists(st.sampled_from(["--json", "-v"]), max_size=2))
    if draw(st.integers(min_value=0, max_value=4)) == 0:  # now and then, a config path the OS may refuse
        globals_ += ["--config", draw(st.sampled_from(CONFIG_PATHS))]
    return [*globals_, *path, *args]


def _snapshot(where: Path) -> dict[str, str]:
    """Every file and folder under ``where`` with a digest of its bytes (the SQLite catalog included)."""
    state: dict[str, str] = {}
    for path in sorted(where.rglob("*")):
        rel = str(path.relative_to(where))
        if path.is_fifo() or path.is_dir():
            state[rel] = "fifo" if path.is_fifo() else "dir"
        elif path.name.endswith(("-journal", "-wal", "-shm")):
            continue  # SQLite's own files: the database's content is compared below, not its pages
        elif path.suffix == ".db":
            with contextlib.closing(sqlite3.connect(path)) as db:
                state[rel] = hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@contextmanager
def _workdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="skyvault-fuzz-") as name:
        where = Path(name)
        (where / "afile").write_text("a file that is not a library")
        (where / "adir").mkdir()
        os.mkfifo(where / "afifo")
        with monkeypatch.context() as patch:
            patch.chdir(where)
            patch.setenv("SKYVAULT_CONFIG", str(where / "skyvault.toml"))
            patch.setenv("SKYVAULT_PASSPHRASE", "fuzz")
            yield where


def _run_checked(cli: Cli, where: Path, args: list[str]) -> Any:
    before = _snapshot(where)
    result = cli(*args)  # an exception other than SystemExit escapes here and fails the example
    assert result.exit_code in DOCUMENTED_EXIT_CODES, (args, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr, (args, result.stderr)
    if result.exit_code != 0:
        assert _snapshot(where) == before, (args, result.exit_code, result.stderr)
    return result


def _base_config(where: Path) -> None:
    config = {
        "version": 1,
        "accounts": {"admin": {"auth": "default", "regions": ["us-east-1"], "endpoint_url": "http://127.0.0.1:9"}},
    }
    (where / "skyvault.toml").write_text(tomli_w.dumps(config))


@FUZZ_SETTINGS
@given(args=invocations(), with_config=st.booleans(), with_library=st.booleans())
def test_any_arguments_end_in_a_documented_exit_code_and_write_nothing_on_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, args: list[str], with_config: bool, with_library: bool
) -> None:
    with _workdir(monkeypatch) as where:
        if with_config:
            _base_config(where)
        if with_library:
            assert cli("library", "init", "--path", "lib").exit_code == 0
            assert cli("backups", "list").exit_code == 0  # the catalog exists: errors must not change it
        _run_checked(cli, where, args)


LEAF = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(["us-east-1", "mars-1", "default", "keys", "assume_role", "local", "s3", "main", "afile"]),
    SAFE_TEXT,
)
ACCOUNT = st.fixed_dictionaries(
    {},
    optional={
        "auth": LEAF,
        "regions": st.lists(LEAF, max_size=3),
        "endpoint_url": st.sampled_from(["http://127.0.0.1:9", "ftp://x", ""]),
        "role_arn": st.sampled_from(["arn:aws:iam::111111111111:role/r", "nope"]),
        "source_account": LEAF,
        "external_id": LEAF,
        "profile": LEAF,
        "session_duration_s": LEAF,
        "unknown_field": LEAF,
    },
)
LIBRARY = st.fixed_dictionaries(
    {},
    optional={
        "kind": LEAF,
        "path": st.sampled_from(["lib", "afile", "adir", "missing/child", "/proc/xyz"]),
        "url": st.sampled_from(["s3://b/p", "s3://", "http://x"]),
        "account": LEAF,
        "region": LEAF,
        "compression_level": LEAF,
    },
)
CONFIGS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "version": LEAF,
            "state_dir": st.sampled_from([".skyvault", "afile", "adir", "state", "", "afifo"]),
            "accounts": st.dictionaries(st.sampled_from(["admin", "tenant-a", "Bad Name", ""]), ACCOUNT, max_size=2),
            "libraries": st.dictionaries(st.sampled_from(["main", "Bad Name"]), LIBRARY, max_size=2),
            "default_library": LEAF,
        },
    ).map(lambda doc: tomli_w.dumps(doc).encode()),
    st.binary(max_size=200),
)
CONFIG_COMMANDS = st.sampled_from(
    [
        ["accounts", "add", "fuzzed"],
        ["accounts", "remove", "admin"],
        ["library", "init", "--path", "newlib", "--name", "fuzzed"],
        ["library", "stats"],
        ["backups", "list"],
        ["jobs", "list"],
        ["backup", "image", "afile"],
        ["restore", "rp-1", "--to-file", "out.img"],
        ["policy", "ec2"],
        ["init"],
    ]
)


@FUZZ_SETTINGS
@given(config=CONFIGS, args=CONFIG_COMMANDS)
def test_any_config_file_ends_in_a_documented_exit_code_and_is_never_changed_on_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, config: bytes, args: list[str]
) -> None:
    with _workdir(monkeypatch) as where:
        (where / "skyvault.toml").write_bytes(config)
        _run_checked(cli, where, args)
