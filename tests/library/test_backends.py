"""One conformance suite, run against every backend: memory, local disk, and S3 on the lab."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest

from skyvault.errors import ConflictError, LibraryError, NotFoundError
from skyvault.library.backends import LocalBackend, MemoryBackend, S3Backend
from skyvault.library.backends.base import Backend


def lab_s3(lab_env: Any) -> Any:
    """A plain boto3 client on the lab for test setup (the product's clients refuse undeclared calls)."""
    return boto3.client("s3", endpoint_url=lab_env.lab.endpoint, region_name="us-east-1")


PACK = "data/ab/" + "ab" + "0" * 62
INDEX = "index/" + "1" * 64


@pytest.fixture(params=["memory", "local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
    elif request.param == "local":
        yield LocalBackend(tmp_path / "lib")
    else:
        lab_env: Any = request.getfixturevalue("lab_env")
        factory = lab_env.factory()
        bucket = f"lib-{secrets.token_hex(4)}"
        lab_s3(lab_env).create_bucket(Bucket=bucket)
        yield S3Backend(factory.client("admin", "us-east-1", "s3"), bucket, "team/lib")


def test_put_get_roundtrip_and_overwrite(backend: Backend) -> None:
    backend.put(PACK, b"hello")
    assert backend.get(PACK) == b"hello"
    backend.put(PACK, memoryview(bytearray(b"world!")))
    assert backend.get(PACK) == b"world!"
    assert backend.exists(PACK)


def test_get_range(backend: Backend) -> None:
    data = bytes(range(256)) * 10
    backend.put(INDEX, data)
    assert backend.get_range(INDEX, 10, 20) == data[10:30]
    assert backend.get_range(INDEX, len(data) - 5, 5) == data[-5:]
    with pytest.raises(NotFoundError):
        backend.get_range(INDEX, len(data) - 5, 10)


def test_missing_files(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        backend.get(INDEX)
    with pytest.raises(NotFoundError):
        backend.get_range(INDEX, 0, 1)
    assert not backend.exists(INDEX)
    backend.delete(INDEX)  # deleting a missing file is not an error


def test_if_absent_refuses_to_replace(backend: Backend) -> None:
    backend.put("locks/exclusive", b"first", if_absent=True)
    with pytest.raises(ConflictError):
        backend.put("locks/exclusive", b"second", if_absent=True)
    assert backend.get("locks/exclusive") == b"first"


def test_list_by_kind_with_sizes(backend: Backend) -> None:
    packs = {f"data/{h[:2]}/{h}": n for n, h in enumerate(secrets.token_hex(32) for _ in range(5))}
    for name, n in packs.items():
        backend.put(name, b"x" * n)
    backend.put(INDEX, b"idx")
    backend.put("config", b"c")
    assert dict(backend.list("data")) == packs
    assert dict(backend.list("index")) == {INDEX: 3}
    assert list(backend.list("snapshots")) == []
    backend.delete(next(iter(packs)))
    assert len(dict(backend.list("data"))) == 4


@pytest.mark.parametrize("name", ["../etc/passwd", "data/xx/" + "0" * 64, "data/ab/" + "cd" * 32, "index/abc", "foo"])
def test_invalid_names_are_refused(backend: Backend, name: str) -> None:
    with pytest.raises(LibraryError):
        backend.put(name, b"x")
    with pytest.raises(LibraryError):
        backend.get(name)


def test_concurrent_puts(backend: Backend) -> None:
    names = [f"index/{secrets.token_hex(32)}" for _ in range(24)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: backend.put(n, n.encode()), names))
    assert {n for n, _ in backend.list("index")} == set(names)
    assert all(backend.get(n) == n.encode() for n in names)


def test_local_backend_leaves_no_temporaries(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.put(PACK, b"x" * 1000)
    backend.sync()
    assert [p.name for p in (tmp_path / "data" / "ab").iterdir()] == [PACK.rsplit("/", 1)[1]]


@pytest.mark.parametrize("direct", [True, False])
def test_local_backend_writes_large_aligned_packs(tmp_path: Path, direct: bool) -> None:
    """Page-aligned packs go through O_DIRECT (where the file system has it) plus a cached tail; same bytes."""
    import mmap

    buffer = mmap.mmap(-1, 3 * 1024 * 1024)
    payload = os.urandom(2 * 1024 * 1024 + 123)
    buffer[: len(payload)] = payload
    backend = LocalBackend(tmp_path, direct=direct)
    backend.put(PACK, memoryview(buffer)[: len(payload)])
    backend.put(INDEX, memoryview(buffer)[1 : len(payload)])  # unaligned: the cached path
    backend.sync()
    assert backend.get(PACK) == payload
    assert backend.get(INDEX) == payload[1:]


def test_local_backend_falls_back_when_o_direct_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import mmap

    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")  # what tmpfs and some network file systems say
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    buffer = mmap.mmap(-1, 2 * 1024 * 1024)
    buffer[:] = os.urandom(len(buffer))
    backend = LocalBackend(tmp_path)
    backend.put(PACK, memoryview(buffer))
    assert backend.get(PACK) == bytes(buffer)
    assert not backend._direct  # refused once: the backend stopped trying


def test_local_sync_waits_for_a_concurrent_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack's fsync taken over by another thread's sync must still be done when our sync returns."""
    import threading

    release = threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        release.wait(5)
        real_fsync(fd)

    backend = LocalBackend(tmp_path)
    monkeypatch.setattr(os, "fsync", slow_fsync)
    backend.put(PACK, b"x" * 1000)  # pack: renamed at once, fsynced in the background (now held back)
    first = threading.Thread(target=backend.sync)
    first.start()
    while backend._pending:  # the first sync has taken the pending fsync
        pass
    second = threading.Thread(target=backend.sync)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # still waiting: the pack is not durable yet
    release.set()
    first.join()
    second.join()
    backend.close()


def test_prepare_new_refuses_a_location_with_unrelated_files(backend: Backend, request: pytest.FixtureRequest) -> None:
    backend.prepare_new()  # empty: fine
    backend.put(INDEX, b"idx")
    backend.prepare_new()  # a library's own files (an init that crashed before config): fine
    if isinstance(backend, MemoryBackend):
        return  # holds validated names only: nothing foreign can be there
    if isinstance(backend, LocalBackend):
        (backend.root / "notes.txt").write_text("mine")
    else:
        assert isinstance(backend, S3Backend)
        lab_s3(request.getfixturevalue("lab_env")).put_object(
            Bucket=backend.bucket, Key="team/lib/notes.txt", Body=b"x"
        )
    with pytest.raises(ConflictError, match=r"notes\.txt"):
        backend.prepare_new()
