"""Node and Python share one store: coatcheck writes what connect-redis / connect-pg-simple write
and reads what they write.

The expected bytes, TTLs and rows are in ``fixtures/connect_redis.json`` and
``fixtures/connect_pg_simple.json``, derived from those packages' sources (cited in the files).
The Node side is played by raw commands: ``SET key value EX ttl`` for connect-redis, and
connect-pg-simple's own SQL statements, verbatim, over a connection in TimeZone UTC.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from coatcheck.stores import PostgresStore, RedisStore, encode_record
from coatcheck.testing import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"
REDIS = json.loads((FIXTURES / "connect_redis.json").read_text(encoding="utf-8"))
PG = json.loads((FIXTURES / "connect_pg_simple.json").read_text(encoding="utf-8"))


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _ms_left(record: dict[str, Any], now: datetime) -> int:
    expires = record["cookie"]["expires"]
    end = _when(expires) if expires else now + timedelta(days=1)
    return round((end - now) / timedelta(milliseconds=1))


def _cases(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[case["name"] for case in cases])


#: Sessions connect-redis actually stores (it deletes the key of an expired one).
STORED = [case for case in REDIS["sessions"] if case["ttl"] is not None]


# -- connect-redis ----------------------------------------------------------------------------


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the shared server; the fixture's ``sess:<sid>`` keys are removed after."""
    with redis.Redis.from_url(redis_url) as client:
        client.delete(*(case["key"] for case in REDIS["sessions"]))
        yield client
        client.delete(*(case["key"] for case in REDIS["sessions"]))


@pytest.mark.redis
@_cases(REDIS["sessions"])
def test_redis_key_value_and_ttl_are_connect_redis(
    redis_client: redis.Redis, case: dict[str, Any]
) -> None:
    now = _when(REDIS["now"])
    store = RedisStore(redis_client, clock=FakeClock(now))
    record = json.loads(case["json"])
    store.set(case["sid"], record)

    key = case["key"]
    assert key == REDIS["prefix"] + case["sid"] == store.prefix + case["sid"]
    if case["ttl"] is None:  # connect-redis deletes instead of writing a dead session
        assert redis_client.exists(key) == 0
        return
    assert redis_client.get(key) == case["json"].encode("utf-8")
    # connect-redis: EX ceil(seconds left). coatcheck: PX ms left, so the key dies with the
    # cookie, at most a second before connect-redis's would.
    ms_left = _ms_left(record, now)
    assert case["ttl"] * 1000 - 1000 < ms_left <= case["ttl"] * 1000
    assert ms_left - 2_000 < redis_client.pttl(key) <= ms_left
    assert redis_client.ttl(key) == round(ms_left / 1000)


@pytest.mark.redis
@_cases(STORED)
def test_redis_reads_what_connect_redis_writes(
    redis_client: redis.Redis, case: dict[str, Any]
) -> None:
    redis_client.set(case["key"], case["json"].encode("utf-8"), ex=case["ttl"])
    store = RedisStore(redis_client, clock=FakeClock(_when(REDIS["now"])))
    got = store.get(case["sid"])
    assert got == json.loads(case["json"])
    assert encode_record(got) == case["json"]  # same keys, same order, same text


@pytest.mark.redis
def test_redis_touch_is_connect_redis_touch(redis_client: redis.Redis) -> None:
    """Touch a key written the Node way: new TTL, value bytes untouched."""
    case = REDIS["sessions"][0]
    redis_client.set(case["key"], case["json"].encode("utf-8"), ex=case["ttl"])
    later = _when(REDIS["now"]) + timedelta(minutes=30)
    touched = json.loads(case["json"])
    touched["cookie"]["expires"] = (later + timedelta(seconds=60)).isoformat()
    RedisStore(redis_client, clock=FakeClock(_when(REDIS["now"]))).touch(case["sid"], touched)
    assert redis_client.get(case["key"]) == case["json"].encode("utf-8")
    assert redis_client.ttl(case["key"]) == 31 * 60


# -- connect-pg-simple ------------------------------------------------------------------------


def _node_sql(statement: str) -> str:
    """connect-pg-simple's ``$n`` placeholders in psycopg's named style."""
    return re.sub(r"\$(\d+)", r"%(p\1)s", statement)


class NodeSide:
    """Plays connect-pg-simple: its statements, verbatim, in a schema of its own."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def run(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        named = {f"p{n}": value for n, value in enumerate(params, start=1)}
        cur = self.conn.execute(_node_sql(statement), named)  # type: ignore[call-overload]
        return cur.fetchall() if cur.description is not None else []

    def set(self, case: dict[str, Any]) -> None:
        self.run(PG["set_sql"], case["sess"], case["expire_epoch"], case["sid"])

    def get(self, sid: str, now: datetime) -> Any:
        """``sess`` as node-postgres hands it to connect-pg-simple: parsed JSON, or None."""
        rows = self.run(PG["get_sql"], sid, math.ceil(now.timestamp()))
        return rows[0][0] if rows else None


@pytest.fixture
def schemas(postgres_conninfo: str) -> Iterator[tuple[str, str]]:
    """Two fresh schemas, each with connect-pg-simple's ``session`` table from table.sql:
    one written by the Node side, one by coatcheck."""
    names = (f"node_{uuid.uuid4().hex[:10]}", f"coatcheck_{uuid.uuid4().hex[:10]}")
    table_sql = (FIXTURES / "connect_pg_simple_table.sql").read_text()
    with psycopg.connect(postgres_conninfo, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(name)))
                conn.execute(table_sql)  # type: ignore[arg-type]
        yield names
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def node(postgres_conninfo: str, schemas: tuple[str, str]) -> Iterator[NodeSide]:
    options = f"-c TimeZone={PG['time_zone']} -c search_path={schemas[0]}"
    with psycopg.connect(postgres_conninfo, autocommit=True, options=options) as conn:
        yield NodeSide(conn)


@pytest.fixture
def coatcheck_store(
    postgres_conninfo: str, schemas: tuple[str, str]
) -> Iterator[tuple[PostgresStore, FakeClock]]:
    clock = FakeClock(_when(PG["now"]))
    store = PostgresStore(postgres_conninfo, schema=schemas[1], clock=clock)
    yield store, clock
    store.close()


def _rows(conninfo: str, schema: str) -> list[tuple[Any, ...]]:
    query = sql.SQL('SELECT "sid", "sess"::text, "expire"::text FROM {} ORDER BY "sid"')
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query.format(sql.Identifier(schema, "session"))).fetchall()


def _expected_rows() -> list[tuple[str, str, str]]:
    return sorted((row["sid"], row["sess"], row["expire"]) for row in PG["rows"])


@pytest.mark.postgres
def test_postgres_rows_are_connect_pg_simple_rows(
    postgres_conninfo: str,
    schemas: tuple[str, str],
    node: NodeSide,
    coatcheck_store: tuple[PostgresStore, FakeClock],
) -> None:
    store, _ = coatcheck_store
    for case in PG["rows"]:
        node.set(case)
        store.set(case["sid"], json.loads(case["sess"]))
    node_rows, our_rows = (_rows(postgres_conninfo, schema) for schema in schemas)
    assert node_rows == _expected_rows()  # the fixture is what connect-pg-simple's SQL stores
    assert our_rows == node_rows


@pytest.mark.postgres
def test_postgres_reads_what_connect_pg_simple_writes_and_back(
    postgres_conninfo: str,
    schemas: tuple[str, str],
    node: NodeSide,
    coatcheck_store: tuple[PostgresStore, FakeClock],
) -> None:
    store, clock = coatcheck_store
    # coatcheck on the Node side's table, and the Node side's get on coatcheck's rows.
    on_node_table = PostgresStore(postgres_conninfo, schema=schemas[0], clock=clock)
    now = clock()
    for case in PG["rows"]:
        node.set(case)
        store.set(case["sid"], json.loads(case["sess"]))
    expired = {"already_expired"}
    for case in PG["rows"]:
        got = on_node_table.get(case["sid"])
        if case["name"] in expired:
            assert got is None
            continue
        assert got is not None
        assert encode_record(got) == case["sess"]
    node.conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schemas[1])))
    for case in PG["rows"]:
        want = None if case["name"] in expired else json.loads(case["sess"])
        assert node.get(case["sid"], now) == want
    on_node_table.close()


@pytest.mark.postgres
def test_postgres_touch_and_prune_match_connect_pg_simple(
    postgres_conninfo: str,
    schemas: tuple[str, str],
    node: NodeSide,
    coatcheck_store: tuple[PostgresStore, FakeClock],
) -> None:
    store, clock = coatcheck_store
    for case in PG["rows"]:
        node.set(case)
        store.set(case["sid"], json.loads(case["sess"]))
    later = _when("2026-11-27T23:30:00.500Z")  # ceil -> 23:30:01
    for case in PG["rows"][:2]:
        record = json.loads(case["sess"])
        record["cookie"]["expires"] = later.isoformat()
        node.run(PG["touch_sql"], math.ceil(later.timestamp()), case["sid"])
        store.touch(case["sid"], record)
    now = math.ceil(clock().timestamp())
    node.run(PG["prune_sql"], now)
    assert store.prune() == 1
    node_rows, our_rows = (_rows(postgres_conninfo, schema) for schema in schemas)
    assert our_rows == node_rows
    assert "2026-11-27 23:30:01" in {row[2] for row in our_rows}
    assert len(our_rows) == len(PG["rows"]) - 1
