"""The user index of every shipped store, against the real servers (DESIGN "Sessions of a
user"): ``index_users(key)``, then ``sessions_of(user)`` and ``destroy_user(user, keep)`` see
exactly the live sessions whose ``record[key]`` is the user, whatever wrote them last.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from coatcheck import ConfigError
from coatcheck.stores import MemoryStore, SQLiteStore
from coatcheck.testing import make_record

KINDS = ["memory", "sqlite", "redis", "redis-cluster", "postgres", "redis-async", "postgres-async"]


def now() -> datetime:
    return datetime.now(timezone.utc)


class Sync:
    """One interface over sync and async stores, so each test runs against all of them."""

    def __init__(self, store: Any, is_async: bool) -> None:
        self.store = store
        self.is_async = is_async
        self.loop = asyncio.new_event_loop() if is_async else None

    def close_loop(self) -> None:
        if self.loop is not None:
            self.loop.close()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if self.loop is None or not asyncio.iscoroutinefunction(method):
            return method
        loop = self.loop
        return lambda *a, **k: loop.run_until_complete(method(*a, **k))


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sync]:
    kind: str = request.param
    prefix = f"coatcheck-test:{uuid.uuid4().hex[:12]}:"
    table = f"session_{uuid.uuid4().hex[:12]}"
    if kind == "memory":
        yield Sync(MemoryStore(), False)
    elif kind == "sqlite":
        with SQLiteStore(tmp_path / "s.sqlite3") as sqlite:
            yield Sync(sqlite, False)
    elif kind in ("redis", "redis-cluster", "redis-async"):
        from coatcheck.stores import AsyncRedisStore, RedisStore

        if kind == "redis-cluster":
            url = request.getfixturevalue("redis_cluster_nodes")[0]
        else:
            url = request.getfixturevalue("redis_url")
        cluster = kind == "redis-cluster"
        if kind == "redis-async":
            wrapped = Sync(AsyncRedisStore.from_url(url, prefix=prefix), True)
            yield wrapped
            wrapped.aclose()
            wrapped.close_loop()
        else:
            wrapped = Sync(RedisStore.from_url(url, prefix=prefix, cluster=cluster), False)
            yield wrapped
        sync = RedisStore.from_url(url, prefix=prefix, cluster=cluster)
        sync.clear()
        keys = list(sync.client.scan_iter(match=f"coatcheck-users:{prefix}*"))
        if keys:
            sync.client.delete(*keys)
        sync.close()
    else:
        from coatcheck.stores import AsyncPostgresStore, PostgresStore

        conninfo = request.getfixturevalue("postgres_conninfo")
        table = request.getfixturevalue("pg_table")  # dropped afterwards
        if kind == "postgres":
            pg = Sync(PostgresStore(conninfo, table=table, create_table=True), False)
            yield pg
            pg.close()
        else:
            apg = Sync(AsyncPostgresStore(conninfo, table=table, create_table=True), True)
            yield apg
            apg.aclose()
            apg.close_loop()


def test_sessions_of_finds_exactly_the_users_live_sessions(store: Sync) -> None:
    store.index_users("uid")
    store.set("a1", make_record(now(), 60, uid="ada", n=1))
    store.set("a2", make_record(now(), 60, uid="ada", n=2))
    store.set("b1", make_record(now(), 60, uid="bob"))
    store.set("x1", make_record(now(), 60, other="ada"))  # no user under the key
    store.set("e1", make_record(now(), 60, uid=["ada"]))  # not a user id
    found = store.sessions_of("ada")
    assert sorted(found) == ["a1", "a2"]
    assert found["a2"]["n"] == 2
    assert found["a1"]["cookie"]["originalMaxAge"] == 60000
    assert sorted(store.sessions_of("bob")) == ["b1"]
    assert store.sessions_of("nobody") == {}


def test_integer_and_string_ids_are_one_user(store: Sync) -> None:
    store.index_users("uid")
    store.set("n", make_record(now(), 60, uid=42))
    store.set("s", make_record(now(), 60, uid="42"))
    assert sorted(store.sessions_of("42")) == ["n", "s"]


def test_the_index_follows_rewrites_and_destroys(store: Sync) -> None:
    store.index_users("uid")
    store.set("s1", make_record(now(), 60, uid="ada"))
    store.set("s2", make_record(now(), 60, uid="ada"))
    store.set("s1", make_record(now(), 60, uid="bob"))  # logged out, then in as bob
    store.destroy("s2")
    assert store.sessions_of("ada") == {}
    assert sorted(store.sessions_of("bob")) == ["s1"]
    store.set("s1", make_record(now(), 60))  # logged out: no user any more
    assert store.sessions_of("bob") == {}
    store.set("s1", make_record(now(), -1, uid="bob"))  # written already expired: gone
    assert store.sessions_of("bob") == {}


def test_destroy_user_keeps_one_and_counts(store: Sync) -> None:
    store.index_users("uid")
    for sid in ("a1", "a2", "a3"):
        store.set(sid, make_record(now(), 60, uid="ada"))
    store.set("b1", make_record(now(), 60, uid="bob"))
    assert store.destroy_user("ada", keep="a2") == 2
    assert store.get("a1") is None
    assert store.get("a3") is None
    assert store.get("a2") is not None
    assert store.get("b1") is not None
    assert sorted(store.sessions_of("ada")) == ["a2"]
    assert store.destroy_user("ada") == 1
    assert store.get("a2") is None
    assert store.destroy_user("ada") == 0
    assert sorted(store.sessions_of("bob")) == ["b1"]


def test_browser_session_records_are_indexed(store: Sync) -> None:
    store.index_users("uid")
    store.set("b", make_record(now(), None, uid="ada"))
    assert sorted(store.sessions_of("ada")) == ["b"]
    assert store.destroy_user("ada") == 1


def test_touch_keeps_the_index(store: Sync) -> None:
    store.index_users("uid")
    store.set("t", make_record(now(), 60, uid="ada"))
    store.touch("t", make_record(now(), 3600, uid="ada"))
    assert sorted(store.sessions_of("ada")) == ["t"]


def test_a_second_user_key_is_refused_and_the_same_one_is_fine(store: Sync) -> None:
    store.index_users("uid")
    store.index_users("uid")
    with pytest.raises(ConfigError, match="already indexes users by 'uid'"):
        store.index_users("user")
    assert store.user_key == "uid"


def test_without_index_users_the_lookups_say_so(store: Sync) -> None:
    with pytest.raises(NotImplementedError, match=type(store.store).__name__):
        store.sessions_of("ada")
    with pytest.raises(NotImplementedError, match="user_key"):
        store.destroy_user("ada")


@pytest.mark.parametrize("key", ["", "cookie", "a b", "x'--", 'q"', 5, None, "é"])
def test_user_key_is_validated(key: Any) -> None:
    with pytest.raises(ConfigError, match="user_key"):
        MemoryStore().index_users(key)


def test_sessions_written_before_index_users_are_found_in_memory_and_sql(tmp_path: Path) -> None:
    sqlite = SQLiteStore(tmp_path / "before.sqlite3")
    for store in (MemoryStore(), sqlite):
        store.set("early", make_record(now(), 60, uid="ada"))
        store.index_users("uid")
        assert sorted(store.sessions_of("ada")) == ["early"]
    sqlite.close()


def test_sqlite_uses_an_expression_index(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "plan.sqlite3", table="t") as store:
        store.index_users("_auth_user_id")
        with store._connection("test") as conn:
            names = [row[1] for row in conn.execute("PRAGMA index_list('t')")]
            columns = [row[1] for row in conn.execute("PRAGMA table_info('t')")]
            garbage = "INSERT INTO t (sid, sess, expire) VALUES ('junk', 'not json', NULL)"
            conn.execute(garbage)  # a foreign writer's junk must not break anything
        assert "t_user__auth_user_id_idx" in names
        assert columns == ["sid", "sess", "expire"]
        store.set("s", make_record(now(), 60, _auth_user_id="7"))
        assert sorted(store.sessions_of("7")) == ["s"]


def test_postgres_adds_an_expression_index_and_leaves_the_table_alone(
    postgres_conninfo: str, pg_table: str
) -> None:
    import psycopg

    from coatcheck.stores import PostgresStore

    store = PostgresStore(postgres_conninfo, table=pg_table, create_table=True)
    try:
        store.index_users("_auth_user_id")
        store.set("s", make_record(now(), 60, _auth_user_id="7"))
        with psycopg.connect(postgres_conninfo) as conn:
            indexes = dict(
                conn.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (pg_table,)
                ).fetchall()
            )
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s ORDER BY ordinal_position",
                (pg_table,),
            ).fetchall()
        assert columns == [
            ("sid", "character varying"),
            ("sess", "json"),
            ("expire", "timestamp without time zone"),
        ]
        user_index = indexes[f"IDX_{pg_table}_user__auth_user_id"]
        assert "(sess ->> '_auth_user_id'::text)" in user_index
        assert sorted(store.sessions_of("7")) == ["s"]
    finally:
        store.close()


def test_redis_user_set_lives_as_long_as_its_longest_session(redis_url: str) -> None:
    import redis

    from coatcheck.stores import RedisStore

    prefix = f"coatcheck-test:{uuid.uuid4().hex[:12]}:"
    with redis.Redis.from_url(redis_url) as client:
        store = RedisStore(client, prefix=prefix)
        store.index_users("uid")
        user_set = f"coatcheck-users:{prefix}ada"
        try:
            store.set("long", make_record(now(), 600, uid="ada"))
            store.set("short", make_record(now(), 60, uid="ada"))
            assert 590_000 < client.pttl(user_set) <= 600_000
            store.touch("short", make_record(now(), 3600, uid="ada"))
            assert 3_590_000 < client.pttl(user_set) <= 3_600_000
            assert sorted(store.all()) == ["long", "short"]  # the set is not a session
            assert store.length() == 2
            # Stale members (destroyed, or now someone else's) are dropped when read.
            store.destroy("long")
            store.set("short", make_record(now(), 60, uid="bob"))
            assert store.sessions_of("ada") == {}
            assert client.smembers(user_set) == set()
        finally:
            store.clear()
            client.delete(user_set, f"coatcheck-users:{prefix}bob")


@pytest.mark.parametrize("use_async", [False, True])
def test_redis_index_survives_a_script_flush(redis_url: str, use_async: bool) -> None:
    """The index script goes by EVALSHA in the write's MULTI; a server that forgot it (a
    restart, SCRIPT FLUSH) gets it loaded again and the write is not lost."""
    import redis

    from coatcheck.stores import AsyncRedisStore, RedisStore

    prefix = f"coatcheck-test:{uuid.uuid4().hex[:12]}:"
    with redis.Redis.from_url(redis_url) as client:
        try:
            client.script_flush()
            if use_async:
                astore = AsyncRedisStore.from_url(redis_url, prefix=prefix)
                astore.index_users("uid")

                async def write_and_read() -> dict[str, Any]:
                    await astore.set("s", make_record(now(), 60, uid="ada"))
                    found: dict[str, Any] = await astore.sessions_of("ada")
                    await astore.aclose()
                    return found

                found = asyncio.run(write_and_read())
            else:
                store = RedisStore(client, prefix=prefix)
                store.index_users("uid")
                store.set("s", make_record(now(), 60, uid="ada"))
                found = store.sessions_of("ada")
            assert sorted(found) == ["s"]
            assert client.get(f"{prefix}s") is not None
        finally:
            RedisStore(client, prefix=prefix).clear()
            client.delete(f"coatcheck-users:{prefix}ada")
