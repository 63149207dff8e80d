"""PostgresStore / AsyncPostgresStore against a real PostgreSQL.

The contract suite runs for both; the tests below pin connect-pg-simple's table and row shape,
``prune``, quoting of table/schema names, UTC regardless of the connection's TimeZone, and
recovery of the same store object after the server restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from coatcheck import InvalidRecordError, StoreError
from coatcheck.stores import AsyncPostgresStore, PostgresStore, encode_record
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract, make_record
from tests.servers import PostgresServer, free_port

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).parent / "fixtures"


# -- the contract -----------------------------------------------------------------------------


class TestPostgresStoreContract(StoreContract):
    reports_expiry = True  # get_versioned reports the expire column
    touch_updates_stored_cookie = False  # connect-pg-simple's touch: the expire column only
    expiry_resolution = 1.0  # connect-pg-simple's expire: whole seconds, rounded up

    @pytest.fixture
    def store(
        self, clock: FakeClock, postgres_conninfo: str, pg_table: str
    ) -> Iterator[PostgresStore]:
        store = PostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)
        yield store
        store.close()


class TestAsyncPostgresStoreContract(AsyncStoreContract):
    reports_expiry = True  # get_versioned reports the expire column
    touch_updates_stored_cookie = False  # connect-pg-simple's touch: the expire column only
    expiry_resolution = 1.0  # connect-pg-simple's expire: whole seconds, rounded up

    @pytest.fixture
    def store(self, clock: FakeClock, postgres_conninfo: str, pg_table: str) -> AsyncPostgresStore:
        # The pool is created and opened on first use, inside the test's own loop.
        return AsyncPostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def db(postgres_conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain connection for looking at what the store wrote."""
    with psycopg.connect(postgres_conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_schema(db: psycopg.Connection[Any]) -> Iterator[str]:
    """A fresh schema, so a test can use the default table name ``session``."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema
    db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(postgres_conninfo: str, pg_table: str, clock: FakeClock) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)
    yield store
    store.close()


def _row(db: psycopg.Connection[Any], table: str, sid: str) -> tuple[Any, ...] | None:
    query = sql.SQL('SELECT "sess"::text, "expire" FROM {} WHERE "sid" = %s')
    return db.execute(query.format(sql.Identifier(table)), (sid,)).fetchone()


def _naive(when: datetime) -> datetime:
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def _catalog(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Columns, constraints and indexes of ``schema.session``, schema name left out."""
    columns = db.execute(
        "SELECT column_name, data_type, character_maximum_length, datetime_precision,"
        " is_nullable, collation_name, ordinal_position FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = 'session' ORDER BY ordinal_position",
        (schema,),
    ).fetchall()
    constraints = db.execute(
        "SELECT conname, contype, condeferrable, condeferred, pg_get_constraintdef(c.oid)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " JOIN pg_class t ON t.oid = c.conrelid"
        " WHERE n.nspname = %s AND t.relname = 'session' ORDER BY conname",
        (schema,),
    ).fetchall()
    indexes = db.execute(
        "SELECT indexname, replace(indexdef, %s, '') FROM pg_indexes"
        " WHERE schemaname = %s AND tablename = 'session' ORDER BY indexname",
        (schema + ".", schema),
    ).fetchall()
    return [*columns, *constraints, *indexes]


# -- table ------------------------------------------------------------------------------------


def test_create_table_makes_exactly_connect_pg_simples_table(
    postgres_conninfo: str, db: psycopg.Connection[Any], pg_schema: str, clock: FakeClock
) -> None:
    reference = pg_schema + "_reference"
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(reference)))
    try:
        with db.transaction():
            db.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(reference)))
            db.execute((FIXTURES / "connect_pg_simple_table.sql").read_text())  # type: ignore[arg-type]
        store = PostgresStore(postgres_conninfo, schema=pg_schema, create_table=True, clock=clock)
        store.set("abc", make_record(clock(), 60))
        store.close()
        expected = _catalog(db, reference)
        assert expected
        assert _catalog(db, pg_schema) == expected
        assert ("session_pkey", "p", False, False, "PRIMARY KEY (sid)") in expected
        # The lock table is a separate, unlogged table beside it.
        tables = db.execute(
            "SELECT relname, relpersistence FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND relkind = 'r' ORDER BY relname",
            (pg_schema,),
        ).fetchall()
        assert tables == [("session", "p"), ("session_lock", "u")]
    finally:
        db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(reference)))


def test_create_table_is_idempotent(
    postgres_conninfo: str, pg_table: str, clock: FakeClock
) -> None:
    first = PostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)
    record = make_record(clock(), 60, user="bob")
    first.set("abc", record)
    first.ensure_table()
    second = PostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)
    second.ensure_table()
    assert second.get("abc") == record
    first.close()
    second.close()


def test_without_create_table_a_missing_table_is_a_store_error(
    postgres_conninfo: str, pg_table: str, clock: FakeClock
) -> None:
    store = PostgresStore(postgres_conninfo, table=pg_table, clock=clock)
    with pytest.raises(StoreError, match="store get failed") as info:
        store.get("abc")
    assert isinstance(info.value.cause, psycopg.errors.UndefinedTable)
    store.close()


def test_table_and_schema_are_configurable(
    postgres_conninfo: str, db: psycopg.Connection[Any], pg_schema: str, clock: FakeClock
) -> None:
    store = PostgresStore(
        postgres_conninfo, table="web_sessions", schema=pg_schema, create_table=True, clock=clock
    )
    store.set("abc", make_record(clock(), 60))
    store.close()
    query = sql.SQL('SELECT "sid" FROM {}').format(sql.Identifier(pg_schema, "web_sessions"))
    assert db.execute(query).fetchall() == [("abc",)]


def test_hostile_table_and_schema_names_are_only_names(
    postgres_conninfo: str, db: psycopg.Connection[Any], pg_schema: str, clock: FakeClock
) -> None:
    victim = sql.Identifier(pg_schema, "victim")
    db.execute(sql.SQL("CREATE TABLE {} (x int)").format(victim))
    table = f'session"; drop table {pg_schema}.victim; --'
    schema = f'{pg_schema}"; drop table {pg_schema}.victim; --'
    db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        for kwargs in ({"schema": pg_schema}, {"schema": schema}):
            store = PostgresStore(
                postgres_conninfo, table=table, create_table=True, clock=clock, **kwargs
            )
            record = make_record(clock(), 60, user="bob")
            store.set("abc", record)
            assert store.get("abc") == record
            assert store.length() == 1
            store.clear()
            assert store.prune() == 0
            store.close()
            names = db.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND relkind = 'r'",
                (kwargs["schema"],),
            ).fetchall()
            assert (table,) in names
        assert db.execute(sql.SQL("SELECT count(*) FROM {}").format(victim)).fetchone() == (0,)
    finally:
        db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# -- rows -------------------------------------------------------------------------------------


def test_row_is_sid_express_json_and_expire_rounded_up_to_the_second(
    postgres_conninfo: str, db: psycopg.Connection[Any], pg_table: str
) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 22, 56, 24, 381_000, tzinfo=timezone.utc))
    store = PostgresStore(postgres_conninfo, table=pg_table, create_table=True, clock=clock)
    record = make_record(clock(), 60, user="bob")
    store.set("abc", record)
    assert _row(db, pg_table, "abc") == (encode_record(record), datetime(2026, 11, 27, 22, 57, 25))
    store.set("browser", make_record(clock(), None))
    assert _row(db, pg_table, "browser") == (
        encode_record(make_record(clock(), None)),
        datetime(2026, 11, 28, 22, 56, 25),  # now + one day, rounded up
    )
    store.close()


def test_touch_changes_only_expire(
    store: PostgresStore, db: psycopg.Connection[Any], pg_table: str, clock: FakeClock
) -> None:
    store.set("abc", make_record(clock(), 60, user="bob"))
    sess, expire = _row(db, pg_table, "abc") or (None, None)
    later = make_record(clock() + timedelta(hours=1), 60, user="mallory")
    store.touch("abc", later)
    new_sess, new_expire = _row(db, pg_table, "abc") or (None, None)
    assert new_sess == sess
    assert new_expire == expire + timedelta(hours=1)


def test_expired_rows_are_not_returned_and_prune_deletes_them(
    store: PostgresStore, db: psycopg.Connection[Any], pg_table: str, clock: FakeClock
) -> None:
    store.set("short", make_record(clock(), 60))
    store.set("long", make_record(clock(), 600))
    store.set("browser", make_record(clock(), None))
    clock.advance(120)
    assert store.get("short") is None
    assert store.length() == 2
    assert _row(db, pg_table, "short") is not None  # still there until pruned
    assert store.prune() == 1
    assert _row(db, pg_table, "short") is None
    assert store.prune() == 0
    clock.advance(86_400)
    assert store.prune() == 2
    assert db.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_table))
    ).fetchone() == (0,)


@pytest.mark.parametrize("raw", ['"a string"', "[1, 2]", "{}", '{"cookie": 1}'])
def test_a_stored_value_that_is_no_record_reads_as_none_and_warns(
    store: PostgresStore,
    db: psycopg.Connection[Any],
    pg_table: str,
    raw: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid = "0123456789abcdefghijklmnopqrstuv"
    store.set("ok", make_record(clock(), 60))  # creates the table
    db.execute(
        sql.SQL("INSERT INTO {} VALUES (%s, %s::json, %s)").format(sql.Identifier(pg_table)),
        (sid, raw, _naive(clock() + timedelta(minutes=1))),
    )
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        assert store.get(sid) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "012345" in caplog.text
    assert sid not in caplog.text
    assert list(store.all()) == ["ok"]


PG_NODE = json.loads((FIXTURES / "connect_pg_simple.json").read_text(encoding="utf-8"))


def _node_statement(name: str, table: str) -> str:
    """One of connect-pg-simple's statements, verbatim, on ``table``, in psycopg's style."""
    statement: str = PG_NODE[name].replace('"session"', f'"{table}"')
    return re.sub(r"\$(\d+)", r"%(p\1)s", statement)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin"])
def test_coatcheck_and_connect_pg_simple_agree_in_any_time_zone(
    postgres_conninfo: str, db: psycopg.Connection[Any], pg_table: str, zone: str
) -> None:
    """Both write ``to_timestamp(epoch)`` and compare with ``to_timestamp(now)`` on connections
    in the same TimeZone (UTC, UTC-5, UTC+1), so each sees the other's sessions live exactly as
    long as its own: none vanishes early (New York) or outlives its cookie (Berlin)."""
    clock = FakeClock(datetime(2026, 11, 27, 22, 56, 24, 381000, tzinfo=timezone.utc))
    options = f"-c TimeZone={zone}"
    kwargs = {"options": options, "autocommit": True}
    with (
        ConnectionPool(postgres_conninfo, open=True, min_size=1, kwargs=kwargs) as pool,
        psycopg.connect(postgres_conninfo, **kwargs) as node,  # type: ignore[arg-type]
    ):
        assert node.execute("SHOW TimeZone").fetchone() == (zone,)
        store = PostgresStore(pool, table=pg_table, create_table=True, clock=clock)

        def node_run(name: str, *params: Any) -> list[tuple[Any, ...]]:
            named = {f"p{n}": value for n, value in enumerate(params, start=1)}
            cur = node.execute(_node_statement(name, pg_table), named)  # type: ignore[call-overload]
            return cur.fetchall() if cur.description is not None else []

        def node_get(sid: str) -> Any:
            rows = node_run("get_sql", sid, math.ceil(clock().timestamp()))
            return rows[0][0] if rows else None

        ours = make_record(clock(), 60, by="coatcheck")
        theirs = make_record(clock(), 60, by="node")
        store.set("ours", ours)
        expire_epoch = math.ceil((clock() + timedelta(seconds=60)).timestamp())
        node_run("set_sql", encode_record(theirs), expire_epoch, "theirs")

        # The same expiry gives the same column value: local time of the zone, as Node writes.
        local = datetime.fromtimestamp(expire_epoch, ZoneInfo(zone)).replace(tzinfo=None)
        assert _row(db, pg_table, "ours") == (encode_record(ours), local)
        assert _row(db, pg_table, "theirs") == (encode_record(theirs), local)
        versioned = store.get_versioned("theirs")
        assert versioned is not None
        assert versioned.expires_at == datetime.fromtimestamp(expire_epoch, timezone.utc)

        clock.advance(30)
        assert store.get("theirs") == theirs
        assert node_get("ours") == ours
        clock.advance(31)  # past both expiries, for both
        assert store.get("theirs") is None
        assert node_get("ours") is None
        assert store.get("ours") is None
        assert node_get("theirs") is None

        # Each one's touch extends the other's live session, in the same zone.
        clock.advance(-61)
        later = math.ceil((clock() + timedelta(seconds=3600)).timestamp())
        node_run("touch_sql", later, "ours")
        store.touch("theirs", make_record(clock(), 3600, by="node"))
        clock.advance(600)
        assert store.get("ours") == ours
        assert node_get("theirs") == theirs
        clock.advance(3001)
        assert store.get("ours") is None
        assert node_get("theirs") is None
        # Prune (connect-pg-simple's and ours) deletes exactly the expired rows.
        node_run("prune_sql", math.ceil(clock().timestamp()))
        assert store.prune() == 0
        assert db.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_table))
        ).fetchone() == (0,)


# -- failures and outages ---------------------------------------------------------------------


def _short_pool(conninfo: str) -> ConnectionPool[Any]:
    """A pool that gives up waiting for a connection quickly, so outages fail fast."""
    pool: ConnectionPool[Any] = ConnectionPool(
        conninfo, open=False, min_size=1, timeout=0.2, kwargs={"autocommit": True}
    )
    pool.open(wait=False)
    return pool


def test_every_operation_fails_with_store_error_naming_it(clock: FakeClock) -> None:
    pool = _short_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    store = PostgresStore(pool, clock=clock)
    record = make_record(clock(), 60)
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: store.get("abcdefghij"),
        "set": lambda: store.set("abcdefghij", record),
        "touch": lambda: store.touch("abcdefghij", record),
        "destroy": lambda: store.destroy("abcdefghij"),
        "all": store.all,
        "length": store.length,
        "clear": store.clear,
        "prune": store.prune,
    }
    for operation, call in calls.items():
        with pytest.raises(StoreError) as info:
            call()
        assert info.value.operation == operation
        assert isinstance(info.value.cause, psycopg.OperationalError)
        assert "abcdefghij" not in str(info.value)
    with pytest.raises(InvalidRecordError):  # validated before any I/O
        store.set("abc", make_record(clock(), 60, bad=object()))
    pool.close()


def _eventually(call: Callable[[], object], within: float = 15.0) -> object:
    """The pool reconnects with a backoff: wait (boundedly) for the first success."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_outage_then_the_same_store_recovers(
    private_postgres: PostgresServer, clock: FakeClock
) -> None:
    pool = _short_pool(private_postgres.url)
    store = PostgresStore(pool, create_table=True, clock=clock)
    record = make_record(clock(), 60, user="bob")
    store.set("abc", record)

    private_postgres.stop()  # fast shutdown of the postmaster, by PID
    for operation, call in [
        ("get", lambda: store.get("abc")),
        ("set", lambda: store.set("abc", record)),
        ("touch", lambda: store.touch("abc", record)),
    ]:
        with pytest.raises(StoreError, match=f"store {operation} failed"):
            call()

    private_postgres.start()  # same port, same data directory
    assert _eventually(lambda: store.get("abc")) == record
    pool.close()


def test_a_restart_between_requests_is_invisible(
    private_postgres: PostgresServer, clock: FakeClock
) -> None:
    """Pooled connections die with the server; the next call retries on a fresh one."""
    store = PostgresStore(private_postgres.url, create_table=True, clock=clock)
    record = make_record(clock(), 60, user="bob")
    store.set("abc", record)
    private_postgres.stop()
    private_postgres.start()
    assert store.get("abc") == record
    store.close()


def test_async_outage_then_the_same_store_recovers(
    private_postgres: PostgresServer, clock: FakeClock
) -> None:
    async def scenario() -> None:
        store = AsyncPostgresStore(private_postgres.url, create_table=True, clock=clock)
        record = make_record(clock(), 60, user="bob")
        await store.set("abc", record)
        private_postgres.stop()
        private_postgres.start()
        assert await store.get("abc") == record  # dead connections replaced, retried

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            private_postgres.url, open=False, min_size=1, timeout=0.3
        )
        await pool.open(wait=True)
        borrowed = AsyncPostgresStore(pool, clock=clock)
        private_postgres.stop()
        for operation in ("get", "destroy"):
            with pytest.raises(StoreError, match=f"store {operation} failed"):
                await getattr(borrowed, operation)("abc")
        private_postgres.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                assert await borrowed.get("abc") == record
                break
            except StoreError:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        await borrowed.aclose()  # not ours: the pool stays open
        assert not pool.closed
        await pool.close()
        await store.aclose()

    asyncio.run(scenario())
