"""PostgreSQL session stores on connect-pg-simple's table (psycopg 3 and psycopg_pool).

The table is connect-pg-simple's ``table.sql``: ``session(sid varchar primary key, sess json,
expire timestamp(6))`` with an index on ``expire``. Rows are what connect-pg-simple (v10,
``index.js``) writes: ``sess`` is the record's ``JSON.stringify`` text; ``expire`` is
``cookie.expires`` rounded up to the whole second, or now + one day (its default ``ttl``) when
the cookie has none. ``touch`` updates ``expire`` only, so the stored ``cookie.expires`` may lag
behind, exactly as with connect-pg-simple.

Time zone: ``expire`` is a ``timestamp`` *without* time zone. connect-pg-simple writes
``to_timestamp(epoch)``, which PostgreSQL turns into local time of the connection's
``TimeZone``. coatcheck always reads and writes it as UTC (naive UTC datetimes as parameters,
no server-side ``now()``), so its rows never depend on a session setting, and the injected
``clock`` decides what "now" is. A Node app shares the table exactly when its connections use
``TimeZone`` UTC (the server default on most installs and images; otherwise set
``options: '-c TimeZone=UTC'`` in node-postgres).

Identifiers are always quoted with ``psycopg.sql.Identifier``; ids and data are parameters.

Usage::

    store = PostgresStore("postgresql://app@db/app", create_table=True)   # owns a pool
    store = PostgresStore(my_connection_pool, table="sessions", schema="auth")
    astore = AsyncPostgresStore("postgresql://app@db/app")                 # opens in the loop
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout

from .._errors import ConfigError, StoreError, sid_prefix
from ._codec import deadline_at, decode_record, encode_record, store_expiry, utcnow
from ._protocol import Record
from ._users import UserKeyHolder

if TYPE_CHECKING:
    from typing_extensions import LiteralString

__all__ = ["AsyncPostgresStore", "PostgresStore"]

logger = logging.getLogger("coatcheck")

Clock = Callable[[], datetime]
Rows = list[tuple[Any, ...]]

#: Settings of a pool the store creates from a conninfo string. ``timeout`` bounds how long an
#: operation waits for a connection during an outage before it fails with StoreError; autocommit
#: makes each statement one round trip (no BEGIN/COMMIT around it).
OWNED_POOL_OPTIONS: Mapping[str, Any] = {
    "min_size": 1,
    "max_size": 10,
    "timeout": 5.0,
    "name": "coatcheck",
}

# Errors that mean "the table was created by someone else meanwhile" (CREATE ... IF NOT EXISTS
# is not race-free in PostgreSQL).
_RACED_DDL = (
    psycopg.errors.UniqueViolation,
    psycopg.errors.DuplicateTable,
    psycopg.errors.DuplicateObject,
)


def _naive_utc(when: datetime) -> datetime:
    """A datetime as the naive UTC value a ``timestamp`` column holds."""
    if when.tzinfo is None:
        return when
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def expire_for(record: Mapping[str, Any], now: datetime) -> datetime:
    """connect-pg-simple's ``#getExpireTime``: ``Math.ceil(expires / 1000)`` seconds, or
    ``ceil(now + ttl)`` with its one-day default; as naive UTC. An absolute deadline
    (``max_lifetime``) caps it exactly, never rounded past."""
    when = store_expiry(record, now)
    if when == deadline_at(record):
        return _naive_utc(when)
    epoch = math.ceil(when.timestamp())
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


class _Queries:
    """Every statement, composed once for one table (quoted identifiers, never string-built)."""

    def __init__(self, table: str, schema: str | None) -> None:
        for option, value in (("table", table), ("schema", schema)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(option, f"must be a non-empty string, not {value!r}")
        qualified = sql.Identifier(schema, table) if schema else sql.Identifier(table)

        def q(text: LiteralString) -> sql.Composed:
            return sql.SQL(text).format(
                table=qualified,
                pkey=sql.Identifier(f"{table}_pkey"),
                index=sql.Identifier(f"IDX_{table}_expire"),
            )

        self.table = qualified
        # connect-pg-simple's table.sql; ``WITH (OIDS=FALSE)`` dropped (an error on PG >= 12).
        # For the default table the constraint and index names are exactly table.sql's.
        self.create = [
            q(
                "CREATE TABLE IF NOT EXISTS {table} ("
                '"sid" varchar NOT NULL COLLATE "default", '
                '"sess" json NOT NULL, '
                '"expire" timestamp(6) NOT NULL, '
                'CONSTRAINT {pkey} PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE)'
            ),
            q('CREATE INDEX IF NOT EXISTS {index} ON {table} ("expire")'),
        ]
        self.get = q('SELECT "sess"::text FROM {table} WHERE "sid" = %s AND "expire" > %s')
        self.set = q(
            'INSERT INTO {table} ("sid", "sess", "expire") VALUES (%s, %s::json, %s) '
            'ON CONFLICT ("sid") DO UPDATE SET "sess" = EXCLUDED."sess", '
            '"expire" = EXCLUDED."expire"'
        )
        # Only a live row is touched: an expired session is not revived (MemoryStore's rule).
        self.touch = q('UPDATE {table} SET "expire" = %s WHERE "sid" = %s AND "expire" > %s')
        self.destroy = q('DELETE FROM {table} WHERE "sid" = %s')
        self.all = q('SELECT "sid", "sess"::text FROM {table} WHERE "expire" > %s')
        self.length = q('SELECT count(*) FROM {table} WHERE "expire" > %s')
        self.clear = q("DELETE FROM {table}")
        self.prune = q('DELETE FROM {table} WHERE "expire" <= %s')


@contextmanager
def _wrap_errors(operation: str, sid: str | None) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise StoreError(operation, sid, exc) from exc


def _lost(
    exc: psycopg.Error,
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any] | None,
) -> bool:
    """Did this fail because a pooled connection died (server restart), so a retry on a
    fresh connection may succeed? Pool timeouts and SQL errors are final."""
    return (
        isinstance(exc, psycopg.OperationalError)
        and not isinstance(exc, (PoolTimeout, PoolClosed))
        and conn is not None
        and conn.closed
    )


class _UserQueries:
    """The user index's statements: an expression index on ``sess ->> user_key`` (the table
    itself stays connect-pg-simple's), and the lookups that use it."""

    def __init__(self, queries: _Queries, table: str, user_key: str) -> None:
        def q(text: LiteralString) -> sql.Composed:
            return sql.SQL(text).format(
                table=queries.table,
                index=sql.Identifier(f"IDX_{table}_user_{user_key}"[:63]),
                key=sql.Literal(user_key),
            )

        self.create = q('CREATE INDEX IF NOT EXISTS {index} ON {table} (("sess" ->> {key}))')
        self.sessions_of = q(
            'SELECT "sid", "sess"::text FROM {table} WHERE ("sess" ->> {key}) = %s '
            'AND "expire" > %s'
        )
        self.destroy_user = q(
            'DELETE FROM {table} WHERE ("sess" ->> {key}) = %s AND "expire" > %s '
            'AND "sid" IS DISTINCT FROM %s'
        )


class _PostgresBase(UserKeyHolder):
    """Option handling and row decoding shared by both stores; no I/O."""

    def __init__(self, table: str, schema: str | None, create_table: bool, clock: Clock | None):
        self.table_name = table
        self.schema = schema
        self._q = _Queries(table, schema)
        self._table_ready = not create_table
        self._create_table = create_table
        self._clock: Clock = clock or utcnow

    def _user_index_enabled(self, user_key: str) -> None:
        """With ``create_table=True`` the index is created with the table (or on the next
        statement); otherwise create it yourself (``ensure_table()`` or the DDL in the docs)."""
        self._uq = _UserQueries(self._q, self.table_name, user_key)
        self._q.create.append(self._uq.create)
        if self._create_table:
            self._table_ready = False

    def _user_queries(self) -> _UserQueries:
        self._require_user_key()
        return self._uq

    def _now(self) -> datetime:
        return _naive_utc(self._clock())

    def _decode(self, sid: str, text: str) -> Record | None:
        record = decode_record(text)
        if record is None:
            logger.warning(
                "postgres store: ignoring a stored value that is not a session record (session %s)",
                sid_prefix(sid),
            )
        return record

    def _collect(self, rows: Rows) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for sid, text in rows:
            record = self._decode(sid, text)
            if record is not None:
                found[sid] = record
        return found


class PostgresStore(_PostgresBase):
    """A synchronous store on a ``psycopg_pool.ConnectionPool`` or a conninfo string.

    Given a pool, the store borrows it (you open and close it). Given a conninfo string, it
    creates its own pool on first use (see ``OWNED_POOL_OPTIONS``) and ``close()`` closes it.
    After a server restart the same store recovers: dead pooled connections are discarded and
    the failed statement is retried once on a fresh connection (every statement is idempotent).
    """

    #: Network I/O: async adapters run these methods in a worker thread.
    never_blocks: ClassVar[bool] = False

    def __init__(
        self,
        pool_or_conninfo: ConnectionPool[Any] | str,
        *,
        table: str = "session",
        schema: str | None = None,
        create_table: bool = False,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(table, schema, create_table, clock)
        if isinstance(pool_or_conninfo, AsyncConnectionPool):
            raise ConfigError("pool", "this is an AsyncConnectionPool: use AsyncPostgresStore")
        self._lock = threading.Lock()
        if isinstance(pool_or_conninfo, str):
            self._conninfo: str | None = pool_or_conninfo
            self._pool: ConnectionPool[Any] | None = None
        else:
            self._conninfo = None
            self._pool = pool_or_conninfo

    def get(self, sid: str) -> Record | None:
        rows, _ = self._run("get", sid, self._q.get, (sid, self._now()))
        return self._decode(sid, rows[0][0]) if rows else None

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """One upsert (``INSERT ... ON CONFLICT DO UPDATE``), as connect-pg-simple does."""
        text = encode_record(record)  # InvalidRecordError before any I/O
        self._run("set", sid, self._q.set, (sid, text, expire_for(record, self._clock())))

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        """A new ``expire``; ``sess`` is not rewritten (connect-pg-simple's touch)."""
        expire = expire_for(record, self._clock())
        self._run("touch", sid, self._q.touch, (expire, sid, self._now()))

    def destroy(self, sid: str) -> None:
        self._run("destroy", sid, self._q.destroy, (sid,))

    def all(self) -> dict[str, Record]:
        rows, _ = self._run("all", None, self._q.all, (self._now(),))
        return self._collect(rows)

    def length(self) -> int:
        rows, _ = self._run("length", None, self._q.length, (self._now(),))
        return int(rows[0][0])

    def clear(self) -> None:
        """Delete every row of this store's table (only this table)."""
        self._run("clear", None, self._q.clear, ())

    def prune(self) -> int:
        """Delete expired rows (connect-pg-simple's ``pruneSessions``); returns how many.
        Nothing runs in the background: call it from a scheduled job."""
        _, count = self._run("prune", None, self._q.prune, (self._now(),))
        return count

    def sessions_of(self, user: str) -> dict[str, Record]:
        """Every live session whose ``sess ->> user_key`` is ``user``, by id (index lookup)."""
        query = self._user_queries().sessions_of
        rows, _ = self._run("sessions_of", None, query, (user, self._now()))
        return self._collect(rows)

    def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Delete every live session of ``user`` except ``keep`` in one statement; how many."""
        query = self._user_queries().destroy_user
        _, count = self._run("destroy_user", None, query, (user, self._now(), keep))
        return count

    def ensure_table(self) -> None:
        """Create the table and its index if missing (what ``create_table=True`` does lazily)."""
        pool = self._get_pool()
        with _wrap_errors("create_table", None):
            for attempt in range(2):
                try:
                    with pool.connection() as conn, conn.transaction():
                        for statement in self._q.create:
                            conn.execute(statement)
                    break
                except _RACED_DDL:
                    if attempt:
                        raise
        self._table_ready = True

    def close(self) -> None:
        """Close the pool if the store created it; a pool you passed in stays yours."""
        with self._lock:
            pool, owned = self._pool, self._conninfo is not None
            if owned:
                self._pool = None
        if owned and pool is not None:
            pool.close()

    def _get_pool(self) -> ConnectionPool[Any]:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    assert self._conninfo is not None
                    created: ConnectionPool[Any] = ConnectionPool(
                        self._conninfo,
                        open=False,
                        kwargs={"autocommit": True},
                        **OWNED_POOL_OPTIONS,
                    )
                    created.open(wait=False)
                    self._pool = created
                pool = self._pool
        return pool

    def _run(
        self, operation: str, sid: str | None, query: sql.Composed, params: Sequence[Any]
    ) -> tuple[Rows, int]:
        """Run one statement; returns its rows (if any) and rowcount."""
        if not self._table_ready:
            self.ensure_table()
        pool = self._get_pool()
        for attempt in range(2):
            conn: psycopg.Connection[Any] | None = None
            try:
                with pool.connection() as conn:
                    cur = conn.execute(query, params)
                    rows = cur.fetchall() if cur.description is not None else []
                    return rows, cur.rowcount
            except psycopg.Error as exc:
                if attempt == 0 and _lost(exc, conn):
                    with _wrap_errors(operation, sid):
                        pool.check()  # drop every other dead connection too
                    continue
                raise StoreError(operation, sid, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover


class AsyncPostgresStore(_PostgresBase):
    """The same store on a ``psycopg_pool.AsyncConnectionPool`` or a conninfo string.

    A store built from a conninfo string creates and opens its pool lazily, inside the running
    event loop (so it can be built at import time); ``aclose()`` closes it. A pool you pass in
    must be open (``await pool.open()``) and stays yours.
    """

    def __init__(
        self,
        pool_or_conninfo: AsyncConnectionPool[Any] | str,
        *,
        table: str = "session",
        schema: str | None = None,
        create_table: bool = False,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(table, schema, create_table, clock)
        if isinstance(pool_or_conninfo, ConnectionPool):
            raise ConfigError("pool", "this is a synchronous ConnectionPool: use PostgresStore")
        self._lock: asyncio.Lock | None = None
        if isinstance(pool_or_conninfo, str):
            self._conninfo: str | None = pool_or_conninfo
            self._pool: AsyncConnectionPool[Any] | None = None
        else:
            self._conninfo = None
            self._pool = pool_or_conninfo

    async def get(self, sid: str) -> Record | None:
        rows, _ = await self._run("get", sid, self._q.get, (sid, self._now()))
        return self._decode(sid, rows[0][0]) if rows else None

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        text = encode_record(record)
        await self._run("set", sid, self._q.set, (sid, text, expire_for(record, self._clock())))

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        expire = expire_for(record, self._clock())
        await self._run("touch", sid, self._q.touch, (expire, sid, self._now()))

    async def destroy(self, sid: str) -> None:
        await self._run("destroy", sid, self._q.destroy, (sid,))

    async def all(self) -> dict[str, Record]:
        rows, _ = await self._run("all", None, self._q.all, (self._now(),))
        return self._collect(rows)

    async def length(self) -> int:
        rows, _ = await self._run("length", None, self._q.length, (self._now(),))
        return int(rows[0][0])

    async def clear(self) -> None:
        await self._run("clear", None, self._q.clear, ())

    async def prune(self) -> int:
        _, count = await self._run("prune", None, self._q.prune, (self._now(),))
        return count

    async def sessions_of(self, user: str) -> dict[str, Record]:
        query = self._user_queries().sessions_of
        rows, _ = await self._run("sessions_of", None, query, (user, self._now()))
        return self._collect(rows)

    async def destroy_user(self, user: str, keep: str | None = None) -> int:
        query = self._user_queries().destroy_user
        _, count = await self._run("destroy_user", None, query, (user, self._now(), keep))
        return count

    async def ensure_table(self) -> None:
        pool = await self._get_pool()
        with _wrap_errors("create_table", None):
            for attempt in range(2):
                try:
                    async with pool.connection() as conn, conn.transaction():
                        for statement in self._q.create:
                            await conn.execute(statement)
                    break
                except _RACED_DDL:
                    if attempt:
                        raise
        self._table_ready = True

    async def aclose(self) -> None:
        """Close the pool if the store created it; a pool you passed in stays yours."""
        pool, owned = self._pool, self._conninfo is not None
        if owned:
            self._pool = None
            self._lock = None
        if owned and pool is not None:
            await pool.close()

    async def _get_pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            if self._lock is None:
                self._lock = asyncio.Lock()  # created in the running loop
            async with self._lock:
                if self._pool is None:
                    assert self._conninfo is not None
                    created: AsyncConnectionPool[Any] = AsyncConnectionPool(
                        self._conninfo,
                        open=False,
                        kwargs={"autocommit": True},
                        **OWNED_POOL_OPTIONS,
                    )
                    await created.open(wait=False)
                    self._pool = created
        return self._pool

    async def _run(
        self, operation: str, sid: str | None, query: sql.Composed, params: Sequence[Any]
    ) -> tuple[Rows, int]:
        if not self._table_ready:
            await self.ensure_table()
        pool = await self._get_pool()
        for attempt in range(2):
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                async with pool.connection() as conn:
                    cur = await conn.execute(query, params)
                    rows = await cur.fetchall() if cur.description is not None else []
                    return rows, cur.rowcount
            except psycopg.Error as exc:
                if attempt == 0 and _lost(exc, conn):
                    with _wrap_errors(operation, sid):
                        await pool.check()
                    continue
                raise StoreError(operation, sid, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover
