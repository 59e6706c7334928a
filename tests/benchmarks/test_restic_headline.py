"""The restic benchmark's headline takes the worst mix per phase, for the command and for the engine alone."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling `mixes`
    try:
        spec = importlib.util.spec_from_file_location("library_vs_restic", BENCHMARKS / "library_vs_restic.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _result(bench: ModuleType, tool: str, seconds: float, engine: float | None) -> object:
    return bench.ToolResult(
        tool=tool, phases={"full": bench.Phase(seconds=seconds, mb_per_s=0, peak_rss_mib=0, engine_seconds=engine)}
    )


def test_the_worst_mix_for_the_command_and_for_the_engine_can_differ(bench: ModuleType) -> None:
    by_mix = {
        # fast engine, but the fixed cost weighs: worst for the whole command
        "sparse": {"skyvault": _result(bench, "skyvault", 1.0, 0.4), "restic": _result(bench, "restic", 1.5, None)},
        # slow engine, fixed cost amortised: worst for the engine alone
        "text": {"skyvault": _result(bench, "skyvault", 5.5, 5.0), "restic": _result(bench, "restic", 10.0, None)},
    }
    worst = bench.worst_ratios(by_mix)["full"]
    assert (worst.ratio, worst.mix) == (1.5, "sparse")
    assert (worst.engine_ratio, worst.engine_mix) == (2.0, "text")
    assert sorted(round(s, 2) for s in bench.outside_engine_seconds(by_mix)) == [0.5, 0.6]


def test_a_skipped_peer_leaves_no_headline(bench: ModuleType) -> None:
    by_mix = {
        "disk": {"skyvault": _result(bench, "skyvault", 1.0, 0.5), "restic": bench.ToolResult("restic", skipped="x")}
    }
    assert bench.worst_ratios(by_mix) == {}
