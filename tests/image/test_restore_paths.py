"""Restore writes whole blocks with O_DIRECT where it can and through the page cache otherwise: same bytes."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from library.helpers import make_repo
from skyvault.library.backends import LocalBackend
from skyvault.services.image import backup_image, restore_image


def image_bytes() -> bytes:
    rng = random.Random(5)
    return rng.randbytes(40_000) + bytes(20_000) + b"text " * 9_000 + rng.randbytes(777)


@pytest.mark.parametrize("refuse_direct", [False, True])
def test_restore_is_identical_with_and_without_o_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refuse_direct: bool
) -> None:
    data = image_bytes()
    image = tmp_path / "disk.img"
    image.write_bytes(data)
    repo = make_repo(LocalBackend(tmp_path / "lib"))
    manifest = backup_image(repo, image).manifest
    if refuse_direct:
        real_open = os.open

        def refusing_open(path: Any, flags: int, *args: Any) -> int:
            if flags & os.O_DIRECT:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real_open(path, flags, *args)

        monkeypatch.setattr(os, "open", refusing_open)
    out = tmp_path / "restored.img"
    out.write_bytes(b"old content that must disappear" * 10_000)
    result = restore_image(repo, manifest, out)
    assert out.read_bytes() == data
    blocks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert result["stats"]["bytes_written"] == sum(len(b) for b in blocks if any(b))  # zero blocks stay holes
    assert not out.with_name(out.name + ".partial").exists()


def test_restore_onto_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    from skyvault.errors import LibraryError

    image = tmp_path / "disk.img"
    image.write_bytes(image_bytes())
    repo = make_repo(LocalBackend(tmp_path / "lib"))
    manifest = backup_image(repo, image).manifest
    target = tmp_path / "a-directory"
    target.mkdir()
    with pytest.raises(LibraryError, match="cannot replace"):
        restore_image(repo, manifest, target)
    assert list(tmp_path.glob("*.partial")) == []
