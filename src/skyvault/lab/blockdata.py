"""Deterministic guest data for the lab's EBS model: which blocks a "guest" writes, and their bytes.

Pure functions (no moto) shared by the lab process and the tests: the same ``(seed, index, compressible)`` always
gives the same 512 KiB, so a test can recompute exactly what the lab wrote and compare it with what the EBS
direct APIs return.
"""

from __future__ import annotations

import hashlib
import random

BLOCK_SIZE = 512 * 1024  # EBS direct APIs read and write 512 KiB blocks
BLOCKS_PER_GIB = (1024 * 1024 * 1024) // BLOCK_SIZE

# Text a filesystem might hold (logs, configs): zstd shrinks it a lot, unlike the random part of a block.
_WORDS = [
    "INFO",
    "WARN",
    "ERROR",
    "request",
    "served",
    "in",
    "ms",
    "user",
    "session",
    "cache",
    "hit",
    "miss",
    "backend",
    "replica",
    "commit",
    "checkpoint",
    "GET",
    "POST",
    "/api/v1/orders",
    "/healthz",
    "200",
    "404",
    "503",
    "upstream",
    "timeout",
    "retry",
    "queue",
    "worker",
    "started",
    "stopped",
]


def choose_indices(seed: int, count: int, total_blocks: int) -> list[int]:
    """``count`` distinct block indexes in ``[0, total_blocks)``, sorted, the same for the same seed."""
    if count > total_blocks:
        raise ValueError(f"cannot write {count} distinct blocks to a volume of {total_blocks} blocks")
    return sorted(random.Random(f"indices:{seed}").sample(range(total_blocks), count))


def guest_block(seed: int, index: int, compressible: float = 0.0) -> bytes:
    """The 512 KiB a guest writes at ``index``: a share ``compressible`` of text, the rest random bytes."""
    rng = random.Random(f"block:{seed}:{index}")
    text_len = int(BLOCK_SIZE * compressible)
    parts = []
    if text_len:
        line = " ".join(rng.choice(_WORDS) for _ in range(12)) + f" block={index}\n"
        encoded = line.encode("ascii")
        parts.append((encoded * (text_len // len(encoded) + 1))[:text_len])
    parts.append(rng.randbytes(BLOCK_SIZE - text_len))
    data = b"".join(parts)
    # An all-zero random tail is astronomically unlikely but would read back as "absent": keep blocks non-zero.
    return data if data.count(0) != BLOCK_SIZE else b"\x01" + data[1:]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
