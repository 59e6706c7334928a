"""Library backends: local disk, S3, memory (tests). ``open_backend`` builds one from a ``LibraryConfig``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyvault.config import LibraryConfig
from skyvault.errors import LibraryError
from skyvault.library.backends.base import Backend
from skyvault.library.backends.local import LocalBackend
from skyvault.library.backends.memory import MemoryBackend

if TYPE_CHECKING:
    from skyvault.aws.clients import ClientFactory
    from skyvault.library.backends.s3 import S3Backend


def __getattr__(name: str) -> Any:
    # The S3 backend needs boto3 (~0.15 s to import): a local library's commands never load it.
    if name == "S3Backend":
        from skyvault.library.backends.s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_backend(config: LibraryConfig, factory: ClientFactory | None = None) -> Backend:
    if config.kind == "local":
        assert config.path
        return LocalBackend(Path(config.path))
    if factory is None:
        raise LibraryError("an S3 library needs AWS clients (a ClientFactory)")
    assert config.url and config.account
    from skyvault.library.backends.s3 import S3Backend

    return S3Backend.open(
        factory,
        url=config.url,
        account=config.account,
        region=config.region,
        role_arn=config.role_arn,
        storage_class=config.storage_class,
        object_lock_days=config.object_lock_days,
    )


__all__ = ["Backend", "LocalBackend", "MemoryBackend", "S3Backend", "open_backend"]
