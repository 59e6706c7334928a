#!/usr/bin/env python3
"""Benchmark: skyvault's library against restic and borg on disk images of several data mixes.

One run: for each data mix (``benchmarks/mixes.py``: disk, text, sparse, media, uneven) generate a deterministic
image, then for each tool time (1) a full backup, (2) an incremental backup after the mix's changes, (3) a
restore of the second backup. Each tool runs as its own process (CLI, as a user would run it), repositories are
encrypted, and restores are verified byte-identical (not timed). A tool that is not installed is skipped and the
report says so. The headline is the WORST ratio against restic over all mixes, per phase: a figure that holds on
one mix only is not the product's speed. The same run measures the disk's own sequential write speed
(``dd oflag=direct``) and reports skyvault's restore as a fraction of it.

    .venv/bin/python benchmarks/library_vs_restic.py --size-mib 1024
    make bench

Notes: every timed phase starts after ``sync`` (no tool pays for the dirty pages of an earlier step); the image is
in the page cache for every tool (generated just before, not dropped: the machine is
shared); "MB/s" is image bytes / wall time (1 MB = 10^6 bytes). Peak RSS is the child's max resident set.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mixes import MIXES, Mix  # a sibling module: the script's folder is on sys.path

MiB = 1024 * 1024
PASSPHRASE = "benchmark passphrase"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


# -- running tools -------------------------------------------------------------------------------------------
@dataclass
class Phase:
    seconds: float
    mb_per_s: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0  # user + system: less sensitive than wall time to a busy, shared machine
    engine_seconds: float | None = None  # skyvault: the command's own duration_s (without process start-up)


@dataclass
class ToolResult:
    tool: str
    version: str = ""
    skipped: str | None = None
    phases: dict[str, Phase] = field(default_factory=dict)
    repo_bytes: int = 0
    identical: bool | None = None


def run(cmd: list[str], *, env: dict[str, str], cwd: Path, size: int) -> Phase:
    # No phase pays for an earlier one's writes: the image just generated or changed, and restic's restore (which
    # does not fsync) would otherwise be flushed to disk while the next tool's phase is timed.
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n{out.decode()[-2000:]}\n{err.decode()[-2000:]}")
    phase = Phase(
        round(elapsed, 3),
        round(size / 1e6 / elapsed, 1),
        round(usage.ru_maxrss / 1024, 1),
        round(usage.ru_utime + usage.ru_stime, 2),
    )
    with contextlib.suppress(ValueError, KeyError, TypeError):  # only skyvault prints JSON stats
        phase.engine_seconds = float(json.loads(out)["stats"]["duration_s"])
    return phase


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        return ""


@dataclass
class Plan:
    full: list[str]
    incremental: list[str]
    restore: list[str]
    restored: Path  # where the restore puts the image


Steps = Callable[[Path, Path, dict[str, str]], Plan]


def drop_page_cache() -> None:
    """Empty the page cache (root only): a restore then reads the repository from the disk, as one does when the
    backup is not minutes old. Otherwise a tool that wrote its packs through the cache (restic) restores from
    memory while one that wrote them with O_DIRECT (skyvault, so that a backup does not flood the cache) reads
    them from the disk."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def bench_tool(
    name: str,
    work: Path,
    image: Path,
    size: int,
    seed: int,
    setup: Steps,
    version: str,
    mix: Mix,
    *,
    cold_restore: bool = False,
) -> ToolResult:
    result = ToolResult(tool=name, version=version)
    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ}
    # A normal install has bytecode; a dev shell may forbid writing it (PYTHONDONTWRITEBYTECODE), which would
    # recompile skyvault on every command. Cache it outside the source tree, warmed up before timing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    mix.write(image, size, seed)
    if name == "skyvault":
        warm_up(setup, work, env)
    plan = setup(home, image, env)
    result.phases["full"] = run(plan.full, env=env, cwd=home, size=size)
    mix.change(image, size, seed)
    result.phases["incremental"] = run(plan.incremental, env=env, cwd=home, size=size)
    if cold_restore:
        drop_page_cache()
    result.phases["restore"] = run(plan.restore, env=env, cwd=home, size=size)
    result.identical = sha256_file(plan.restored) == sha256_file(image)
    result.repo_bytes = dir_size(home / "repo")
    shutil.rmtree(home, ignore_errors=True)
    return result


def warm_up(setup: Steps, work: Path, env: dict[str, str]) -> None:
    """Bytecode for every module a backup and a restore import (as an installed package has it), made by one
    untimed tiny backup and restore in a scratch library: with the cache folder of ``bench_tool``, the first timed
    command would otherwise compile SQLAlchemy and the rest (~1 s)."""
    scratch = work / "warm-up"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    image = scratch / "tiny.img"
    image.write_bytes(os.urandom(4096) * 4)
    scratch_env = dict(env)  # the steps point it at the scratch library
    plan = setup(scratch, image, scratch_env)
    for cmd in (plan.full, plan.restore):
        subprocess.run(cmd, env=scratch_env, cwd=scratch, check=True, capture_output=True)
    shutil.rmtree(scratch, ignore_errors=True)


def skyvault_steps(compression_level: int) -> Steps:
    def steps(home: Path, image: Path, env: dict[str, str]) -> Plan:
        exe = str(Path(sys.executable).with_name("skyvault"))
        env.update(SKYVAULT_CONFIG=str(home / "skyvault.toml"), SKYVAULT_PASSPHRASE=PASSPHRASE)
        init = [exe, "--json", "library", "init", "--path", str(home / "repo"),
                "--compression-level", str(compression_level)]  # fmt: skip
        subprocess.run(init, env=env, cwd=home, check=True, capture_output=True)
        backup = [exe, "--json", "backup", "image", str(image)]
        out = home / "restored.img"
        restore = [sys.executable, "-c", _SKYVAULT_RESTORE, str(home / "skyvault.toml"), str(out)]
        return Plan(backup, backup, restore, out)

    return steps


# The restore needs the newest recovery point's ID: look it up, then run the CLI's restore in the same process.
_SKYVAULT_RESTORE = """
import sys
from pathlib import Path
from skyvault.catalog import Catalog
from skyvault.config import load_config, state_dir
from skyvault.cli.main import main
cfg = Path(sys.argv[1])
point = Catalog.open(state_dir(load_config(cfg), cfg)).recovery_points(kind="image")[-1].id
sys.argv = ["skyvault", "--json", "restore", point, "--to-file", sys.argv[2]]
main()
"""


def restic_steps(home: Path, image: Path, env: dict[str, str]) -> Plan:
    env.update(RESTIC_PASSWORD=PASSPHRASE, RESTIC_REPOSITORY=str(home / "repo"), RESTIC_CACHE_DIR=str(home / "cache"))
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    backup = ["restic", "backup", "--quiet", str(image)]
    restore = ["restic", "restore", "latest", "--target", str(home / "out")]
    return Plan(backup, backup, restore, home / "out" / str(image).lstrip("/"))


def borg_steps(home: Path, image: Path, env: dict[str, str]) -> Plan:
    env.update(BORG_PASSPHRASE=PASSPHRASE, BORG_BASE_DIR=str(home / "base"), BORG_REPO=str(home / "repo"))
    subprocess.run(["borg", "init", "--encryption", "repokey-blake2"], env=env, check=True, capture_output=True)
    (home / "out").mkdir()
    full = ["borg", "create", "::full", str(image)]
    incremental = ["borg", "create", "::incremental", str(image)]
    restore = ["sh", "-c", "cd out && borg extract ::incremental"]
    return Plan(full, incremental, restore, home / "out" / str(image).lstrip("/"))


# -- report --------------------------------------------------------------------------------------------------
def best_of(previous: ToolResult | None, current: ToolResult) -> ToolResult:
    if previous is None or previous.skipped:
        return current
    for phase, timing in current.phases.items():
        if timing.seconds < previous.phases[phase].seconds:
            previous.phases[phase] = timing
    previous.identical = bool(previous.identical and current.identical)
    return previous


def report(results: list[ToolResult], size: int) -> list[str]:
    base = next((r for r in results if r.tool == "restic" and not r.skipped), None)
    lines = [
        f"{'tool':<10} {'phase':<12} {'seconds':>8} {'MB/s':>8} {'peak RSS MiB':>13} {'vs restic':>10}"
        f"  {'CPU s':>7} {'CPU vs restic':>13}  {'engine-only MB/s':>16}",
    ]
    for r in results:
        if r.skipped:
            lines.append(f"{r.tool:<10} skipped: {r.skipped}")
            continue
        for phase, p in r.phases.items():
            ratio = f"{base.phases[phase].seconds / p.seconds:.2f}x" if base else "-"
            engine = f"{size / 1e6 / p.engine_seconds:>16.1f}" if p.engine_seconds else f"{'-':>16}"
            row = f"{r.tool:<10} {phase:<12} {p.seconds:>8.2f} {p.mb_per_s:>8.1f} {p.peak_rss_mib:>13.1f}"
            cpu_ratio = f"{base.phases[phase].cpu_seconds / p.cpu_seconds:.2f}x" if base and p.cpu_seconds else "-"
            lines.append(f"{row} {ratio:>10}  {p.cpu_seconds:>7.2f} {cpu_ratio:>13}  {engine}")
        lines.append(f"{r.tool:<10} repository {r.repo_bytes / MiB:.1f} MiB, restore identical: {r.identical}")
    return lines


TARGETS = {"full": 3.0, "incremental": 5.0, "restore": 2.0}  # issue 11: whole command vs restic, every mix


@dataclass
class Worst:
    ratio: float
    cpu_ratio: float
    mix: str
    # restic's whole command over skyvault's engine alone, worst over every mix: what the command would reach if
    # its fixed cost (interpreter, imports, key derivation, catalog) were nil
    engine_ratio: float = 0.0
    engine_mix: str = ""


def worst_ratios(by_mix: dict[str, dict[str, ToolResult]]) -> dict[str, Worst]:
    """Per phase, skyvault's lowest wall-time ratio against restic over every mix (and that mix's CPU ratio)."""
    worst: dict[str, Worst] = {}
    for mix, results in by_mix.items():
        ours, base = results.get("skyvault"), results.get("restic")
        if ours is None or base is None or ours.skipped or base.skipped:
            continue
        for phase, timing in ours.phases.items():
            ratio = base.phases[phase].seconds / timing.seconds
            if phase not in worst or ratio < worst[phase].ratio:
                cpu = base.phases[phase].cpu_seconds / timing.cpu_seconds if timing.cpu_seconds else 0.0
                previous = worst.get(phase)
                worst[phase] = Worst(round(ratio, 2), round(cpu, 2), mix)
                if previous is not None:
                    worst[phase].engine_ratio, worst[phase].engine_mix = previous.engine_ratio, previous.engine_mix
            if timing.engine_seconds:
                engine_ratio = round(base.phases[phase].seconds / timing.engine_seconds, 2)
                if not worst[phase].engine_mix or engine_ratio < worst[phase].engine_ratio:
                    worst[phase].engine_ratio, worst[phase].engine_mix = engine_ratio, mix
    return worst


def outside_engine_seconds(by_mix: dict[str, dict[str, ToolResult]]) -> list[float]:
    """skyvault's whole command minus its engine, every mix and phase: the fixed cost each command pays."""
    return [
        timing.seconds - timing.engine_seconds
        for results in by_mix.values()
        if "skyvault" in results and not results["skyvault"].skipped
        for timing in results["skyvault"].phases.values()
        if timing.engine_seconds
    ]


def disk_write_mb_per_s(work: Path, size: int) -> float:
    """The disk's own sequential write speed: ``dd`` with O_DIRECT and a final fsync, as a restore writes."""
    target = work / "dd.bin"
    count = max(16, size // (4 * MiB))
    started = time.perf_counter()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=4M", f"count={count}", "oflag=direct", "conv=fsync"],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return round(count * 4 * MiB / 1e6 / elapsed, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="image size (default 1024 MiB)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="where images and repositories go")
    parser.add_argument("--tools", default="skyvault,restic,borg")
    parser.add_argument("--mixes", default=",".join(MIXES), help=f"data mixes (default all: {', '.join(MIXES)})")
    parser.add_argument("--compression-level", type=int, default=1, help="skyvault zstd level (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat; each phase keeps its best round")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument(
        "--cold-restore",
        action="store_true",
        help="drop the page cache before each restore (root only): repositories are read from the disk",
    )
    args = parser.parse_args()
    if args.cold_restore:
        try:
            drop_page_cache()
        except OSError as exc:
            parser.error(f"--cold-restore needs to write /proc/sys/vm/drop_caches (root): {exc.strerror}")
    size = args.size_mib * MiB
    work = args.workdir or Path(tempfile.mkdtemp(prefix="skyvault-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    image = work / "disk.img"
    tools: dict[str, tuple[Steps, list[str]]] = {
        "skyvault": (
            skyvault_steps(args.compression_level),
            [str(Path(sys.executable).with_name("skyvault")), "--version"],
        ),
        "restic": (restic_steps, ["restic", "version"]),
        "borg": (borg_steps, ["borg", "--version"]),
    }
    unknown = set(args.tools.split(",")) - set(tools)
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(sorted(unknown))} (choose from {', '.join(tools)})")
    unknown_mixes = set(args.mixes.split(",")) - set(MIXES)
    if unknown_mixes:
        parser.error(f"unknown mix(es): {', '.join(sorted(unknown_mixes))} (choose from {', '.join(MIXES)})")
    by_mix: dict[str, dict[str, ToolResult]] = {}
    load_before = os.getloadavg()[0]
    try:
        disk_mb_s = disk_write_mb_per_s(work, size)
        for mix_name in args.mixes.split(","):
            mix = MIXES[mix_name]
            results = by_mix.setdefault(mix_name, {})
            # Tools take turns round by round, and each phase keeps its best round: on a shared machine the
            # minimum is the run with the least interference, for every tool alike.
            for round_ in range(1, args.rounds + 1):
                for name in args.tools.split(","):
                    steps, version_cmd = tools[name]
                    if shutil.which(version_cmd[0]) is None:
                        package = "borgbackup" if name == "borg" else name
                        missing = f"{version_cmd[0]} is not installed (apt-get install {package})"
                        results[name] = ToolResult(tool=name, skipped=missing)
                        print(f"{name}: not installed, skipped", file=sys.stderr)
                        continue
                    print(f"{mix_name}: {name}: round {round_} ...", file=sys.stderr, flush=True)
                    version = tool_version(version_cmd)
                    result = bench_tool(
                        name, work, image, size, args.seed, steps, version, mix, cold_restore=args.cold_restore
                    )
                    results[name] = best_of(results.get(name), result)
    finally:
        image.unlink(missing_ok=True)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    print(
        f"image {size // MiB} MiB per mix; {platform.machine()}, {os.cpu_count()} cores; MB/s = image bytes / wall "
        f"time; load average {load_before:.1f} before, {load_after:.1f} after; best of {args.rounds} round(s); "
        f"disk sequential write (dd oflag=direct, fsync) {disk_mb_s} MB/s; restores "
        + ("cold (page cache dropped before each)" if args.cold_restore else "warm (repositories in the page cache)")
    )
    for mix_name, results in by_mix.items():
        print(f"\n== mix {mix_name}: {MIXES[mix_name].description}")
        print("\n".join(report(list(results.values()), size)))
    worst = worst_ratios(by_mix)
    if worst:
        print("\n== headline: skyvault's WORST ratio against restic over every mix (whole command)")
        for phase, w in worst.items():
            target = TARGETS.get(phase)
            verdict = "" if target is None else ("  target met" if w.ratio >= target else f"  target {target}x MISSED")
            print(f"{phase:<12} {w.ratio:>6.2f}x wall  {w.cpu_ratio:>6.2f}x CPU  (mix {w.mix}){verdict}")
        print("\n== where skyvault's time goes: restic's whole command over skyvault's engine alone, worst mix")
        for phase, w in worst.items():
            if w.engine_mix:
                print(f"{phase:<12} {w.engine_ratio:>6.2f}x engine-only  (mix {w.engine_mix})")
        fixed = outside_engine_seconds(by_mix)
        if fixed:
            print(
                f"outside the engine (process start-up, imports, key derivation, catalog): {min(fixed):.2f}-"
                f"{max(fixed):.2f} s per command (benchmarks/startup.py breaks it down)"
            )
        restores = [
            size / 1e6 / r["skyvault"].phases["restore"].engine_seconds
            for r in by_mix.values()
            if "skyvault" in r and not r["skyvault"].skipped and r["skyvault"].phases["restore"].engine_seconds
        ]
        if restores:
            slowest = min(restores)
            print(
                f"restore engine-only, slowest mix: {slowest:.0f} MB/s = {slowest / disk_mb_s:.0%} of the disk's "
                f"sequential write ({disk_mb_s} MB/s); skyvault fsyncs restored data, restic does not"
            )
    if args.json:
        document = {
            "size_mib": args.size_mib,
            "load_average": [load_before, load_after],
            "disk_write_mb_per_s": disk_mb_s,
            "mixes": {m: [asdict(r) for r in results.values()] for m, results in by_mix.items()},
            "worst": {phase: asdict(w) for phase, w in worst.items()},
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
