#!/usr/bin/env python3
"""Benchmark: what a ``skyvault`` command costs before it does any work (issue #11's start-up targets).

Runs each command as its own process, as a user would, several times, and reports the median CPU time (user +
system, from ``wait4``: a shared machine's load moves wall time far more than CPU time) and the median wall time:

* ``--version``, ``--help``, ``backup --help``, ``backup image --help``: targets 0.15 CPU-s for the first two;
* ``backup image TINY``: a 4 KiB image into a local library, already backed up once, so the engine's work (its
  own ``duration_s``, subtracted) is a few milliseconds and the rest is the command's fixed cost: imports, the
  config, the catalog, opening the library (its key derivation) and recording the recovery point. Target 0.3 s.

    .venv/bin/python benchmarks/startup.py --runs 9
    .venv/bin/python benchmarks/startup.py --runs 9 --baseline-src /tmp/old/src   # before/after, interleaved

``--baseline-src`` runs another skyvault source tree (e.g. ``git archive OLD src | tar -x -C /tmp/old``) in turn
with this one, run by run, so both see the same load on a shared machine.

Bytecode is cached (in a temporary folder, warmed up first) as in a normal install, even where the shell sets
PYTHONDONTWRITEBYTECODE: otherwise every run would recompile skyvault's own modules (~0.1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PASSPHRASE = "benchmark passphrase"
CHEAP = (["--version"], ["--help"], ["backup", "--help"], ["backup", "image", "--help"])


@dataclass
class Timing:
    cpu_s: float
    wall_s: float
    engine_s: float = 0.0  # the command's own duration_s, where it prints one


def run_timed(cmd: list[str], env: dict[str, str], cwd: Path) -> Timing:
    """One run; CPU time from the child's rusage (microseconds, unlike /usr/bin/time's centiseconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{text}\n{err.read().decode()}")
    timing = Timing(usage.ru_utime + usage.ru_stime, elapsed)
    if text.startswith("{"):
        timing.engine_s = float(json.loads(text)["stats"]["duration_s"])
    return timing


def median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.cpu_s for t in timings),
        statistics.median(t.wall_s for t in timings),
        statistics.median(t.engine_s for t in timings),
    )


def minimum(timings: list[Timing]) -> Timing:
    return Timing(min(t.cpu_s for t in timings), min(t.wall_s for t in timings), min(t.engine_s for t in timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="runs per command (the median is reported)")
    parser.add_argument("--baseline-src", type=Path, help="another skyvault src/ to measure in turn with this one")
    args = parser.parse_args()

    exe = str(Path(sys.executable).with_name("skyvault"))
    with tempfile.TemporaryDirectory(prefix="skyvault-startup-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "SKYVAULT_CONFIG": str(home / "skyvault.toml"), "SKYVAULT_PASSPHRASE": PASSPHRASE}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
        variants = {"": env}
        if args.baseline_src:
            variants = {"baseline": {**env, "PYTHONPATH": str(args.baseline_src.resolve())}, "this tree": env}
        subprocess.run([exe, "library", "init", "--path", str(home / "lib")], env=env, cwd=home, check=True,
                       capture_output=True)  # fmt: skip
        image = home / "tiny.img"
        image.write_bytes(os.urandom(4096))
        backup = [exe, "--json", "backup", "image", str(image)]
        commands = [[sys.executable, "-c", "pass"]] + [[exe, *argv] for argv in CHEAP] + [backup]
        for variant_env in variants.values():  # warm-up: bytecode written, the image's first backup done
            for cmd in commands:
                subprocess.run(cmd, env=variant_env, cwd=home, check=True, capture_output=True)
        load_before = os.getloadavg()
        rows: list[tuple[str, str, Timing, Timing]] = []
        for cmd in commands:
            timings: dict[str, list[Timing]] = {name: [] for name in variants}
            for _ in range(args.runs):
                for name, variant_env in variants.items():  # in turn: both see the same load
                    timings[name].append(run_timed(cmd, variant_env, home))
            label = " ".join(Path(cmd[0]).name if i == 0 else part for i, part in enumerate(cmd))
            label = label.replace(str(image), "TINY")
            for name, runs in timings.items():
                rows.append((label, name, median(runs), minimum(runs)))
        load_after = os.getloadavg()

    print(f"median (and min) of {args.runs} runs; {os.cpu_count()} CPUs; load average (1 min) {load_before[0]:.2f} "
          f"before, {load_after[0]:.2f} after")  # fmt: skip
    print(f"{'command':<40} {'variant':<10} {'CPU s':>7} {'min':>7} {'wall s':>7} {'min':>7} {'fixed CPU s':>12}")
    for label, name, mid, low in rows:
        fixed = f"{mid.cpu_s - mid.engine_s:.3f}" if mid.engine_s else ""
        print(f"{label:<40} {name:<10} {mid.cpu_s:>7.3f} {low.cpu_s:>7.3f} {mid.wall_s:>7.3f} {low.wall_s:>7.3f} "
              f"{fixed:>12}")  # fmt: skip


if __name__ == "__main__":
    main()
