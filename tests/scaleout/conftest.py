"""Fixtures of the scale-out tests: a real Redis, PostgreSQL and RabbitMQ per test session (``servers.py``).

- ``redis`` / ``postgres`` / ``rabbitmq`` (session): the running servers; a test that needs them is skipped only
  when the binaries are not installed at all (``make test`` installs them), with the reason.
- ``redis_url`` (function): Redis database 0, emptied for this test.
- ``pg_url`` (function): a new, empty PostgreSQL database for this test (not migrated).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scaleout.servers import (
    PostgresServer,
    RabbitServer,
    RedisServer,
    find_binaries,
    postgres_server,
    rabbitmq_server,
    redis_server,
)


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    binaries = find_binaries()
    if binaries.redis_server is None:
        pytest.skip(binaries.missing() or "redis-server not installed")
    with redis_server(binaries.redis_server) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    binaries = find_binaries()
    if binaries.postgres_bin is None:
        pytest.skip(binaries.missing() or "postgres not installed")
    with postgres_server(binaries.postgres_bin) as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitServer]:
    binaries = find_binaries()
    if binaries.rabbitmq_server is None:
        pytest.skip(binaries.missing() or "rabbitmq-server not installed")
    with rabbitmq_server(binaries.rabbitmq_server) as server:
        yield server


@pytest.fixture
def redis_url(redis: RedisServer) -> str:
    import redis as redis_py

    client = redis_py.Redis.from_url(redis.url(0))
    try:
        client.flushdb()  # db 0 only: the worker cluster of test_workers uses db 1
    finally:
        client.close()
    return redis.url(0)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.create_database()
