"""Output users script against or read in narrow terminals: trailing --json, the 80-column permissions list."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console

from skyvault.cli.context import AppState
from skyvault.cli.main import hoist_global_flags
from skyvault.cli.permissions import _print_usage
from skyvault.permissions.modules import load_declarations
from skyvault.permissions.usage import usage_rows


def test_json_after_the_command_is_the_global_flag() -> None:
    assert hoist_global_flags(["backup", "ec2", "i-1", "--json"]) == ["--json", "backup", "ec2", "i-1"]
    assert hoist_global_flags(["--json", "lab", "status", "--json"]) == ["--json", "lab", "status"]
    # After "--" it is an argument, not an option.
    assert hoist_global_flags(["restore", "--", "--json"]) == ["restore", "--", "--json"]


def test_trailing_json_flag_gives_json(cli: Callable[..., Any]) -> None:
    before = cli("--json", "permissions", "ec2")
    after = cli("permissions", "ec2", "--json")
    assert after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout) != []


def _narrow_state(width: int) -> tuple[AppState, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    return AppState(console=console), out


def test_permissions_fold_to_a_list_in_80_columns() -> None:
    rows = usage_rows(["ec2"], load_declarations())
    st, out = _narrow_state(80)
    _print_usage(st, rows)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "┃" not in out.getvalue() and "│" not in out.getvalue()  # a list, not a table squeezed into 80 columns
    for row in rows:
        assert row.action in lines  # each action whole, on its own line, ready to copy into a policy
    # Purposes wrap between words only: the wrapped lines join back to the original text.
    first = rows[0]
    start = lines.index(first.action)
    why = next(i for i in range(start, len(lines)) if lines[i].startswith("  why: "))
    block = [lines[why][len("  why: ") :]]
    for line in lines[why + 1 :]:
        if line.startswith("  restricted: "):
            break
        block.append(line)
    assert " ".join(part.strip() for part in block) == " ".join(first.purposes)


def test_permissions_stay_a_table_on_a_wide_terminal() -> None:
    rows = usage_rows(["ec2"], load_declarations())
    st, out = _narrow_state(200)
    _print_usage(st, rows)
    assert "Restricted policy" in out.getvalue()
