#!/usr/bin/env python3
"""Benchmark: ``skyvault convert`` of a dense disk image into the local AWS lab, against writing the same image to
local disk.

One run: generate a deterministic raw image of ``--size-mib`` (every 512 KiB block non-zero: the worst case, all
blocks are sent) and a QCOW2 of the same contents (the test suite's writer); start a lab; time
``skyvault convert IMAGE --volumes-only --yes --json`` as a user runs it (its own process: start-up, preflight,
snapshot writes, volume creation, clean-up of the intermediates), check the volume's lab checksum equals the
image's SHA-256; and time ``dd if=IMAGE of=COPY bs=4M oflag=direct conv=fsync`` (writing the image to local disk).

    .venv/bin/python benchmarks/convert.py --size-mib 1024

It also times ``--method vmimport`` on the raw image (``--create-vmimport-role``, a bucket in the lab): the upload
to the lab's S3 and the lab's VM Import model, whose import is a local block copy (AWS's takes minutes to hours),
so that figure measures skyvault's upload and polling only. Run it with this checkout's ``src`` on PYTHONPATH: the
lab process imports skyvault from there.

"MB/s" is image bytes / wall time (1 MB = 10^6 bytes). The lab keeps blocks in its own process on this machine, so
the figure measures skyvault's pipeline (parsing, checksums, 8 parallel PutSnapshotBlock over HTTP to a local
server), not EBS's service-side throughput.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from image.diskgen import Content, write_qcow2  # noqa: E402 - the test suite's spec-conformant writer
from skyvault.lab.accounts import write_lab_config  # noqa: E402
from skyvault.lab.control import checksum, start_lab, stop_lab  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB


def dense_image(path: Path, size: int) -> str:
    """Deterministic bytes in every block (a SHA-256 counter stream); returns the image's SHA-256."""
    digest = hashlib.sha256()
    seed = hashlib.sha256(b"skyvault convert benchmark").digest()
    with path.open("wb") as out:
        written = 0
        counter = 0
        while written < size:
            chunk = b"".join(hashlib.sha256(seed + (counter + i).to_bytes(8, "big")).digest() for i in range(32768))
            chunk = chunk[: size - written]
            counter += 32768
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest()


def padded_sha256(path: Path, size: int, volume_bytes: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * MiB):
            digest.update(chunk)
    remaining = volume_bytes - size
    while remaining > 0:
        step = min(remaining, 8 * MiB)
        digest.update(bytes(step))
        remaining -= step
    return digest.hexdigest()


class _Extents(Content):
    """The raw image's bytes as the QCOW2 writer's content (read from the file)."""

    def __init__(self, path: Path, size: int) -> None:
        super().__init__(size, {})
        self.path = path

    def read(self, offset: int, length: int) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(max(0, min(length, self.size - offset)))

    def chunks(self, unit: int) -> Any:
        for index in range(-(-self.size // unit)):
            yield index, self.read(index * unit, unit).ljust(unit, b"\0")


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--work", type=Path, default=None, help="Folder for images and the lab (default: a temp dir).")
    args = parser.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(dir=args.work) as temp:
        work = Path(temp)
        raw = work / "disk.img"
        image_sha = dense_image(raw, size)
        qcow2 = write_qcow2(work / "disk.qcow2", _Extents(raw, size))
        lab_dir = work / "lab"
        lab_dir.mkdir()
        info = start_lab(lab_dir, enforce_iam=False, exit_with_parent=True)
        try:
            config = work / "skyvault.toml"
            write_lab_config(config, info)
            env = {**os.environ, "SKYVAULT_CONFIG": str(config), "PYTHONPATH": str(ROOT / "src")}
            volume_bytes = -(-size // GiB) * GiB
            expected = padded_sha256(raw, size, volume_bytes)
            results: dict[str, Any] = {"size_mib": args.size_mib, "image_sha256": image_sha}
            for label, image in (("raw", raw), ("qcow2", qcow2)):
                command = [sys.executable, "-m", "skyvault.cli.main", "--json", "convert", str(image),
                           "--volumes-only", "--yes"]  # fmt: skip
                wall, out = timed(command, env, work)
                result = json.loads(out)
                [volume_id] = result["volume_ids"].values()
                got = checksum(info, volume_id).sha256
                assert got == expected, f"{label}: volume checksum {got} != image {expected}"
                results[f"convert_{label}"] = {
                    "wall_s": round(wall, 2),
                    "mb_per_s": round(size / 1e6 / wall, 1),
                    "job_s": result["stats"]["duration_s"],
                    "job_mb_per_s": round(size / 1e6 / result["stats"]["duration_s"], 1),
                    "blocks_written": result["stats"]["blocks_written"],
                    "verified": True,
                }
            # --method vmimport (raw only; QCOW2 is refused by VM Import): the upload to S3 and the lab's import,
            # whose "conversion" is a local block copy: the figure is skyvault's upload and polling, not AWS's.
            from skyvault.aws.clients import ClientFactory
            from skyvault.config import load_config

            factory = ClientFactory(load_config(config), base_dir=work, strict_guard=False)
            factory.client("admin", "us-east-1", "s3").create_bucket(Bucket="benchmark-imports")
            command = [sys.executable, "-m", "skyvault.cli.main", "--json", "convert", str(raw), "--volumes-only",
                       "--method", "vmimport", "--bucket", "benchmark-imports", "--create-vmimport-role",
                       "--yes"]  # fmt: skip
            wall, out = timed(command, env, work)
            result = json.loads(out)
            [volume_id] = result["volume_ids"].values()
            got = checksum(info, volume_id).sha256
            assert got == expected, f"vmimport: volume checksum {got} != image {expected}"
            results["convert_raw_vmimport"] = {
                "wall_s": round(wall, 2),
                "mb_per_s": round(size / 1e6 / wall, 1),
                "job_s": result["stats"]["duration_s"],
                "bytes_uploaded": result["stats"]["bytes_uploaded"],
                "verified": True,
            }
            copy = work / "copy.img"
            wall, _ = timed(["dd", f"if={raw}", f"of={copy}", "bs=4M", "oflag=direct", "conv=fsync"], env, work)
            results["dd_to_local_disk"] = {"wall_s": round(wall, 2), "mb_per_s": round(size / 1e6 / wall, 1)}
        finally:
            stop_lab(lab_dir)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
