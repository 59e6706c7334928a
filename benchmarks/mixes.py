"""Deterministic disk images of several data mixes, and the changes an incremental backup sees on each.

A speed figure that holds on one mix only is not the product's speed: the benchmark runs every mix and quotes
the worst ratio. Each mix is generated extent by extent from a seed (BLAKE3's XOF for random bytes), so two runs,
and every tool in one run, see the same bytes.

- ``disk``: 4 MiB extents, ~30% zeros, ~35% random, ~35% text-like bytes (the original benchmark image);
  changes: 1% of the image in random 64 KiB writes at scattered 4 KiB-aligned offsets.
- ``text``: natural-language-like text: words of a 5,000-word vocabulary drawn with a Zipf (1/rank)
  distribution, in slices of uneven length, so it compresses like prose (~3x with zstd) without repeating
  whole blocks; changes: as ``disk``.
- ``sparse``: mostly zero (~92% of 1 MiB extents), the rest text and random: a thin-provisioned disk.
- ``media``: already-compressed content (high-entropy bytes, as JPEG/H.264/zip payloads are): nothing to
  compress, nothing to deduplicate.
- ``uneven``: text, zero runs and random extents of uneven sizes (4 KiB to 8 MiB, log-uniform), with whole
  512 KiB blocks changed (1% of them) for the incremental: the mix a new user tried first.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3

KiB = 1024
MiB = 1024 * KiB
BLOCK = 512 * KiB
_TEXT_ALPHABET = bytes((b"eeeeetttaaoinshrdlucmfwypvbgkqjxz      \n\n,.0123" * 6)[:256])
_CORPUS_BYTES = 8 * MiB


def random_bytes(seed: int, label: str, size: int) -> bytes:
    return blake3.blake3(f"{seed}:{label}".encode()).digest(length=size)


def _corpus(seed: int) -> bytes:
    """8 MiB of Zipf-distributed words with punctuation and line breaks (built once per seed)."""
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    letter_weights = [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0,
                      1.9, 1.5, 1.0, 0.8, 0.2, 0.2, 0.15, 0.1]  # fmt: skip
    vocabulary = sorted(
        {"".join(rng.choices(letters, letter_weights, k=rng.randint(1, 11))) for _ in range(6000)}, key=len
    )[:5000]
    rng.shuffle(vocabulary)
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    out: list[str] = []
    size = 0
    while size < _CORPUS_BYTES:
        sentence = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(4, 28))
        text = " ".join(sentence).capitalize() + rng.choice((". ", ". ", ", ", "? ", ".\n"))
        out.append(text)
        size += len(text)
    return "".join(out).encode()[:_CORPUS_BYTES]


_CORPORA: dict[int, bytes] = {}


def text_bytes(seed: int, label: str, size: int) -> bytes:
    """``size`` bytes of prose: slices of 1-64 KiB from random offsets of the corpus (no block repeats)."""
    if seed not in _CORPORA:
        _CORPORA[seed] = _corpus(seed)
    corpus = _CORPORA[seed]
    rng = random.Random(f"{seed}:{label}")
    parts: list[bytes] = []
    filled = 0
    while filled < size:
        length = min(size - filled, rng.randint(KiB, 64 * KiB))
        start = rng.randrange(0, len(corpus) - length)
        parts.append(corpus[start : start + length])
        filled += length
    return b"".join(parts)


def _extents(seed: int, size: int, extent: int, pick: Callable[[int], bytes]) -> Iterator[bytes]:
    for index in range(-(-size // extent)):
        yield pick(index)[: min(extent, size - index * extent)]


def _disk(seed: int, size: int) -> Iterator[bytes]:
    def pick(index: int) -> bytes:
        kind = blake3.blake3(f"{seed}:kind:{index}".encode()).digest()[0] % 20
        if kind < 6:
            return bytes(4 * MiB)
        stream = random_bytes(seed, f"data:{index}", 4 * MiB)
        return stream if kind < 13 else stream.translate(_TEXT_ALPHABET)

    return _extents(seed, size, 4 * MiB, pick)


def _text(seed: int, size: int) -> Iterator[bytes]:
    return _extents(seed, size, 4 * MiB, lambda index: text_bytes(seed, f"text:{index}", 4 * MiB))


def _sparse(seed: int, size: int) -> Iterator[bytes]:
    def pick(index: int) -> bytes:
        kind = blake3.blake3(f"{seed}:sparse:{index}".encode()).digest()[0] % 25
        if kind < 23:
            return bytes(MiB)
        return text_bytes(seed, f"sparse:{index}", MiB) if kind == 23 else random_bytes(seed, f"sparse:{index}", MiB)

    return _extents(seed, size, MiB, pick)


def _media(seed: int, size: int) -> Iterator[bytes]:
    return _extents(seed, size, 4 * MiB, lambda index: random_bytes(seed, f"media:{index}", 4 * MiB))


def _uneven(seed: int, size: int) -> Iterator[bytes]:
    rng = random.Random(f"{seed}:uneven")
    written = 0
    index = 0
    while written < size:
        length = min(size - written, int(math.exp(rng.uniform(math.log(4 * KiB), math.log(8 * MiB)))))
        kind = rng.random()
        if kind < 0.3:
            yield bytes(length)
        elif kind < 0.75:
            yield text_bytes(seed, f"uneven:{index}", length)
        else:
            yield random_bytes(seed, f"uneven:{index}", length)
        written += length
        index += 1


def scattered_writes(path: Path, size: int, seed: int, fraction: float = 0.01, write: int = 64 * KiB) -> int:
    """Overwrite ``fraction`` of the image with random ``write``-sized writes at 4 KiB-aligned offsets."""
    rng = random.Random(seed)
    writes = max(1, int(size * fraction) // write)
    with path.open("r+b") as handle:
        for _ in range(writes):
            handle.seek(rng.randrange(0, (size - write) // 4096) * 4096)
            handle.write(rng.randbytes(write))
    return writes * write


def whole_blocks(path: Path, size: int, seed: int, fraction: float = 0.01) -> int:
    """Rewrite ``fraction`` of the 512 KiB blocks entirely (text, as a guest rewriting files would)."""
    rng = random.Random(seed)
    blocks = size // BLOCK
    chosen = rng.sample(range(blocks), max(1, int(blocks * fraction)))
    with path.open("r+b") as handle:
        for number in chosen:
            handle.seek(number * BLOCK)
            handle.write(text_bytes(seed, f"change:{number}", BLOCK))
    return len(chosen) * BLOCK


@dataclass(frozen=True)
class Mix:
    name: str
    extents: Callable[[int, int], Iterator[bytes]]
    change: Callable[[Path, int, int], int]
    description: str

    def write(self, path: Path, size: int, seed: int) -> None:
        with path.open("wb") as handle:
            for piece in self.extents(seed, size):
                handle.write(piece)


MIXES: dict[str, Mix] = {
    mix.name: mix
    for mix in (
        Mix("disk", _disk, scattered_writes, "30% zero, 35% random, 35% text-like 4 MiB extents"),
        Mix("text", _text, scattered_writes, "natural-language text, Zipf word frequencies"),
        Mix("sparse", _sparse, scattered_writes, "mostly zero (92% of 1 MiB extents)"),
        Mix("media", _media, scattered_writes, "already-compressed (high-entropy) content"),
        Mix("uneven", _uneven, whole_blocks, "text, zero and random extents of 4 KiB-8 MiB; whole blocks change"),
    )
}
