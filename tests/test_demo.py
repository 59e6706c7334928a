"""``make demo`` (``python -m skyvault.demo``) on a fresh folder exits 0; its foundation steps run again reuse all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from skyvault.config import load_config
from skyvault.lab.control import stop_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from skyvault.demo import main  # not at collection: it imports the estate seeder's policy="lab" declarations

    with pytest.raises(SystemExit) as exited:
        main(["--dir", str(workdir), "--seed", "3"])
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().out


def test_demo_builds_the_lab_estate_and_discovers_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code, out = _run(tmp_path, capsys)
        assert code == 0, out
        assert "started a lab" in out
        assert re.search(r"wrote skyvault\.toml: accounts admin, tenant-a, tenant-b", out)
        assert "39 resources created, 0 already there" in out
        assert "4900 DynamoDB items" in out  # 2000 + 2 x 1000 orders, 3 x 300 sessions
        assert "39 resources in 3 accounts" in out
        assert "FAILED" not in out
        assert re.search(r"added plan demo-daily .*; run completed: (\d+)/\1 jobs completed", out)
        assert "…" not in out  # piped output keeps whole IDs and device names (no 80-column ellipsis)
        config = load_config(tmp_path / "skyvault.toml")
        assert list(config.accounts) == ["admin", "tenant-a", "tenant-b"]

        # Again, the foundation steps only (later steps restore resources of their own): everything is reused.
        from skyvault.demo import STEPS, Demo, run

        demo = Demo(workdir=tmp_path, seed=3, console=Console(width=200))
        assert run(demo, STEPS[:4]) == 0
        out = capsys.readouterr().out
        assert "reused the running lab" in out
        assert "kept skyvault.toml" in out
        assert "0 resources created, 39 already there; 0 DynamoDB items, 0 S3 objects" in out
        discovery = demo.results["discovery"]
        assert discovery.failures == []
        assert len(discovery.resources) >= 39  # the estate, plus whatever later demo steps restored
    finally:
        stop_lab(tmp_path / ".skyvault")
