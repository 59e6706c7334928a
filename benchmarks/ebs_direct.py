#!/usr/bin/env python3
"""Benchmark: skyvault's EBS direct copy and restore against a bare client's ceiling, in the lab under latency.

The lab answers every EBS direct request after ``--latency-ms`` (default 50, what AWS answers in) and enforces
AWS's request quotas (1,000 GetSnapshotBlock/PutSnapshotBlock per second per snapshot and per account; see
docs/lab.md, model ``ebs_limits``). For one volume, then ``--volumes`` volumes at once (default 4, as a backup
copies an instance's volumes), the same run measures:

- **copy**: skyvault's ``copy_snapshot`` (ListSnapshotBlocks, GetSnapshotBlock with its checksum verified, keyed
  BLAKE3, deduplication, zstd, AES-GCM into packs, stored in a local library) against the **ceiling**: a bare
  boto3 client issuing only signed GetSnapshotBlock requests for the same blocks, with the same requests in flight,
  reading and discarding the bodies;
- **restore**: skyvault's restore path (library packs read, decrypted, decompressed; StartSnapshot,
  PutSnapshotBlock with checksums from ``ParallelPuts``, CompleteSnapshot with the aggregate checksum) against a
  bare client issuing StartSnapshot, signed PutSnapshotBlock requests (with the SHA-256 each needs) and
  CompleteSnapshot, at the same concurrency.

It prints blocks/s, MB/s (1 MB = 10^6 bytes), CPU-ms per 512 KiB block of this process (user + system, all threads;
the lab runs in its own process and its CPU is shown apart) and the ratio skyvault / ceiling, against the target
(>= 70%). Each phase reads fresh data: a new library per copy phase, and distinct data per volume (no deduplication
across volumes). The machine's load average is printed before and after.

    .venv/bin/python benchmarks/ebs_direct.py                       # ~1-2 minutes
    .venv/bin/python benchmarks/ebs_direct.py --blocks 2000 --latency-ms 100 --in-flight 128
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config

from skyvault.aws.clients import ClientFactory
from skyvault.lab import control
from skyvault.lab.accounts import write_lab_config
from skyvault.lab.labconfig import LabInfo
from skyvault.library.backends.local import LocalBackend
from skyvault.library.crypto import ScryptParams
from skyvault.library.reader import BlockReader
from skyvault.library.repository import Repository, default_threads
from skyvault.library.snapshots import Manifest
from skyvault.services.ec2 import ebs_direct
from skyvault.services.ec2.copy import CopySource, copy_snapshot
from skyvault.services.ec2.ebs_direct import BLOCK_SIZE, DEFAULT_IN_FLIGHT, ParallelPuts, SnapshotWriter

ACCOUNT = "admin"
REGION = "us-east-1"
PASSPHRASE = "benchmark passphrase"
TARGET = 0.70


@dataclass
class Phase:
    name: str
    volumes: int
    blocks: int
    seconds: float
    cpu_s: float
    lab_cpu_s: float
    throttles: int = 0
    in_flight_limit: float = 0.0  # skyvault's adaptive limit per volume at the end of the phase

    @property
    def blocks_per_s(self) -> float:
        return self.blocks / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_block(self) -> float:
        return 1000.0 * self.cpu_s / self.blocks if self.blocks else 0.0

    @property
    def lab_cpu_ms_per_block(self) -> float:
        return 1000.0 * self.lab_cpu_s / self.blocks if self.blocks else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            blocks_per_s=round(self.blocks_per_s, 1),
            cpu_ms_per_block=round(self.cpu_ms_per_block, 3),
            lab_cpu_ms_per_block=round(self.lab_cpu_ms_per_block, 3),
        )
        return data


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (the lab's), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def measured(name: str, volumes: int, blocks: int, lab: LabInfo, out: list[Phase]) -> Iterator[Phase]:
    phase = Phase(name, volumes, blocks, 0.0, 0.0, 0.0)
    lab_before = _process_cpu_s(lab.pid)
    cpu_before = time.process_time()
    started = time.perf_counter()
    yield phase
    phase.seconds = time.perf_counter() - started
    phase.cpu_s = time.process_time() - cpu_before
    phase.lab_cpu_s = _process_cpu_s(lab.pid) - lab_before
    out.append(phase)
    print(
        f"  {name:<26} {volumes} vol  {blocks:>5} blocks  {phase.seconds:6.2f} s  {phase.blocks_per_s:7.1f} blocks/s"
        f"  {phase.blocks_per_s * BLOCK_SIZE / 1e6:6.1f} MB/s  {phase.cpu_ms_per_block:5.2f} CPU-ms/block"
        f"  (lab {phase.lab_cpu_ms_per_block:5.2f})"
        + (f"  in flight <= {phase.in_flight_limit:.0f}/vol" if phase.in_flight_limit else "")
        + (f"  throttled {phase.throttles}" if phase.throttles else ""),
        flush=True,
    )


@dataclass
class Volume:
    volume_id: str
    snapshot_id: str
    blocks: list[tuple[int, str]]  # (index, token)


def make_volumes(factory: ClientFactory, lab: LabInfo, count: int, blocks: int, seed: int) -> list[Volume]:
    """Test data, made with a plain boto3 client (the benchmark's scaffolding, not skyvault's calls)."""
    ec2 = factory.session(ACCOUNT).client("ec2", region_name=REGION, endpoint_url=factory.endpoint_url(ACCOUNT))
    ebs = factory.client(ACCOUNT, REGION, "ebs")
    size_gib = max(1, -(-blocks // 2048) * 2)  # room for random indexes
    made = []
    for n in range(count):
        volume_id = ec2.create_volume(Size=size_gib, AvailabilityZone=f"{REGION}a", VolumeType="gp3")["VolumeId"]
        control.write_blocks(lab, volume_id, blocks, seed=seed + n, compressible=0.5)
        snapshot_id = ec2.create_snapshot(VolumeId=volume_id)["SnapshotId"]
        listing = ebs_direct.list_snapshot_blocks(ebs, snapshot_id, ebs_direct.list_limiter(ACCOUNT, REGION))
        made.append(Volume(volume_id, snapshot_id, sorted((i, str(t)) for i, t in listing.blocks.items() if t)))
    return made


def new_library(root: Path, name: str) -> Repository:
    path = root / name
    Repository.init(LocalBackend(path), passphrase=PASSPHRASE, scrypt=ScryptParams(n=2**12, r=8, p=1)).close()
    return Repository.open(LocalBackend(path), passphrase=PASSPHRASE, threads=default_threads())


def skyvault_copy(
    factory: ClientFactory, repo: Repository, volumes: list[Volume], in_flight: int
) -> tuple[list[Manifest], int, float]:
    """The volumes copied at once (as a backup does), each with ``in_flight`` block reads."""

    def one(volume: Volume) -> tuple[str, int, int]:
        source = CopySource(ACCOUNT, REGION, volume.volume_id, f"arn:aws:ec2:{REGION}::volume/{volume.volume_id}",
                            volume.snapshot_id)  # fmt: skip
        copied = copy_snapshot(factory, repo, source, parent=None, base_snapshot_id=None, meta={}, workers=in_flight)
        return copied.manifest_id, copied.throttles, copied.in_flight

    with ThreadPoolExecutor(len(volumes)) as pool:
        results = list(pool.map(one, volumes))
    manifests = [repo.load_snapshot(m) for m, _, _ in results]
    return manifests, sum(t for _, t, _ in results), sum(n for _, _, n in results) / len(results)


def bare_client(factory: ClientFactory, pool: int) -> Any:
    """A plain boto3 EBS client: same credentials, endpoint and retry mode, a pool as large as the concurrency."""
    session = factory.session(ACCOUNT)
    config = Config(retries={"mode": "standard", "total_max_attempts": 8}, max_pool_connections=pool)
    return session.client("ebs", region_name=REGION, endpoint_url=factory.endpoint_url(ACCOUNT), config=config)


def ceiling_reads(client: Any, volumes: list[Volume], in_flight: int) -> None:
    def get(snapshot_id: str, index: int, token: str) -> None:
        body = client.get_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockToken=token)["BlockData"]
        body.read()
        body.close()

    def one(volume: Volume) -> None:
        with ThreadPoolExecutor(in_flight) as pool:
            for future in [pool.submit(get, volume.snapshot_id, i, t) for i, t in volume.blocks]:
                future.result()

    with ThreadPoolExecutor(len(volumes)) as pool:
        list(pool.map(one, volumes))


def skyvault_restore(
    factory: ClientFactory, repo: Repository, manifests: list[Manifest], in_flight: int
) -> tuple[int, float]:
    """Each manifest written into a new snapshot as ``restore --from library`` does, the volumes at once."""
    ebs = factory.client(ACCOUNT, REGION, "ebs")

    def one(manifest: Manifest) -> tuple[int, float]:
        writer = SnapshotWriter(ebs)
        writer.start(volume_size_gib=-(-manifest.size // 1024**3), tags={"skyvault:benchmark": "true"},
                     description="benchmark restore", client_token=os.urandom(8).hex())  # fmt: skip
        with ParallelPuts(writer, in_flight=in_flight) as puts:
            BlockReader(repo, manifest).restore(lambda offset, data: puts.submit(offset // BLOCK_SIZE, data))
        writer.complete()
        limit = writer.flow.concurrency.limit if writer.flow.concurrency else in_flight
        return writer.flow.throttles, limit

    with ThreadPoolExecutor(len(manifests)) as pool:
        results = list(pool.map(one, manifests))
    return sum(t for t, _ in results), sum(n for _, n in results) / len(results)


def ceiling_writes(client: Any, volumes: list[Volume], in_flight: int, base: bytes) -> None:
    """StartSnapshot, PutSnapshotBlock (distinct data per block: an 8-byte stamp on a shared base) at the same
    concurrency, CompleteSnapshot."""

    def put(snapshot_id: str, index: int, stamp: int) -> None:
        data = stamp.to_bytes(8, "little") + base[8:]
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        client.put_snapshot_block(SnapshotId=snapshot_id, BlockIndex=index, BlockData=data, DataLength=BLOCK_SIZE,
                                  Checksum=checksum, ChecksumAlgorithm="SHA256")  # fmt: skip

    def one(args: tuple[int, Volume]) -> None:
        n, volume = args
        snapshot_id = client.start_snapshot(VolumeSize=max(1, -(-(volume.blocks[-1][0] + 1) // 2048)))["SnapshotId"]
        with ThreadPoolExecutor(in_flight) as pool:
            futures = [pool.submit(put, snapshot_id, i, n * 10**6 + i) for i, _ in volume.blocks]
            for future in futures:
                future.result()
        client.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=len(volume.blocks))

    with ThreadPoolExecutor(len(volumes)) as pool:
        list(pool.map(one, enumerate(volumes)))


def warm_up(factory: ClientFactory, client: Any, volume: Volume, in_flight: int) -> None:
    """Open both clients' connections before anything is timed (the lab starts a thread per connection)."""
    ours = factory.client(ACCOUNT, REGION, "ebs")
    blocks = (volume.blocks * (1 + in_flight // max(1, len(volume.blocks))))[:in_flight]
    for ebs in (client, ours):
        with ThreadPoolExecutor(in_flight) as pool:
            for future in [
                pool.submit(ebs.get_snapshot_block, SnapshotId=volume.snapshot_id, BlockIndex=i, BlockToken=t)
                for i, t in blocks
            ]:
                future.result()["BlockData"].read()


def breakdown(factory: ClientFactory, root: Path, volume: Volume, count: int) -> dict[str, float]:
    """CPU-ms per block of each stage of the hot paths, one block at a time on one thread (process CPU: the
    library's background pack writer included; the lab's CPU is not)."""
    ebs = factory.client(ACCOUNT, REGION, "ebs")
    repo = new_library(root, "breakdown")
    blocks = volume.blocks[:count]
    size = (blocks[-1][0] + 1) * BLOCK_SIZE
    writer = repo.open_block_writer(kind="ebs", source="benchmark", size=size, block_size=BLOCK_SIZE)
    spent: dict[str, float] = {}

    def timed(stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        result = fn(*args, **kwargs)
        spent[stage] = spent.get(stage, 0.0) + time.process_time() - started
        return result

    get, verify = "copy: GetSnapshotBlock (botocore, signed; body read)", "copy: verify SHA-256"
    store = "copy: store (BLAKE3 ID, dedup, zstd, AES-GCM, pack write)"
    for index, token in blocks:
        response = timed(get, ebs.get_snapshot_block, SnapshotId=volume.snapshot_id, BlockIndex=index, BlockToken=token)
        data = timed(get, response["BlockData"].read)
        assert timed(verify, ebs_direct.sha256_b64, data) == response["Checksum"]
        timed(store, writer.put_block, index, data)
    manifest = timed(store, writer.commit)
    snapshot = SnapshotWriter(ebs)
    snapshot.start(volume_size_gib=-(-size // 1024**3), tags={"skyvault:benchmark": "true"},
                   description="benchmark breakdown", client_token=os.urandom(8).hex())  # fmt: skip
    reader = BlockReader(repo, manifest)
    for index, _ in blocks:
        data = timed("restore: read (pack read, AES-GCM, zstd)", reader.read_block, index)
        timed("restore: SHA-256 + PutSnapshotBlock (botocore, signed)", snapshot.put, index, data)
    snapshot.complete()
    repo.close()
    per_block = {stage: 1000.0 * seconds / len(blocks) for stage, seconds in spent.items()}
    print(f"\nwhere the CPU goes, per 512 KiB block ({len(blocks)} blocks, one at a time, this process):")
    for stage, ms in per_block.items():
        print(f"  {stage:<62} {ms:5.2f} CPU-ms")
    return per_block


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(phases: list[Phase]) -> dict[str, Any]:
    by_name = {p.name: p for p in phases}
    ratios: dict[str, float] = {}
    print("\n| phase | volumes | skyvault blocks/s | ceiling blocks/s | skyvault / ceiling | skyvault CPU-ms/block |"
          " ceiling CPU-ms/block | target |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for kind in ("copy", "restore"):
        for label in ("1 volume", "volumes"):
            ours = by_name.get(f"skyvault {kind} {label}")
            ceiling = by_name.get(f"ceiling {kind} {label}")
            if ours is None or ceiling is None:
                continue
            ratio = ours.blocks_per_s / ceiling.blocks_per_s if ceiling.blocks_per_s else 0.0
            ratios[f"{kind} {ours.volumes} vol"] = ratio
            print(
                f"| {kind} | {ours.volumes} | {ours.blocks_per_s:.0f} | {ceiling.blocks_per_s:.0f} | {ratio:.0%} |"
                f" {ours.cpu_ms_per_block:.2f} | {ceiling.cpu_ms_per_block:.2f} |"
                f" {'met' if ratio >= TARGET else 'missed'} (>= {TARGET:.0%}) |"
            )
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=300, help="512 KiB blocks per volume (default 300: 150 MiB)")
    parser.add_argument("--volumes", type=int, default=4, help="volumes copied/restored at once (default 4)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="lab latency per request (default 50)")
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT, help="requests in flight per volume")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", type=Path, default=None, help="lab state and libraries (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the skyvault phases into this file")
    parser.add_argument("--breakdown", type=int, default=100, help="blocks for the per-stage CPU breakdown (0: skip)")
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="skyvault-ebs-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    print(f"load average before: {load_before} ({os.cpu_count()} CPUs); latency {args.latency_ms:g} ms; "
          f"{args.blocks} blocks/volume; {args.in_flight} in flight per volume", flush=True)  # fmt: skip
    lab = control.start_lab(work / "state", exit_with_parent=True)
    phases: list[Phase] = []
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    try:
        control.set_model_settings(lab, "ec2_consistency", delay_s=0)
        control.set_model_settings(lab, "ebs_write_readiness", not_writable_s=0)
        config = write_lab_config(work / "skyvault.toml", lab)
        factory = ClientFactory(config, base_dir=work)
        total = 1 + args.volumes
        print(f"writing {total} volumes of {args.blocks} blocks in the lab...", flush=True)
        volumes = make_volumes(factory, lab, total, args.blocks, args.seed)
        control.set_model_settings(lab, "ebs_limits", latency_ms=args.latency_ms)
        ceiling = bare_client(factory, args.in_flight * args.volumes + 8)
        warm_up(factory, ceiling, volumes[0], args.in_flight)
        base = os.urandom(BLOCK_SIZE)
        manifests: dict[str, tuple[Repository, list[Manifest]]] = {}
        for label, chosen in (("1 volume", volumes[:1]), ("volumes", volumes[1:])):
            blocks = sum(len(v.blocks) for v in chosen)
            repo = new_library(work / "libraries", label.replace(" ", "-"))
            with measured(f"ceiling copy {label}", len(chosen), blocks, lab, phases):
                ceiling_reads(ceiling, chosen, args.in_flight)
            with measured(f"skyvault copy {label}", len(chosen), blocks, lab, phases) as phase:
                if profiler:
                    profiler.enable()
                done, phase.throttles, phase.in_flight_limit = skyvault_copy(factory, repo, chosen, args.in_flight)
                if profiler:
                    profiler.disable()
            manifests[label] = (repo, done)
        for label, chosen in (("1 volume", volumes[:1]), ("volumes", volumes[1:])):
            blocks = sum(len(v.blocks) for v in chosen)
            repo, done = manifests[label]
            with measured(f"ceiling restore {label}", len(chosen), blocks, lab, phases):
                ceiling_writes(ceiling, chosen, args.in_flight, base)
            with measured(f"skyvault restore {label}", len(chosen), blocks, lab, phases) as phase:
                if profiler:
                    profiler.enable()
                phase.throttles, phase.in_flight_limit = skyvault_restore(factory, repo, done, args.in_flight)
                if profiler:
                    profiler.disable()
            repo.close()
        ratios = report(phases)
        stages = breakdown(factory, work / "libraries", volumes[0], args.breakdown) if args.breakdown else {}
        load_after = loadavg()
        print(f"\nload average after: {load_after}")
        if profiler and args.profile:
            profiler.dump_stats(str(args.profile))
            print(f"profile of the skyvault phases: {args.profile} (python -m pstats)")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "latency_ms": args.latency_ms,
                        "blocks_per_volume": args.blocks,
                        "in_flight": args.in_flight,
                        "load_before": load_before,
                        "load_after": load_after,
                        "cpus": os.cpu_count(),
                        "phases": [p.to_json() for p in phases],
                        "ratios": ratios,
                        "cpu_ms_per_block_by_stage": stages,
                        "lab_settings": control.set_model_settings(lab, "ebs_limits"),
                    },
                    indent=2,
                )
                + "\n"
            )
    finally:
        control.stop_lab(work / "state")
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
