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
    result = restore_image(repo, manifest, out, overwrite=True)
    assert out.read_bytes() == data
    blocks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert result["stats"]["bytes_written"] == sum(len(b) for b in blocks if any(b))  # zero blocks stay holes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.img", "lib", "restored.img"]  # no temporary left


def test_restore_onto_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    from skyvault.errors import ConflictError

    image = tmp_path / "disk.img"
    image.write_bytes(image_bytes())
    repo = make_repo(LocalBackend(tmp_path / "lib"))
    manifest = backup_image(repo, image).manifest
    target = tmp_path / "a-directory"
    target.mkdir()
    with pytest.raises(ConflictError, match="it is a directory"):
        restore_image(repo, manifest, target, overwrite=True)
    assert list(tmp_path.glob(".*partial")) == [] and target.is_dir()


def _backed_up(tmp_path: Path) -> tuple[Any, Any, bytes]:
    data = image_bytes()
    image = tmp_path / "disk.img"
    image.write_bytes(data)
    repo = make_repo(LocalBackend(tmp_path / "lib"))
    return repo, backup_image(repo, image).manifest, data


def test_a_link_or_file_named_like_the_temporary_is_never_followed_nor_truncated(tmp_path: Path) -> None:
    repo, manifest, data = _backed_up(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "restored.img"
    (tmp_path / "restored.img.partial").symlink_to(victim)
    (tmp_path / ".restored.img.partial").write_bytes(b"someone else's file")
    restore_image(repo, manifest, out)
    assert out.read_bytes() == data and not out.is_symlink()
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / ".restored.img.partial").read_bytes() == b"someone else's file"
    assert (tmp_path / "restored.img.partial").is_symlink()


def test_an_existing_target_needs_overwrite_and_is_left_alone_without(tmp_path: Path) -> None:
    from skyvault.errors import ConfirmationRequiredError

    repo, manifest, data = _backed_up(tmp_path)
    out = tmp_path / "restored.img"
    out.write_bytes(b"keep me")
    with pytest.raises(ConfirmationRequiredError, match="exists"):
        restore_image(repo, manifest, out)
    assert out.read_bytes() == b"keep me"
    restore_image(repo, manifest, out, overwrite=True)
    assert out.read_bytes() == data


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_character_device_is_refused_never_replaced(tmp_path: Path, overwrite: bool) -> None:
    from skyvault.errors import ConflictError

    repo, manifest, _data = _backed_up(tmp_path)
    device = Path("/dev/full")
    before = device.stat()
    with pytest.raises(ConflictError, match="character device"):
        restore_image(repo, manifest, device, overwrite=overwrite)
    after = device.stat()
    assert (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)


def test_a_block_device_is_written_in_place_zero_blocks_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real block device needs privileges; a regular file treated as one runs the same in-place path."""
    from skyvault.services.image import restore as image_restore

    repo, manifest, data = _backed_up(tmp_path)
    disk = tmp_path / "disk-device"
    disk.write_bytes(b"\xff" * (len(data) + 4096))  # larger than the image, and no zeros anywhere
    inode = disk.stat().st_ino
    monkeypatch.setattr(image_restore, "target_kind", lambda _mode: image_restore.TargetKind.DEVICE)
    result = restore_image(repo, manifest, disk, overwrite=True)
    assert disk.stat().st_ino == inode  # written in place, not replaced
    content = disk.read_bytes()
    assert content[: len(data)] == data and content[len(data) :] == b"\xff" * 4096
    assert result["stats"]["bytes_written"] == len(data)
    small = tmp_path / "small-device"
    small.write_bytes(b"\xff" * 100)
    from skyvault.errors import ConflictError

    with pytest.raises(ConflictError, match="holds 100 bytes"):
        restore_image(repo, manifest, small, overwrite=True)
    assert small.read_bytes() == b"\xff" * 100
