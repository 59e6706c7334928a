#!/usr/bin/env python3
"""Benchmark: ``skyvault backup s3`` / ``restore`` against ``aws s3 sync`` on one lab bucket of small objects.

One run: start a lab (its own, in a temporary folder), fill a bucket with ``--objects`` objects of ``--size``
bytes (deterministic), then time, each as its own process as a user would run it:

- skyvault: first backup, unchanged re-backup, restore into a new bucket (``--json``; the engine's own
  ``duration_s`` is reported beside the wall time);
- ``aws s3 sync`` (awscli, where installed): bucket to a local folder, unchanged re-sync, folder to a new bucket.

``--skyvault-only`` skips the bare-client ceilings and ``aws s3 sync`` (a shorter run, e.g. to compare peak RSS
across object counts).

The restored bucket is checked object by object (bytes) against the source (not timed). A missing awscli is
skipped with a message. Objects/s = objects / wall seconds; peak RSS per process (GNU ``time``). ``--large N`` adds N
objects of ``--large-mib`` MiB (streamed in ranges and parts); ``--latency-ms`` gives every S3 request that
latency in the lab (the ``request_latency`` quirk; AWS documents 100-200 ms for small objects), for the ceilings,
skyvault and ``aws s3 sync`` alike.

    PYTHONPATH=src .venv/bin/python benchmarks/s3_vs_sync.py --objects 20000 --size 2048 [--large 2] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from skyvault.config import LibraryConfig, SkyvaultConfig, save_config
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.control import set_model_settings, start_lab, stop_lab
from skyvault.lab.labconfig import ADMIN_PROFILE, LabInfo
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.repository import Repository

PASSPHRASE = "benchmark passphrase"
SKYVAULT = [sys.executable, "-c", "from skyvault.cli.main import main; main()"]


def _client(lab: LabInfo) -> Any:
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(lab.credentials_file)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    return boto3.Session(profile_name=ADMIN_PROFILE, region_name="us-east-1").client("s3", endpoint_url=lab.endpoint)


def _body(n: int, size: int) -> bytes:
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def fill(s3: Any, bucket: str, objects: int, size: int) -> None:
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"data/{n:06d}.bin", Body=_body(n, size)),
                      range(objects)))  # fmt: skip


PEAK_RSS_MIB: dict[str, float] = {}  # command label -> peak resident memory of its process


def timed(cmd: list[str], env: dict[str, str], cwd: Path, label: str = "") -> tuple[float, str]:
    # Peak RSS from GNU time, which is exec'd fresh: a child forked from this (large) process would inherit its
    # high-water mark, and wait4's ru_maxrss would report ours.
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        wrapped = [gnu_time, "-f", "%M", "-o", rss.name, *cmd] if gnu_time else cmd
        started = time.perf_counter()
        done = subprocess.run(wrapped, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:6])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        text = Path(rss.name).read_text().strip()
        if gnu_time and text.isdigit():
            PEAK_RSS_MIB[label or " ".join(cmd[-3:])] = int(text) / 1024  # GNU time reports KiB
    return seconds, done.stdout


def ceiling(s3: Any, bucket: str, objects: int, size: int) -> tuple[float, float]:
    """A bare boto3 client doing only the reads, then only the writes, 16 threads: the lab's own pace."""
    keys = [f"data/{n:06d}.bin" for n in range(objects)]
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(), keys))
    reads = time.perf_counter() - started
    s3.create_bucket(Bucket="bench-ceiling")
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket="bench-ceiling", Key=keys[n], Body=_body(n, size)),
                      range(objects)))  # fmt: skip
    return reads, time.perf_counter() - started


def same_objects(s3: Any, a: str, b: str) -> int:
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a) for o in page["Contents"]]
    for key in keys:
        if s3.get_object(Bucket=a, Key=key)["Body"].read() != s3.get_object(Bucket=b, Key=key)["Body"].read():
            raise SystemExit(f"restored {key} differs")
    return len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--large", type=int, default=0, help="objects of --large-mib MiB added to the bucket")
    parser.add_argument("--large-mib", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="per-request S3 latency in the lab")
    parser.add_argument("--skyvault-only", action="store_true", help="skip the ceilings and aws s3 sync")
    parser.add_argument("--profile-unchanged", metavar="FILE", help="cProfile the unchanged re-backup into FILE")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s3bench-"))
    lab = start_lab(work / "lab", exit_with_parent=True)
    try:
        config_path = work / "skyvault.toml"
        config = write_lab_config(config_path, lab)
        library = work / "library"
        Repository.init(LocalBackend(library), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**14, r=8, p=1)).close()
        config = config.model_copy(update={"libraries": {"main": LibraryConfig(kind="local", path=str(library))},
                                           "default_library": "main"})  # fmt: skip
        save_config(SkyvaultConfig.model_validate(config.model_dump()), config_path)
        env = {**os.environ, "SKYVAULT_CONFIG": str(config_path), "SKYVAULT_PASSPHRASE": PASSPHRASE}
        s3 = _client(lab)
        fill(s3, "bench-source", args.objects, args.size)
        for index in range(args.large):
            big = hashlib.sha256(f"large {index}".encode()).digest() * (args.large_mib * 1024 * 1024 // 32)
            s3.upload_fileobj(io.BytesIO(big), "bench-source", f"large/{index}.bin")
        if args.latency_ms:
            set_model_settings(lab, "request_latency", s3=args.latency_ms)
        n = args.objects
        rows: list[tuple[str, float, str]] = []
        if not args.skyvault_only:
            reads, writes = ceiling(s3, "bench-source", n, args.size)
            rows.append(("ceiling: bare GetObject x16", reads, "the lab's pace for reads"))
            rows.append(("ceiling: bare PutObject x16", writes, "the lab's pace for writes"))

        first, out = timed([*SKYVAULT, "--json", "backup", "s3", "bench-source"], env, work, "skyvault backup")
        point = json.loads(out)
        rows.append(("skyvault backup", first, f"engine {point['stats']['duration_s']} s"))
        command = SKYVAULT
        if args.profile_unchanged:
            command = [sys.executable, "-m", "cProfile", "-o", str(Path(args.profile_unchanged).resolve()),
                       "-m", "skyvault.cli.main"]  # fmt: skip
        again, out = timed([*command, "--json", "backup", "s3", "bench-source"], env, work, "skyvault unchanged")
        calls = json.loads(out)["stats"]["api_calls"]
        rows.append(("skyvault unchanged re-backup", again, f"engine {json.loads(out)['stats']['duration_s']} s, "
                     f"calls {calls}"))  # fmt: skip
        s3.create_bucket(Bucket="bench-restored")
        restore, out = timed([*SKYVAULT, "--json", "restore", point["recovery_point"], "--bucket", "bench-restored"],
                             env, work, "skyvault restore")  # fmt: skip
        rows.append(("skyvault restore", restore, f"engine {json.loads(out)['stats']['duration_s']} s"))
        if args.latency_ms:  # the check is not timed: without latency, or its serial reads would take an age
            set_model_settings(lab, "request_latency", s3=0)
        checked = same_objects(s3, "bench-source", "bench-restored")
        if args.latency_ms:
            set_model_settings(lab, "request_latency", s3=args.latency_ms)

        aws = shutil.which("aws")
        if args.skyvault_only:
            print("--skyvault-only: the ceilings and aws s3 sync are skipped")
        elif aws is None:
            print("awscli not installed: the aws s3 sync peer is skipped")
        else:
            aws_env = {**env, "AWS_SHARED_CREDENTIALS_FILE": str(lab.credentials_file), "AWS_PROFILE": ADMIN_PROFILE,
                       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
            sync = [aws, "--endpoint-url", lab.endpoint, "s3", "sync", "--only-show-errors"]
            folder = work / "sync"
            seconds, _ = timed([*sync, "s3://bench-source", str(folder)], aws_env, work, "aws s3 sync down")
            rows.append(("aws s3 sync bucket->dir", seconds, ""))
            seconds, _ = timed([*sync, "s3://bench-source", str(folder)], aws_env, work, "aws s3 sync unchanged")
            rows.append(("aws s3 sync unchanged", seconds, ""))
            s3.create_bucket(Bucket="bench-synced")
            seconds, _ = timed([*sync, str(folder), "s3://bench-synced"], aws_env, work, "aws s3 sync up")
            rows.append(("aws s3 sync dir->bucket", seconds, ""))

        large = f" + {args.large} of {args.large_mib} MiB" if args.large else ""
        print(f"{n} objects of {args.size} bytes{large}; S3 latency {args.latency_ms:g} ms; restore verified object "
              f"by object ({checked} objects)")  # fmt: skip
        total = n + args.large
        for name, seconds, note in rows:
            print(f"{name:32s} {seconds:7.2f} s {total / seconds:8.0f} objects/s  {note}")
        print(f"unchanged re-backup is {first / again:.1f}x faster than the first")
        timings = {name: seconds for name, seconds, _ in rows}
        if "aws s3 sync bucket->dir" in timings:
            print(f"backup vs aws s3 sync: {timings['aws s3 sync bucket->dir'] / first:.2f}x; restore vs aws s3 sync: "
                  f"{timings['aws s3 sync dir->bucket'] / restore:.2f}x")  # fmt: skip
        print("peak RSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in PEAK_RSS_MIB.items()))
    finally:
        stop_lab(work / "lab")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
