"""benchmarks/ebs_direct.py runs end to end in a tiny configuration (no timing asserted: it must not rot)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.lab


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "ebs_direct.py"
    spec = importlib.util.spec_from_file_location("benchmark_ebs_direct", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_runs_and_reports_every_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.json"
    args = ["--blocks", "6", "--volumes", "2", "--latency-ms", "5", "--in-flight", "4", "--breakdown", "3"]
    args += ["--workdir", str(tmp_path)]
    assert _bench().main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    names = {p["name"] for p in result["phases"]}
    for kind in ("copy", "restore"):
        for who in ("skyvault", "ceiling"):
            assert {f"{who} {kind} 1 volume", f"{who} {kind} volumes"} <= names
    assert all(p["blocks"] > 0 and p["blocks_per_s"] > 0 and p["cpu_ms_per_block"] > 0 for p in result["phases"])
    assert set(result["ratios"]) == {"copy 1 vol", "copy 2 vol", "restore 1 vol", "restore 2 vol"}
    assert result["lab_settings"]["latency_ms"] == 5
    assert len(result["cpu_ms_per_block_by_stage"]) == 5
    assert "skyvault / ceiling" in capsys.readouterr().out
