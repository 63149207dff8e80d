"""Real servers for the store tests: Redis, a 3-node Redis Cluster, PostgreSQL.

Each session-scoped fixture uses its environment variable when set (``COATCHECK_REDIS_URL``,
``COATCHECK_REDIS_CLUSTER_URL`` — one node URL, or several comma-separated —,
``COATCHECK_POSTGRES_URL``), and otherwise starts a private server from ``tests/servers.py``
for the whole test session. A missing server binary skips the tests, except in CI (``CI`` set),
where it fails them: CI must never pass by skipping its database tests.

Isolation: each test gets its own Redis key prefix and its own PostgreSQL table, removed
afterwards, so a shared server (from the environment) is never wiped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.servers import (
    PostgresServer,
    RedisClusterServer,
    RedisServer,
    ServerUnavailable,
    unavailable,
)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL: ``$COATCHECK_REDIS_URL`` or a private redis-server for the session."""
    if url := os.environ.get("COATCHECK_REDIS_URL"):
        yield url
        return
    try:
        server = RedisServer()
    except ServerUnavailable as exc:
        unavailable(f"redis-server unavailable: {exc}")
    with server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> Iterator[list[str]]:
    """URLs of a Redis Cluster's nodes (3 primaries, no replicas, ``cluster_state:ok``)."""
    if urls := os.environ.get("COATCHECK_REDIS_CLUSTER_URL"):
        yield [url.strip() for url in urls.split(",") if url.strip()]
        return
    try:
        cluster = RedisClusterServer(3)
    except ServerUnavailable as exc:
        unavailable(f"redis-server/redis-cli unavailable for a cluster: {exc}")
    with cluster:
        yield cluster.urls


@pytest.fixture(scope="session")
def postgres_conninfo() -> Iterator[str]:
    """A PostgreSQL conninfo: ``$COATCHECK_POSTGRES_URL`` or a private server."""
    if url := os.environ.get("COATCHECK_POSTGRES_URL"):
        yield url
        return
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        unavailable(f"PostgreSQL unavailable: {exc}")
    with server:
        yield server.url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, to kill and restart (never one from the env)."""
    try:
        server = RedisServer()
    except ServerUnavailable as exc:
        unavailable(f"redis-server unavailable: {exc}")
    with server:
        yield server


@pytest.fixture(scope="module")
def _private_postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        unavailable(f"PostgreSQL unavailable: {exc}")
    with server:
        yield server


@pytest.fixture
def private_postgres(_private_postgres_server: PostgresServer) -> PostgresServer:
    """A PostgreSQL server of this module's own, to stop and restart (initdb takes a second or
    two, so the tests of one module share it; it is running when each test starts)."""
    _private_postgres_server.start()
    return _private_postgres_server


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses (the tests delete their keys under it afterwards)."""
    return f"coatcheck-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def pg_table(postgres_conninfo: str) -> Iterator[str]:
    """A table name no other test uses; the table (and the store's lock table beside it) is
    dropped afterwards if it was created."""
    import psycopg
    from psycopg import sql

    table = f"session_{uuid.uuid4().hex[:12]}"
    yield table
    with psycopg.connect(postgres_conninfo, autocommit=True) as conn:
        for name in (table, f"{table}_lock"):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
