"""Fixtures of the engine tests (the kit itself is in ``kit.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from engine.kit import DriversForTests, no_library
from skyvault.aws.clients import ClientFactory
from skyvault.catalog import Catalog
from skyvault.jobs import ProgressEvent
from skyvault.services.contract import JobEnvironment


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog.open(tmp_path / "state")


@pytest.fixture
def events() -> list[ProgressEvent]:
    return []


@pytest.fixture
def env(catalog: Catalog, events: list[ProgressEvent]) -> JobEnvironment:
    return JobEnvironment(
        catalog=catalog, factory=cast(ClientFactory, None), open_library=no_library, progress=events.append
    )


@pytest.fixture
def drivers() -> DriversForTests:
    return DriversForTests()
