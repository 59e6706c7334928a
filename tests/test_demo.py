"""``make demo`` (``python -m skyvault.demo``) on a fresh folder exits 0; its plan backs up every service a plan can
(a completed job each) and a sample restore verifies; its foundation steps run again reuse all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from skyvault.catalog import Catalog
from skyvault.config import PLAN_MODES, load_config
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
        _plan_covers_every_service(tmp_path, " ".join(out.split()))  # rich wraps long lines: compare them unwrapped
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


PLAN_LINE = re.compile(
    r"added plan demo-daily \(backup=daily\); run completed: (\d+)/\1 jobs completed in \S+ \((?P<counts>[^)]*)\)"
)
SAMPLE = re.compile(  # 13: the admin media bucket's 12 images and its empty placeholder
    r"skyvault-demo-123456789012-media \((?P<point>rp-\w+)\) -> new bucket (?P<bucket>\S+): 13 objects identical"
)


def _plan_covers_every_service(workdir: Path, flat: str) -> None:
    """The plan step's line counts completed jobs per service, each in ``PLAN_MODES`` at least once; the catalog
    agrees; the sample restore (the media bucket's library copy into a new bucket) compared every object."""
    line = PLAN_LINE.search(flat)
    assert line, flat
    counts: dict[str, tuple[int, int]] = {}
    for part in line["counts"].split(", "):
        service, _, count = part.partition(" ")
        done, _, total = count.partition("/")
        counts[service] = (int(done), int(total))
    assert list(counts) == list(PLAN_MODES), line["counts"]
    assert all(done == total >= 1 for done, total in counts.values()), line["counts"]
    assert sum(total for _, total in counts.values()) == int(line[1])

    catalog = Catalog.open(workdir / ".skyvault")
    (run,) = catalog.plan_runs("demo-daily")
    assert run.status == "completed"
    assert {j["service"] for j in run.summary["jobs"] if j["status"] == "completed"} == set(PLAN_MODES)

    sample = SAMPLE.search(flat)
    assert sample and sample["bucket"] == f"skyvault-demo-123456789012-restored-{sample['point']}", flat
    assert "sample restore verified" in flat
    restores = [j for j in catalog.jobs() if j.kind == "restore-s3" and j.params["recovery_point"] == sample["point"]]
    assert [j.status for j in restores] == ["completed"]
