"""The benchmark's data mixes are what they claim: deterministic, the asked size, and of their character."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import zstandard

SIZE = 12 * 1024 * 1024


def _mixes() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "mixes.py"
    spec = importlib.util.spec_from_file_location("benchmark_mixes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


MIXES = _mixes()


def _image(tmp_path: Path, name: str, seed: int = 7) -> bytes:
    path = tmp_path / f"{name}-{seed}.img"
    MIXES.MIXES[name].write(path, SIZE, seed)
    return path.read_bytes()


def _compression_ratio(data: bytes) -> float:
    return len(data) / len(zstandard.ZstdCompressor(level=1).compress(data))


def _zero_fraction(data: bytes) -> float:
    block = 4096
    zero = bytes(block)
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    return sum(b == zero for b in blocks) / len(blocks)


@pytest.mark.parametrize("name", ["disk", "text", "sparse", "media", "uneven"])
def test_mix_is_deterministic_and_sized(tmp_path: Path, name: str) -> None:
    first = _image(tmp_path, name)
    assert len(first) == SIZE
    assert _image(tmp_path, name) == first
    assert _image(tmp_path, name, seed=8) != first


def test_each_mix_has_its_character(tmp_path: Path) -> None:
    text = _image(tmp_path, "text")
    assert _zero_fraction(text) == 0 and _compression_ratio(text) > 2.0  # prose compresses, has no holes
    assert _zero_fraction(_image(tmp_path, "sparse")) > 0.8
    media = _image(tmp_path, "media")
    assert _zero_fraction(media) == 0 and _compression_ratio(media) < 1.01  # nothing left to compress
    uneven = _image(tmp_path, "uneven")
    assert 0.05 < _zero_fraction(uneven) < 0.8 and _compression_ratio(uneven) > 1.1


def test_changes_touch_the_promised_share(tmp_path: Path) -> None:
    size = 5 * SIZE  # 120 blocks of 512 KiB: 1% of them is one block
    for name, expected_blocks in (("disk", None), ("uneven", 0.01)):
        path = tmp_path / f"{name}.img"
        MIXES.MIXES[name].write(path, size, 3)
        before = path.read_bytes()
        changed_bytes = MIXES.MIXES[name].change(path, size, 3)
        after = path.read_bytes()
        assert 0 < changed_bytes <= 0.02 * size
        block = MIXES.BLOCK
        changed = sum(before[i : i + block] != after[i : i + block] for i in range(0, size, block))
        if expected_blocks is not None:  # whole blocks: exactly 1% of them
            assert changed == max(1, int(size // block * expected_blocks))
        else:
            assert changed > 0
