"""PostgreSQL session stores on connect-pg-simple's table (psycopg 3 and psycopg_pool).

The table is connect-pg-simple's ``table.sql``: ``session(sid varchar primary key, sess json,
expire timestamp(6))`` with an index on ``expire``. Rows are what connect-pg-simple (v10,
``index.js``) writes: ``sess`` is the record's ``JSON.stringify`` text; ``expire`` is
``cookie.expires`` rounded up to the whole second, or now + one day (its default ``ttl``) when
the cookie has none. ``touch`` updates ``expire`` only, so the stored ``cookie.expires`` may lag
behind, exactly as with connect-pg-simple.

Time zone: ``expire`` is a ``timestamp`` *without* time zone. connect-pg-simple writes
``to_timestamp(epoch)`` into it, which PostgreSQL turns into local time of the connection's
``TimeZone``, and compares it with ``to_timestamp(now)``. coatcheck writes and compares it
exactly so (the epochs come from the store's ``clock``), so coatcheck and a Node app on the same
database agree whatever the server's or the session's ``TimeZone`` (as long as both sides'
connections use the same one, which they do by default: the server's).

Concurrency capabilities (DESIGN "Concurrency"): ``get_versioned``/``set_if`` are conditional
statements on ``md5(sess::text)``, so an upsert by connect-pg-simple changes the version; the
per-session lock lives in a small ``UNLOGGED`` table of its own, ``<table>_lock(sid, token,
expire)``, created beside connect-pg-simple's table (which stays exactly as it is). Why a table
and not advisory locks: an advisory lock belongs to one connection (a pooled connection would
have to stay checked out for the whole request) and has no TTL, so a hung worker would hold it
forever; a row with an expiry is taken with one ``INSERT ... ON CONFLICT ... WHERE expired``,
released by the holder's token, and dies on its own.

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
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolClosed, PoolTimeout

from .._errors import ConfigError, InvalidRecordError, StoreError, sid_prefix
from ._codec import deadline_at, decode_record, encode_record, store_expiry, utcnow
from ._protocol import Record, Versioned
from ._users import UserKeyHolder

if TYPE_CHECKING:
    from typing_extensions import LiteralString

__all__ = ["AsyncPostgresStore", "PostgresStore"]

logger = logging.getLogger("coatcheck")

Clock = Callable[[], datetime]
Rows = list[tuple[Any, ...]]
_T = TypeVar("_T")

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


def expire_for(record: Mapping[str, Any], now: datetime) -> float:
    """connect-pg-simple's ``#getExpireTime``: ``Math.ceil(expires / 1000)`` seconds, or
    ``ceil(now + ttl)`` with its one-day default; epoch seconds, for ``to_timestamp(...)``.
    An absolute deadline (``max_lifetime``) caps it exactly, never rounded past."""
    when = store_expiry(record, now)
    if when == deadline_at(record):
        return when.timestamp()
    return float(math.ceil(when.timestamp()))


def _lock_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
    return float(ttl)


class _Queries:
    """Every statement, composed once for one table (quoted identifiers, never string-built)."""

    def __init__(self, table: str, schema: str | None) -> None:
        for option, value in (("table", table), ("schema", schema)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(option, f"must be a non-empty string, not {value!r}")
        qualified = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        lock_table = f"{table}_lock"
        locks = sql.Identifier(schema, lock_table) if schema else sql.Identifier(lock_table)

        def q(text: LiteralString) -> sql.Composed:
            return sql.SQL(text).format(
                table=qualified,
                pkey=sql.Identifier(f"{table}_pkey"),
                index=sql.Identifier(f"IDX_{table}_expire"),
                locks=locks,
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
        # The lock table is coatcheck's own (Node never sees it). UNLOGGED: a lock need not
        # survive a crash, and its writes skip the WAL. ``expire`` is epoch seconds.
        self.create_locks = _render(
            q(
                "CREATE UNLOGGED TABLE IF NOT EXISTS {locks} ("
                '"sid" varchar PRIMARY KEY, "token" text NOT NULL, "expire" float8 NOT NULL)'
            )
        )
        # Every comparison is ``expire`` against ``to_timestamp(epoch)``, as connect-pg-simple
        # does, so the connection's TimeZone applies to both sides alike. Time parameters are
        # epoch seconds (float8) from the store's clock.
        live = '"expire" > to_timestamp(%s)'
        touch = q('UPDATE {table} SET "expire" = to_timestamp(%s) WHERE "sid" = %s AND ' + live)
        # Params of the conditional writes: sid, text, expire, now; update_if adds the version.
        create_if_absent = q(
            'INSERT INTO {table} AS s ("sid", "sess", "expire") '
            "VALUES (%s, %s::json, to_timestamp(%s)) "
            'ON CONFLICT ("sid") DO UPDATE SET "sess" = EXCLUDED."sess", '
            '"expire" = EXCLUDED."expire" WHERE s."expire" <= to_timestamp(%s)'
        )
        update_if = q(
            'UPDATE {table} SET "sess" = %s::json, "expire" = to_timestamp(%s) '
            'WHERE "sid" = %s AND ' + live + ' AND md5("sess"::text) = %s'
        )
        # The same statements releasing the lock too (two more params first: sid, token).
        unlock_cte = q(
            'WITH "released" AS (DELETE FROM {locks} WHERE "sid" = %s AND "token" = %s '
            "RETURNING 1) "
        )

        # Rendered to bytes once: psycopg then only binds parameters (its own cache converts
        # the placeholders once; the server prepares a statement after a few executions).
        self.get = _render(q('SELECT "sess"::text FROM {table} WHERE "sid" = %s AND ' + live))
        self.set = _render(
            q(
                'INSERT INTO {table} ("sid", "sess", "expire") '
                "VALUES (%s, %s::json, to_timestamp(%s)) "
                'ON CONFLICT ("sid") DO UPDATE SET "sess" = EXCLUDED."sess", '
                '"expire" = EXCLUDED."expire"'
            )
        )
        # Only a live row is touched: an expired session is not revived (MemoryStore's rule).
        self.touch = _render(touch)
        self.destroy = _render(q('DELETE FROM {table} WHERE "sid" = %s'))
        # A value that is not a session record goes, unless rewritten since it was read.
        self.discard = _render(q('DELETE FROM {table} WHERE "sid" = %s AND "sess"::text = %s'))
        self.raw_get = _render(q('SELECT "sess"::text FROM {table} WHERE "sid" = %s'))
        self.all = _render(q('SELECT "sid", "sess"::text FROM {table} WHERE ' + live))
        self.length = _render(q("SELECT count(*) FROM {table} WHERE " + live))
        self.clear = _render(q("DELETE FROM {table}"))
        self.prune = _render(q('DELETE FROM {table} WHERE "expire" <= to_timestamp(%s)'))
        self.prune_locks = _render(q('DELETE FROM {locks} WHERE "expire" <= %s'))
        # (text, md5 of the text, the row's expiry as an instant in the connection's zone).
        self.get_versioned = _render(
            q(
                'SELECT "sess"::text, md5("sess"::text), "expire"::timestamptz FROM {table} '
                'WHERE "sid" = %s AND ' + live
            )
        )
        self.create_if_absent = _render(create_if_absent)
        self.update_if = _render(update_if)
        self.create_if_absent_unlock = _render(unlock_cte + create_if_absent)
        self.update_if_unlock = _render(unlock_cte + update_if)
        # Params: sid, token, lock expiry, now. One row back iff the lock was taken.
        self.lock = _render(
            q(
                'INSERT INTO {locks} AS l ("sid", "token", "expire") VALUES (%s, %s, %s) '
                'ON CONFLICT ("sid") DO UPDATE SET "token" = EXCLUDED."token", '
                '"expire" = EXCLUDED."expire" WHERE l."expire" <= %s RETURNING 1'
            )
        )
        self.unlock = _render(q('DELETE FROM {locks} WHERE "sid" = %s AND "token" = %s'))
        # Params: sid, token, then touch's (the touch happens held or not: exactly touch()).
        self.unlock_touch = _render(unlock_cte + touch)


def _render(query: sql.Composed) -> bytes:
    return query.as_bytes(None)


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
        self.sessions_of = _render(
            q(
                'SELECT "sid", "sess"::text FROM {table} WHERE ("sess" ->> {key}) = %s '
                'AND "expire" > to_timestamp(%s)'
            )
        )
        self.destroy_user = _render(
            q(
                'DELETE FROM {table} WHERE ("sess" ->> {key}) = %s '
                'AND "expire" > to_timestamp(%s) AND "sid" IS DISTINCT FROM %s'
            )
        )


class _PostgresBase(UserKeyHolder):
    """Option handling and row decoding shared by both stores; no I/O."""

    def __init__(self, table: str, schema: str | None, create_table: bool, clock: Clock | None):
        self.table_name = table
        self.schema = schema
        self._q = _Queries(table, schema)
        self._table_ready = not create_table
        self._create_table = create_table
        self._locks_ready = False
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

    def _now(self) -> float:
        """The clock's now in epoch seconds (for ``to_timestamp(...)``)."""
        return self._clock().timestamp()

    def _raw_params(self, sid: str, data: bytes) -> tuple[Any, ...]:
        text = data.decode("utf-8")
        record = decode_record(text) or {}
        try:
            expire = expire_for(record, self._clock())
        except InvalidRecordError:
            expire = expire_for({}, self._clock())
        return (sid, text, expire)

    def _versioned(self, sid: str, row: tuple[Any, ...] | None) -> Versioned | None:
        if row is None:
            return None
        text, version, expire = row
        record = self._decode(sid, text)
        if record is None:
            return None
        return Versioned(record, version, expire.astimezone(timezone.utc))

    def _set_if_statement(
        self, sid: str, record: Mapping[str, Any], version: str | None, unlock: str | None
    ) -> tuple[bytes, tuple[Any, ...]]:
        """The one conditional statement ``set_if`` runs, and its parameters."""
        if version is not None and not isinstance(version, str):
            raise TypeError(f"version must be a str or None, not {type(version).__name__}")
        text = encode_record(record)  # InvalidRecordError before any I/O
        now = self._clock()
        expire = expire_for(record, now)
        q = self._q
        params: tuple[Any, ...]
        if version is None:
            query = q.create_if_absent if unlock is None else q.create_if_absent_unlock
            params = (sid, text, expire, now.timestamp())
        else:
            query = q.update_if if unlock is None else q.update_if_unlock
            params = (text, expire, sid, now.timestamp(), version)
        if unlock is not None:
            params = (sid, unlock, *params)
        return query, params

    def _unlock_statement(
        self, sid: str, token: str, touch: Mapping[str, Any] | None
    ) -> tuple[bytes, tuple[Any, ...]]:
        if touch is None:
            return self._q.unlock, (sid, token)
        now = self._clock()
        return self._q.unlock_touch, (sid, token, expire_for(touch, now), sid, now.timestamp())

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
        if not rows:
            return None
        record = self._decode(sid, rows[0][0])
        if record is None:
            self._discard(sid, rows[0][0])
        return record

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """One upsert (``INSERT ... ON CONFLICT DO UPDATE``), as connect-pg-simple does."""
        text = encode_record(record)  # InvalidRecordError before any I/O
        self._run("set", sid, self._q.set, (sid, text, expire_for(record, self._clock())))

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        """A new ``expire``; ``sess`` is not rewritten (connect-pg-simple's touch)."""
        now = self._clock()
        self._run("touch", sid, self._q.touch, (expire_for(record, now), sid, now.timestamp()))

    def destroy(self, sid: str) -> None:
        self._run("destroy", sid, self._q.destroy, (sid,))

    def raw_get(self, sid: str) -> bytes | None:
        """``sess::text`` of ``sid``'s row as UTF-8, expired or not (the contract's wire check:
        a ``json`` column keeps the text connect-pg-simple sent)."""
        rows, _ = self._run("get", sid, self._q.raw_get, (sid,))
        return str(rows[0][0]).encode("utf-8") if rows else None

    def raw_set(self, sid: str, data: bytes) -> None:
        """The row connect-pg-simple would write for ``data``: its upsert, its expire."""
        self._run("set", sid, self._q.set, self._raw_params(sid, data))

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
        """Delete expired rows (connect-pg-simple's ``pruneSessions``) and expired locks;
        returns how many sessions. Nothing runs in the background: call it from a job."""
        now = self._now()
        _, count = self._run("prune", None, self._q.prune, (now,))
        if self._locks_ready:
            self._run("prune", None, self._q.prune_locks, (now,))
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

    # -- concurrency capabilities: one statement (one round trip) each ----------------------

    def get_versioned(self, sid: str) -> Versioned | None:
        """The record, ``md5(sess::text)`` and the row's ``expire``, in one ``SELECT``."""
        rows, _ = self._run("get", sid, self._q.get_versioned, (sid, self._now()))
        return self._read_versioned(sid, rows[0] if rows else None)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        """``UPDATE ... WHERE md5(sess::text) = version`` (``None``: ``INSERT ... ON CONFLICT
        DO UPDATE ... WHERE expired``); ``unlock`` deletes the lock row in the same statement."""
        query, params = self._set_if_statement(sid, record, version, unlock)
        if unlock is not None:
            self._ensure_locks()
        _, count = self._run("set", sid, query, params)
        return count > 0

    def lock(self, sid: str, ttl: float) -> str | None:
        """``INSERT`` the lock row, or take over an expired one; ``None`` if it is held."""
        token, seconds = secrets.token_hex(16), _lock_ttl(ttl)
        self._ensure_locks()
        now = self._now()
        rows, _ = self._run("lock", sid, self._q.lock, (sid, token, now + seconds, now))
        return token if rows else None

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        """Delete the lock row if ``token`` holds it; ``touch`` then refreshes ``expire`` in the
        same statement, held or not (a non-holder's unlock releases nothing)."""
        query, params = self._unlock_statement(sid, token, touch)
        self._ensure_locks()
        self._run("unlock", sid, query, params)

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        """The lock, then the versioned read, pipelined in one round trip (the read runs
        after the lock is in, so it sees the last holder's write)."""
        token, seconds = secrets.token_hex(16), _lock_ttl(ttl)
        self._ensure_locks()
        now = self._now()
        lock_params = (sid, token, now + seconds, now)

        def work(conn: psycopg.Connection[Any]) -> tuple[bool, tuple[Any, ...] | None]:
            with conn.pipeline():
                taken = conn.execute(self._q.lock, lock_params)
                read = conn.execute(self._q.get_versioned, (sid, now))
            return taken.fetchone() is not None, read.fetchone()

        taken, row = self._run_with("lock", sid, work)
        if not taken:
            return None, None
        return token, self._read_versioned(sid, row)

    def _read_versioned(self, sid: str, row: tuple[Any, ...] | None) -> Versioned | None:
        found = self._versioned(sid, row)
        if found is None and row is not None:
            self._discard(sid, row[0])
        return found

    def _discard(self, sid: str, text: str) -> None:
        """Destroy a stored value that is not a session record, as the core destroys any
        invalid record (issue 10.7), unless it was rewritten since it was read. A failure
        only logs: the read succeeded, and the value is ignored either way."""
        try:
            self._run("destroy", sid, self._q.discard, (sid, text))
        except StoreError as exc:
            logger.warning("postgres store: could not destroy an invalid record: %s", exc)

    def ensure_table(self) -> None:
        """Create the table and its index if missing (what ``create_table=True`` does lazily)."""
        pool = self._get_pool()
        with _wrap_errors("create_table", None):
            for attempt in range(2):
                try:
                    with pool.connection() as conn, conn.transaction():
                        for statement in (*self._q.create, self._q.create_locks):
                            conn.execute(statement)
                    break
                except _RACED_DDL:
                    if attempt:
                        raise
        self._table_ready = self._locks_ready = True

    def _ensure_locks(self) -> None:
        """Create the lock table once per store (``IF NOT EXISTS``: any process may race)."""
        if self._locks_ready:
            return
        for attempt in range(2):
            try:
                self._run("create_table", None, self._q.create_locks, ())
                break
            except StoreError as exc:
                if attempt or not isinstance(exc.cause, _RACED_DDL):
                    raise
        self._locks_ready = True

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
        self, operation: str, sid: str | None, query: bytes, params: Sequence[Any]
    ) -> tuple[Rows, int]:
        """Run one statement; returns its rows (if any) and rowcount."""
        return self._run_with(operation, sid, _one, query, params)

    def _run_with(self, operation: str, sid: str | None, work: Callable[..., _T], *args: Any) -> _T:
        """``work(conn, *args)`` on a pooled connection; a connection lost to a server
        restart is retried once on a fresh one (every operation is idempotent or refused)."""
        if not self._table_ready:
            self.ensure_table()
        pool = self._get_pool()
        for attempt in range(2):
            conn: psycopg.Connection[Any] | None = None
            try:
                with pool.connection() as conn:
                    return work(conn, *args)
            except psycopg.Error as exc:
                if attempt == 0 and _lost(exc, conn):
                    with _wrap_errors(operation, sid):
                        pool.check()  # drop every other dead connection too
                    continue
                raise StoreError(operation, sid, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _one(conn: psycopg.Connection[Any], query: bytes, params: Sequence[Any]) -> tuple[Rows, int]:
    cur = conn.execute(query, params)
    rows = cur.fetchall() if cur.description is not None else []
    return rows, cur.rowcount


async def _aone(
    conn: psycopg.AsyncConnection[Any], query: bytes, params: Sequence[Any]
) -> tuple[Rows, int]:
    cur = await conn.execute(query, params)
    rows = await cur.fetchall() if cur.description is not None else []
    return rows, cur.rowcount


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
        if not rows:
            return None
        record = self._decode(sid, rows[0][0])
        if record is None:
            await self._discard(sid, rows[0][0])
        return record

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        text = encode_record(record)
        await self._run("set", sid, self._q.set, (sid, text, expire_for(record, self._clock())))

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        now = self._clock()
        params = (expire_for(record, now), sid, now.timestamp())
        await self._run("touch", sid, self._q.touch, params)

    async def destroy(self, sid: str) -> None:
        await self._run("destroy", sid, self._q.destroy, (sid,))

    async def raw_get(self, sid: str) -> bytes | None:
        rows, _ = await self._run("get", sid, self._q.raw_get, (sid,))
        return str(rows[0][0]).encode("utf-8") if rows else None

    async def raw_set(self, sid: str, data: bytes) -> None:
        await self._run("set", sid, self._q.set, self._raw_params(sid, data))

    async def all(self) -> dict[str, Record]:
        rows, _ = await self._run("all", None, self._q.all, (self._now(),))
        return self._collect(rows)

    async def length(self) -> int:
        rows, _ = await self._run("length", None, self._q.length, (self._now(),))
        return int(rows[0][0])

    async def clear(self) -> None:
        await self._run("clear", None, self._q.clear, ())

    async def prune(self) -> int:
        now = self._now()
        _, count = await self._run("prune", None, self._q.prune, (now,))
        if self._locks_ready:
            await self._run("prune", None, self._q.prune_locks, (now,))
        return count

    async def sessions_of(self, user: str) -> dict[str, Record]:
        query = self._user_queries().sessions_of
        rows, _ = await self._run("sessions_of", None, query, (user, self._now()))
        return self._collect(rows)

    async def destroy_user(self, user: str, keep: str | None = None) -> int:
        query = self._user_queries().destroy_user
        _, count = await self._run("destroy_user", None, query, (user, self._now(), keep))
        return count

    # -- concurrency capabilities (see PostgresStore) -----------------------------------------

    async def get_versioned(self, sid: str) -> Versioned | None:
        rows, _ = await self._run("get", sid, self._q.get_versioned, (sid, self._now()))
        return await self._read_versioned(sid, rows[0] if rows else None)

    async def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        query, params = self._set_if_statement(sid, record, version, unlock)
        if unlock is not None:
            await self._ensure_locks()
        _, count = await self._run("set", sid, query, params)
        return count > 0

    async def lock(self, sid: str, ttl: float) -> str | None:
        token, seconds = secrets.token_hex(16), _lock_ttl(ttl)
        await self._ensure_locks()
        now = self._now()
        rows, _ = await self._run("lock", sid, self._q.lock, (sid, token, now + seconds, now))
        return token if rows else None

    async def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        query, params = self._unlock_statement(sid, token, touch)
        await self._ensure_locks()
        await self._run("unlock", sid, query, params)

    async def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        token, seconds = secrets.token_hex(16), _lock_ttl(ttl)
        await self._ensure_locks()
        now = self._now()
        lock_params = (sid, token, now + seconds, now)

        async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[bool, tuple[Any, ...] | None]:
            async with conn.pipeline():
                taken = await conn.execute(self._q.lock, lock_params)
                read = await conn.execute(self._q.get_versioned, (sid, now))
            return await taken.fetchone() is not None, await read.fetchone()

        taken, row = await self._run_with("lock", sid, work)
        if not taken:
            return None, None
        return token, await self._read_versioned(sid, row)

    async def _read_versioned(self, sid: str, row: tuple[Any, ...] | None) -> Versioned | None:
        found = self._versioned(sid, row)
        if found is None and row is not None:
            await self._discard(sid, row[0])
        return found

    async def _discard(self, sid: str, text: str) -> None:
        """``PostgresStore._discard``."""
        try:
            await self._run("destroy", sid, self._q.discard, (sid, text))
        except StoreError as exc:
            logger.warning("postgres store: could not destroy an invalid record: %s", exc)

    async def _ensure_locks(self) -> None:
        if self._locks_ready:
            return
        for attempt in range(2):
            try:
                await self._run("create_table", None, self._q.create_locks, ())
                break
            except StoreError as exc:
                if attempt or not isinstance(exc.cause, _RACED_DDL):
                    raise
        self._locks_ready = True

    async def ensure_table(self) -> None:
        pool = await self._get_pool()
        with _wrap_errors("create_table", None):
            for attempt in range(2):
                try:
                    async with pool.connection() as conn, conn.transaction():
                        for statement in (*self._q.create, self._q.create_locks):
                            await conn.execute(statement)
                    break
                except _RACED_DDL:
                    if attempt:
                        raise
        self._table_ready = self._locks_ready = True

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
        self, operation: str, sid: str | None, query: bytes, params: Sequence[Any]
    ) -> tuple[Rows, int]:
        return await self._run_with(operation, sid, _aone, query, params)

    async def _run_with(
        self,
        operation: str,
        sid: str | None,
        work: Callable[..., Awaitable[_T]],
        *args: Any,
    ) -> _T:
        if not self._table_ready:
            await self.ensure_table()
        pool = await self._get_pool()
        for attempt in range(2):
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                async with pool.connection() as conn:
                    return await work(conn, *args)
            except psycopg.Error as exc:
                if attempt == 0 and _lost(exc, conn):
                    with _wrap_errors(operation, sid):
                        await pool.check()
                    continue
                raise StoreError(operation, sid, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover
