#!/usr/bin/env python3
"""Benchmark: skyvault's library against restic and borg on a disk-like image.

One run: generate a deterministic image (zero, random and text-like extents), then for each tool time
(1) a full backup, (2) an incremental backup after 1% scattered changes, (3) a restore of the second backup.
Each tool runs as its own process (CLI, as a user would run it), repositories are encrypted, and restores are
verified byte-identical (not timed). A tool that is not installed is skipped and the report says so.

    .venv/bin/python benchmarks/library_vs_restic.py --size-mib 2048
    make bench

Notes: the image is in the page cache for every tool (generated just before, not dropped: the machine is
shared); "MB/s" is image bytes / wall time (1 MB = 10^6 bytes). Peak RSS is the child's max resident set.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import blake3

MiB = 1024 * 1024
EXTENT = 4 * MiB
CHANGE = 64 * 1024
PASSPHRASE = "benchmark passphrase"
_TEXT_ALPHABET = bytes((b"eeeeetttaaoinshrdlucmfwypvbgkqjxz      \n\n,.0123" * 6)[:256])


# -- the image -----------------------------------------------------------------------------------------------
def extent_bytes(seed: int, index: int) -> bytes:
    """Extent ``index``: ~30% zeros, ~35% random, ~35% text-like (compresses ~2x), all deterministic."""
    kind = blake3.blake3(f"{seed}:kind:{index}".encode()).digest()[0] % 20
    if kind < 6:
        return bytes(EXTENT)
    stream = blake3.blake3(f"{seed}:data:{index}".encode()).digest(length=EXTENT)
    return stream if kind < 13 else stream.translate(_TEXT_ALPHABET)


def write_image(path: Path, size: int, seed: int) -> None:
    with path.open("wb") as handle:
        for index in range(-(-size // EXTENT)):
            handle.write(extent_bytes(seed, index)[: min(EXTENT, size - index * EXTENT)])


def change_image(path: Path, size: int, seed: int, fraction: float = 0.01) -> int:
    """Overwrite ``fraction`` of the image with random 64 KiB writes at scattered 4 KiB-aligned offsets."""
    rng = random.Random(seed)
    writes = max(1, int(size * fraction) // CHANGE)
    with path.open("r+b") as handle:
        for _ in range(writes):
            handle.seek(rng.randrange(0, (size - CHANGE) // 4096) * 4096)
            handle.write(rng.randbytes(CHANGE))
    return writes * CHANGE


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


def bench_tool(name: str, work: Path, image: Path, size: int, seed: int, setup: Steps, version: str) -> ToolResult:
    result = ToolResult(tool=name, version=version)
    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ}
    # A normal install has bytecode; a dev shell may forbid writing it (PYTHONDONTWRITEBYTECODE), which would
    # recompile skyvault on every command. Cache it outside the source tree, warmed up before timing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    write_image(image, size, seed)
    plan = setup(home, image, env)
    if name == "skyvault":
        subprocess.run([*plan.full[:1], "--help"], env=env, cwd=home, check=True, capture_output=True)
    result.phases["full"] = run(plan.full, env=env, cwd=home, size=size)
    change_image(image, size, seed)
    result.phases["incremental"] = run(plan.incremental, env=env, cwd=home, size=size)
    result.phases["restore"] = run(plan.restore, env=env, cwd=home, size=size)
    result.identical = sha256_file(plan.restored) == sha256_file(image)
    result.repo_bytes = dir_size(home / "repo")
    shutil.rmtree(home, ignore_errors=True)
    return result


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


def report(results: list[ToolResult], size: int, load: tuple[float, float], rounds: int) -> str:
    base = next((r for r in results if r.tool == "restic" and not r.skipped), None)
    lines = [
        f"image {size // MiB} MiB; {platform.machine()}, {os.cpu_count()} cores; MB/s = image bytes / wall time; "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after; best of {rounds} round(s)",
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
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="image size (default 1024 MiB)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="where images and repositories go")
    parser.add_argument("--tools", default="skyvault,restic,borg")
    parser.add_argument("--compression-level", type=int, default=1, help="skyvault zstd level (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat; each phase keeps its best round")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args()
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
    results: dict[str, ToolResult] = {}
    load_before = os.getloadavg()[0]
    try:
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
                print(f"{name}: round {round_} ...", file=sys.stderr, flush=True)
                result = bench_tool(name, work, image, size, args.seed, steps, tool_version(version_cmd))
                results[name] = best_of(results.get(name), result)
    finally:
        image.unlink(missing_ok=True)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    final = list(results.values())
    print(report(final, size, (load_before, os.getloadavg()[0]), args.rounds))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in final], indent=2))


if __name__ == "__main__":
    main()
