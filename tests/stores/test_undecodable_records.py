"""A stored value no store can decode is destroyed by the read that finds it (issue 10.7).

Not JSON, JSON that is not a session record, truncated bytes, data nested too deep, and for
Redis a key of another type (``WRONGTYPE``): ``get``, ``get_versioned`` and ``get_locked`` read
it as missing with one WARNING naming the id by its prefix, as before, and now also delete it,
as the core destroys a decodable record whose cookie is unusable. Otherwise every request
carrying that cookie would find it again (and log again) until its TTL ran out, or forever
for a Redis key of another type with no TTL. A value rewritten between the read and the
delete is kept (the delete compares it with what was read). Every shipped store, sync and
async, on real servers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from coatcheck.stores import MemoryStore, SQLiteStore, encode_record
from coatcheck.testing import make_record

SID = "undecodable-0123456789abcdefghij"
PREFIX = SID[:6]

NOT_JSON = [b"not json", b'{"cookie":']  # the second: truncated
#: JSON that is not a session record (a PostgreSQL ``json`` column accepts only these).
NOT_A_RECORD = [
    b'{"user":"bob"}',
    b"[1,2]",
    b'"a string"',
    b'{"cookie":"not an object"}',
    b'{"cookie":{},"deep":' + b"[" * 600 + b"]" * 600 + b"}",  # deeper than MAX_DEPTH
]
READS = ["get", "get_versioned", "get_locked"]

Factory = Callable[[], Any]


async def call(store: Any, method: str, *args: Any) -> Any:
    result = getattr(store, method)(*args)
    return await result if inspect.isawaitable(result) else result


async def close(store: Any) -> None:
    for name in ("aclose", "close"):
        if callable(getattr(store, name, None)):
            await call(store, name)
            return


async def read(store: Any, method: str) -> Any:
    """The record the read found (``get_locked``: it must have taken the lock)."""
    if method == "get_locked":
        token, found = await call(store, "get_locked", SID, 30.0)
        assert token is not None
        await call(store, "unlock", SID, token)
        return found
    return await call(store, method, SID)


def check_destroyed(
    factory: Factory,
    plant: Callable[[Any], Any],
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        store = factory()
        try:
            await plant(store)
            with caplog.at_level(logging.WARNING, logger="coatcheck"):
                assert await read(store, method) is None
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1, caplog.text
            assert PREFIX in caplog.text
            assert SID not in caplog.text
            assert await call(store, "raw_get", SID) is None  # destroyed, not just ignored
            caplog.clear()
            assert await read(store, method) is None  # nothing left to warn about
            assert not caplog.records
        finally:
            await close(store)

    asyncio.run(scenario())


def check_rewritten_value_kept(factory: Factory, bad: bytes) -> None:
    """The delete compares: a value written after the read survives it."""

    async def scenario() -> None:
        store = factory()
        try:
            good = encode_record(make_record(datetime.now(timezone.utc), 3600, n=1)).encode()
            await call(store, "raw_set", SID, good)
            await call(store, "_discard", SID, *_discard_args(store, bad))
            assert await call(store, "raw_get", SID) == good
            assert await call(store, "get", SID) is not None
        finally:
            await close(store)

    asyncio.run(scenario())


def _discard_args(store: Any, bad: bytes) -> tuple[Any, ...]:
    """What each store's ``_discard`` is given: what its read saw."""
    if isinstance(store, MemoryStore):
        return (-1,)  # a version no write produced
    if isinstance(store, SQLiteStore) or type(store).__name__.endswith("PostgresStore"):
        return (bad.decode(),)
    return (bad,)  # Redis: the bytes


def raw(value: bytes) -> Callable[[Any], Any]:
    async def plant(store: Any) -> None:
        await call(store, "raw_set", SID, value)

    return plant


# -- MemoryStore and SQLite ---------------------------------------------------------------------


@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("value", NOT_JSON + NOT_A_RECORD)
def test_memory_store_destroys_it(
    value: bytes, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    check_destroyed(MemoryStore, raw(value), method, caplog)


@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("value", NOT_JSON + NOT_A_RECORD)
def test_sqlite_destroys_it(
    value: bytes, method: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    check_destroyed(lambda: SQLiteStore(tmp_path / "s.sqlite3"), raw(value), method, caplog)


def test_memory_and_sqlite_keep_a_value_rewritten_since_the_read(tmp_path: Path) -> None:
    check_rewritten_value_kept(MemoryStore, b"not json")
    check_rewritten_value_kept(lambda: SQLiteStore(tmp_path / "s.sqlite3"), b"not json")


# -- Redis ----------------------------------------------------------------------------------------


@pytest.fixture
def redis_stores(redis_url: str, redis_prefix: str) -> Iterator[dict[str, Factory]]:
    import redis

    from coatcheck.stores import AsyncRedisStore, RedisStore

    stores = {
        "sync": lambda: RedisStore.from_url(redis_url, prefix=redis_prefix),
        "async": lambda: AsyncRedisStore.from_url(redis_url, prefix=redis_prefix),
    }
    yield stores
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=redis_prefix + "*"))
        keys += list(client.scan_iter(match="{" + redis_prefix + "*"))  # lock keys
        if keys:
            client.delete(*keys)


def wrong_type(redis_url: str, key: str, kind: str) -> Callable[[Any], Any]:
    async def plant(store: Any) -> None:
        import redis

        with redis.Redis.from_url(redis_url) as client:
            {
                "list": lambda: client.rpush(key, "x"),
                "hash": lambda: client.hset(key, "a", "b"),
                "set": lambda: client.sadd(key, "x"),
                "zset": lambda: client.zadd(key, {"x": 1.0}),
            }[kind]()

    return plant


@pytest.mark.redis
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("value", [*NOT_JSON, *NOT_A_RECORD, b""])
def test_redis_destroys_it(
    redis_stores: dict[str, Factory],
    flavour: str,
    value: bytes,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    check_destroyed(redis_stores[flavour], raw(value), method, caplog)


@pytest.mark.redis
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("kind", ["list", "hash", "set", "zset"])
def test_redis_destroys_a_key_of_another_type(
    redis_stores: dict[str, Factory],
    redis_url: str,
    redis_prefix: str,
    flavour: str,
    kind: str,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``WRONGTYPE``: the key is deleted, so the next write of this id is not refused."""
    plant = wrong_type(redis_url, redis_prefix + SID, kind)
    check_destroyed(redis_stores[flavour], plant, method, caplog)


@pytest.mark.redis
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_redis_keeps_a_value_rewritten_since_the_read(
    redis_stores: dict[str, Factory], flavour: str
) -> None:
    check_rewritten_value_kept(redis_stores[flavour], b"not json")
    check_rewritten_value_kept(redis_stores[flavour], b"")  # a read of another type's key


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def postgres_stores(postgres_conninfo: str, pg_table: str) -> dict[str, Factory]:
    from coatcheck.stores import AsyncPostgresStore, PostgresStore

    options: dict[str, Any] = {"table": pg_table, "create_table": True}
    return {
        "sync": lambda: PostgresStore(postgres_conninfo, **options),
        "async": lambda: AsyncPostgresStore(postgres_conninfo, **options),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("value", NOT_A_RECORD)
def test_postgres_destroys_it(
    postgres_stores: dict[str, Factory],
    flavour: str,
    value: bytes,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    check_destroyed(postgres_stores[flavour], raw(value), method, caplog)


@pytest.mark.postgres
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_postgres_keeps_a_value_rewritten_since_the_read(
    postgres_stores: dict[str, Factory], flavour: str
) -> None:
    check_rewritten_value_kept(postgres_stores[flavour], b"[1,2]")


# -- through the core -----------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", ["none", "merge", "lock"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_request_carrying_its_id_gets_a_fresh_session_and_the_value_is_gone(
    kind: str, concurrency: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from coatcheck import RequestReceived, SyncDriver
    from tests.core.cycle import cookie_header, make_config

    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.sqlite3")
    store.raw_set(SID, b'{"cookie":')
    config = make_config(store=store, concurrency=concurrency, save_uninitialized=False)
    driver: SyncDriver[Any] = SyncDriver(config)

    def request() -> Any:
        facts = RequestReceived(
            now=datetime.now(timezone.utc),
            cookie_header=cookie_header(SID),
            path="/",
            direct_tls=False,
            forwarded_proto=None,
            framework_secure=False,
            request=None,
        )
        cycle = driver.begin(facts)
        assert cycle is not None
        driver.end(cycle)
        return cycle.session

    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        assert request().id != SID  # a fresh session
    assert store.raw_get(SID) is None
    assert PREFIX in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        request()  # the browser still sends the cookie: nothing left to warn about
    assert not caplog.records
