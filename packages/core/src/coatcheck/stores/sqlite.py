"""``SQLiteStore``: a persistent store with nothing to install (stdlib ``sqlite3``).

One table ``(sid TEXT PRIMARY KEY, sess TEXT, expire REAL)`` — connect-pg-simple's shape, with
``expire`` in epoch milliseconds (one day ahead for browser-session cookies, as connect-redis and
connect-pg-simple do; ``NULL`` rows of older versions live until destroyed) and an index on it so
expired rows are skipped on read and pruned in bounded batches, at the pace of the writes.
Files run in WAL mode with a busy timeout, so several threads and several processes can share
one file.

Concurrency capabilities (DESIGN "Concurrency"): the version is the SHA-1 hex of the stored JSON
text, compared inside the conditional ``UPDATE`` by a deterministic SQL function registered on
each connection, so each write is one statement. The per-session lock is a row of a second
table ``<table>_lock(sid, token, expire)`` taken with one ``INSERT ... ON CONFLICT ... WHERE
expired``; the combined operations (write + unlock, unlock + touch, lock + read) run in one
``BEGIN IMMEDIATE`` transaction, which is what "one round trip" means for a local file.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import re
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from .._errors import ConfigError, InvalidRecordError, StoreError
from ._codec import (
    decode_record,
    decode_stored,
    encode_record,
    store_expiry,
    utcnow,
    validate_record,
)
from ._protocol import Record, Versioned
from ._users import UserKeyHolder

logger = logging.getLogger("coatcheck")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
#: Opportunistic pruning: one small batch every this many writes keeps the table near its live
#: size without a background thread, at a cost no single request notices.
#: Pruning keeps pace with the writes: every ``_PRUNE_EVERY_WRITES`` writes, one indexed
#: batch of up to ``_PRUNE_BATCH_ON_WRITE`` expired rows goes, twice as many rows as those
#: writes can have added, so the table stays near its live size with no help.
_PRUNE_EVERY_WRITES = 50
_PRUNE_BATCH_ON_WRITE = 2 * _PRUNE_EVERY_WRITES
#: The WAL: truncated back to this size after each checkpoint that resets it, and checkpointed
#: with TRUNCATE every ``_CHECKPOINT_EVERY_WRITES`` writes while this process's new operations
#: wait (at most ``_CHECKPOINT_WAIT_MS`` for the ones in flight), so a stream of overlapping
#: readers (a threaded server) cannot grow it without end (checkpoint starvation).
_JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
_CHECKPOINT_EVERY_WRITES = 500
_CHECKPOINT_WAIT_MS = 200
_CHECKPOINT_TRIES = 20
#: Idle file connections kept for reuse; more concurrent callers open (then close) extra ones.
_MAX_IDLE_CONNECTIONS = 8


def _sha1(text: str) -> str:
    """The version of a stored text (also registered in SQL as ``coatcheck_sha1``)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _epoch_ms(when: datetime) -> float:
    """Epoch milliseconds (sub-ms kept as the fraction), the unit both Node and SQL compare."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) / _MS


class SQLiteStore(UserKeyHolder):
    """Sessions in an SQLite database file (or ``":memory:"``).

    ``get`` never returns a row whose ``expire`` is at or before the clock's now. A record
    without ``cookie.expires`` (a browser-session cookie) lives one day from its last write or
    touch. Expired rows are deleted by the writes themselves (one batch every few writes, twice
    the rows those writes can add) and by ``prune()``; the WAL is checkpointed with TRUNCATE
    now and then, so the files stay near the live data's size with no help.

    Threads: file databases use a small pool of connections, each used by one thread at a time;
    ``":memory:"`` is one database per connection, so it uses a single shared connection behind
    a lock. ``busy_timeout`` (seconds) is how long a write waits for another process's lock
    before failing with ``StoreError``. Call ``close()`` (or use ``with``) when done.

    The file is opened (and its tables created) by the constructor, so a path that cannot be
    opened fails at start-up with a ``StoreError`` naming the path, not at the first request.

    Async adapters call the store inline on the event loop (``never_blocks=True``, the
    default): a statement on a local file takes ~15-25 µs, a hop to a worker thread ~110-130
    µs (``benchmarks/sqlite_inline.py``). When several *processes* write to one file heavily,
    a write may wait for another's lock (the busy handler sleeps, p99 ~25 ms with 3 busy
    writers on a loaded machine) and that wait would stall the loop: pass
    ``never_blocks=False`` there to run each call in a worker thread instead.

    The table name is validated as an identifier; ids and data are always bound parameters.
    """

    #: Async adapters call the store on the event loop when True (see above).
    never_blocks: bool

    def __init__(
        self,
        path: str | os.PathLike[str] = "coatcheck-sessions.sqlite3",
        *,
        table: str = "sessions",
        clock: Callable[[], datetime] | None = None,
        busy_timeout: float = 5.0,
        never_blocks: bool = True,
    ) -> None:
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ConfigError("table", f"must match [A-Za-z_][A-Za-z0-9_]*, not {table!r}")
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, (int, float)):
            raise ConfigError("busy_timeout", f"must be a number of seconds, not {busy_timeout!r}")
        if busy_timeout < 0:
            raise ConfigError("busy_timeout", f"must be >= 0, not {busy_timeout!r}")
        if not isinstance(never_blocks, bool):
            raise ConfigError("never_blocks", f"must be True or False, not {never_blocks!r}")
        self.never_blocks = never_blocks
        self._table = table
        self._path = os.fspath(path)
        self._busy_timeout = float(busy_timeout)
        self._clock = clock or utcnow
        self._closed = False
        self._pool_lock = threading.Lock()
        # Held while the WAL is checkpointed: this process's new operations wait the few ms
        # it takes, so its own stream of readers cannot starve the checkpoint.
        self._checkpoint_gate = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._shared: sqlite3.Connection | None = None
        # A store dropped without close() (a rebuilt config, a test) closes its connections
        # when it is collected, as a connection pool does (Python 3.13 warns otherwise).
        weakref.finalize(self, _close_connections, self.__dict__)
        self._writes = itertools.count(1)
        t = f'"{table}"'
        locks = f'"{table}_lock"'
        live = "(expire IS NULL OR expire > ?)"
        self._sql_get = f"SELECT sess FROM {t} WHERE sid = ? AND {live}"
        self._sql_set = (
            f"INSERT INTO {t} (sid, sess, expire) VALUES (?, ?, ?) "
            "ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire"
        )
        # connect-pg-simple's touch: only the expiry moves; the stored JSON (and its version)
        # stays as it is. A missing or expired session is left alone.
        self._sql_touch = f"UPDATE {t} SET expire = ? WHERE sid = ? AND {live}"
        self._sql_destroy = f"DELETE FROM {t} WHERE sid = ?"
        # A value that is not a session record goes, unless rewritten since it was read.
        self._sql_discard = f"DELETE FROM {t} WHERE sid = ? AND sess = ?"
        self._sql_raw_get = f"SELECT sess FROM {t} WHERE sid = ?"
        self._sql_all = f"SELECT sid, sess FROM {t} WHERE {live}"
        self._sql_length = f"SELECT COUNT(*) FROM {t} WHERE {live}"
        self._sql_clear = f"DELETE FROM {t}"
        self._sql_prune = (
            f"DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE expire <= ? LIMIT ?)"
        )
        self._sql_prune_locks = f"DELETE FROM {locks} WHERE expire <= ?"
        # Capabilities. Conditional writes, params: sid, text, expire, now (+ version).
        self._sql_get_versioned = f"SELECT sess, expire FROM {t} WHERE sid = ? AND {live}"
        self._sql_create_if_absent = (
            f"INSERT INTO {t} (sid, sess, expire) VALUES (?, ?, ?) "
            "ON CONFLICT (sid) DO UPDATE SET sess = excluded.sess, expire = excluded.expire "
            f"WHERE {t}.expire IS NOT NULL AND {t}.expire <= ?"
        )
        self._sql_update_if = (
            f"UPDATE {t} SET sess = ?, expire = ? "
            f"WHERE sid = ? AND {live} AND coatcheck_sha1(sess) = ?"
        )
        # Params: sid, token, lock expiry, now. Changes one row iff the lock was taken.
        self._sql_lock = (
            f"INSERT INTO {locks} (sid, token, expire) VALUES (?, ?, ?) "
            "ON CONFLICT (sid) DO UPDATE SET token = excluded.token, expire = excluded.expire "
            f"WHERE {locks}.expire <= ?"
        )
        self._sql_unlock = f"DELETE FROM {locks} WHERE sid = ? AND token = ?"
        schema = (
            f"CREATE TABLE IF NOT EXISTS {t} "
            "(sid TEXT PRIMARY KEY NOT NULL, sess TEXT NOT NULL, expire REAL)",
            f'CREATE INDEX IF NOT EXISTS "{table}_expire_idx" ON {t} (expire)',
            f"CREATE TABLE IF NOT EXISTS {locks} "
            "(sid TEXT PRIMARY KEY NOT NULL, token TEXT NOT NULL, expire REAL NOT NULL)",
        )
        self._in_memory = self._path in (":memory:", "")
        try:
            with self._connection("open") as conn:
                if not self._in_memory:
                    # Persistent in the file; readers no longer block the writer, nor it them.
                    conn.execute("PRAGMA journal_mode = WAL")
                for statement in schema:
                    conn.execute(statement)
        except StoreError as exc:
            # Name the file: "unable to open database file" alone does not say which one.
            where = os.path.abspath(self._path) if not self._in_memory else self._path
            exc.args = (f"{exc} (SQLite database {where!r}{_open_hint(where)})",)
            self.close()
            raise

    # -- the store contract -------------------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        """The stored record, or ``None`` if missing or expired (or not a session record:
        then it is destroyed, see ``_discard``)."""
        with self._connection("get", sid) as conn:
            row = conn.execute(self._sql_get, (sid, self._now_ms())).fetchone()
        if row is None:
            return None
        record = decode_stored(row[0], sid, "sqlite")
        if record is None:
            self._discard(sid, row[0])
        return record

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """Insert or replace ``sid`` in one statement (validated before anything is written)."""
        text = encode_record(record)
        expire = self._expire_ms(record)
        with self._connection("set", sid) as conn:
            conn.execute(self._sql_set, (sid, text, expire))
            self._maybe_prune(conn)

    def destroy(self, sid: str) -> None:
        """Delete ``sid``; an unknown id is not an error."""
        with self._connection("destroy", sid) as conn:
            conn.execute(self._sql_destroy, (sid,))

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        """A new expiry in one ``UPDATE``; the stored JSON is left as it is (as connect-redis
        and connect-pg-simple do), so its version does not change. A missing or expired
        session stays missing."""
        validate_record(record)
        with self._connection("touch", sid) as conn:
            conn.execute(self._sql_touch, (self._expire_ms(record), sid, self._now_ms()))

    # -- concurrency capabilities -------------------------------------------------------------

    def get_versioned(self, sid: str) -> Versioned | None:
        """The record, the SHA-1 of its stored text and its ``expire``, in one ``SELECT``."""
        with self._connection("get", sid) as conn:
            row = conn.execute(self._sql_get_versioned, (sid, self._now_ms())).fetchone()
        return self._versioned(sid, row)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        """Write only if the stored text still hashes to ``version`` (``None``: only if no live
        row exists), in one statement; with ``unlock``, the lock goes in the same transaction."""
        if version is not None and not isinstance(version, str):
            raise TypeError(f"version must be a str or None, not {type(version).__name__}")
        text = encode_record(record)
        expire, now = self._expire_ms(record), self._now_ms()
        params: tuple[Any, ...]
        if version is None:
            query, params = self._sql_create_if_absent, (sid, text, expire, now)
        else:
            query, params = self._sql_update_if, (text, expire, sid, now, version)
        with self._connection("set", sid) as conn:
            if unlock is None:
                written = conn.execute(query, params).rowcount > 0
            else:
                with _transaction(conn):
                    written = conn.execute(query, params).rowcount > 0
                    conn.execute(self._sql_unlock, (sid, unlock))
            self._maybe_prune(conn)
        return written

    def lock(self, sid: str, ttl: float) -> str | None:
        """Insert the lock row (or take over an expired one): a token, or ``None`` if held."""
        token, lease = _token(), _lease_ms(ttl)
        now = self._now_ms()
        with self._connection("lock", sid) as conn:
            taken = conn.execute(self._sql_lock, (sid, token, now + lease, now)).rowcount > 0
        return token if taken else None

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        """Delete the lock row if ``token`` holds it; ``touch`` then moves the expiry in the
        same transaction, held or not (a non-holder's unlock releases nothing)."""
        with self._connection("unlock", sid) as conn:
            if touch is None:
                conn.execute(self._sql_unlock, (sid, token))
                return
            validate_record(touch)
            with _transaction(conn):
                conn.execute(self._sql_unlock, (sid, token))
                conn.execute(self._sql_touch, (self._expire_ms(touch), sid, self._now_ms()))

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        """``lock`` and, if taken, ``get_versioned`` in one transaction."""
        token, lease = _token(), _lease_ms(ttl)
        now = self._now_ms()
        with self._connection("lock", sid) as conn, _transaction(conn):
            if conn.execute(self._sql_lock, (sid, token, now + lease, now)).rowcount == 0:
                return None, None
            row = conn.execute(self._sql_get_versioned, (sid, now)).fetchone()
        return token, self._versioned(sid, row)

    def all(self) -> dict[str, Record]:
        """Every live session keyed by id."""
        with self._connection("all") as conn:
            rows = conn.execute(self._sql_all, (self._now_ms(),)).fetchall()
        decoded = ((sid, decode_record(text)) for sid, text in rows)
        return {sid: record for sid, record in decoded if record is not None}

    def length(self) -> int:
        """How many live sessions there are."""
        with self._connection("length") as conn:
            (count,) = conn.execute(self._sql_length, (self._now_ms(),)).fetchone()
        return int(count)

    def clear(self) -> None:
        """Delete every row of this store's table."""
        with self._connection("clear") as conn:
            conn.execute(self._sql_clear)

    # -- sessions of a user (DESIGN "Sessions of a user") ---------------------------------------
    # The index is SQLite's own: an expression index on the user key inside ``sess``, kept by
    # every statement that writes a row (set, touch, set_if ...) in the same transaction.

    def _user_expr(self, user_key: str) -> str:
        # json_valid first: a row that is not JSON (a foreign writer) must not break writes.
        return f"(CASE WHEN json_valid(sess) THEN json_extract(sess, '$.\"{user_key}\"') END)"

    def _user_index_enabled(self, user_key: str) -> None:
        index = f'"{self._table}_user_{user_key}_idx"'
        with self._connection("index_users") as conn:
            conn.execute(
                f'CREATE INDEX IF NOT EXISTS {index} ON "{self._table}" '
                f"({self._user_expr(user_key)})"
            )

    def _user_where(self) -> str:
        return (
            f'"{self._table}" WHERE {self._user_expr(self._require_user_key())} IN (?, ?) '
            "AND (expire IS NULL OR expire > ?)"
        )

    @staticmethod
    def _user_params(user: str) -> tuple[Any, Any]:
        """The user as text and, when it is a decimal integer, as the JSON number too."""
        as_int: Any = int(user) if user.isdecimal() and user.isascii() else user
        return (user, as_int)

    def sessions_of(self, user: str) -> dict[str, Record]:
        """Every live session whose ``record[user_key]`` is ``user``, by id (index lookup)."""
        query = f"SELECT sid, sess FROM {self._user_where()}"
        with self._connection("sessions_of") as conn:
            rows = conn.execute(query, (*self._user_params(user), self._now_ms())).fetchall()
        decoded = ((sid, decode_record(text)) for sid, text in rows)
        return {sid: record for sid, record in decoded if record is not None}

    def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Delete every live session of ``user`` except ``keep`` in one statement; how many."""
        query = f"DELETE FROM {self._user_where()} AND sid IS NOT ?"
        with self._connection("destroy_user") as conn:
            params = (*self._user_params(user), self._now_ms(), keep)
            return int(conn.execute(query, params).rowcount)

    # -- the stored bytes (the contract suite's raw hooks) --------------------------------------

    def raw_get(self, sid: str) -> bytes | None:
        """The stored JSON of ``sid`` as UTF-8, expired or not (``None``: no row)."""
        with self._connection("get", sid) as conn:
            row = conn.execute(self._sql_raw_get, (sid,)).fetchone()
        return None if row is None else str(row[0]).encode("utf-8", "surrogatepass")

    def raw_set(self, sid: str, data: bytes) -> None:
        """Store ``data`` unchanged as a foreign writer would; the expiry is read from the
        record inside (unreadable data lives as a browser session)."""
        text = data.decode("utf-8")
        record = decode_record(text) or {}
        try:
            expire = self._expire_ms(record)
        except InvalidRecordError:
            expire = self._expire_ms({})
        with self._connection("set", sid) as conn:
            conn.execute(self._sql_set, (sid, text, expire))

    # -- maintenance --------------------------------------------------------------------------

    def prune(self, batch_size: int = 500) -> int:
        """Delete rows whose expiry has passed, ``batch_size`` at a time; return how many.

        Each batch is its own short transaction, so other writers get the lock in between.
        Expired locks go too. ``NULL``-expiry rows (written by older versions) are kept.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError("batch_size", f"must be a positive int, not {batch_size!r}")
        removed = 0
        with self._connection("prune") as conn:
            while True:
                deleted = conn.execute(self._sql_prune, (self._now_ms(), batch_size)).rowcount
                removed += deleted
                if deleted < batch_size:
                    conn.execute(self._sql_prune_locks, (self._now_ms(),))
                    return removed

    def close(self) -> None:
        """Close every connection; further calls raise ``StoreError``."""
        with self._pool_lock:
            self._closed = True
            _close_connections(self.__dict__)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _now_ms(self) -> float:
        return _epoch_ms(self._clock())

    def _versioned(self, sid: str, row: tuple[Any, ...] | None) -> Versioned | None:
        if row is None:
            return None
        text, expire = row
        record = decode_stored(text, sid, "sqlite")
        if record is None:
            self._discard(sid, text)
            return None
        expires = None if expire is None else _EPOCH + timedelta(milliseconds=expire)
        return Versioned(record, _sha1(text), expires)

    def _discard(self, sid: str, text: Any) -> None:
        """Destroy a stored value that is not a session record, as the core destroys any
        invalid record (issue 10.7), unless it was rewritten since it was read. A failure
        only logs: the read itself succeeded, and the value is ignored either way."""
        try:
            with self._connection("destroy", sid) as conn:
                conn.execute(self._sql_discard, (sid, text))
        except StoreError as exc:
            logger.warning("SQLiteStore: could not destroy an invalid record: %s", exc)

    def _expire_ms(self, record: Mapping[str, Any]) -> float:
        """The row's expiry: ``cookie.expires``, or one day from now for a browser-session
        record (connect-redis's and connect-pg-simple's default), so abandoned ones go too."""
        return _epoch_ms(store_expiry(record, self._clock()))

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        """Every few writes, delete one batch of expired rows; every many, checkpoint the WAL
        with TRUNCATE. Failures only log: the write itself succeeded."""
        count = next(self._writes)
        if count % _PRUNE_EVERY_WRITES:
            return
        try:
            conn.execute(self._sql_prune, (self._now_ms(), _PRUNE_BATCH_ON_WRITE))
            if not self._in_memory and count % _CHECKPOINT_EVERY_WRITES == 0:
                self._checkpoint(conn)
        except sqlite3.Error as exc:
            logger.warning("SQLiteStore: opportunistic prune failed: %s", exc)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """``wal_checkpoint(TRUNCATE)`` behind the gate, waiting briefly for the operations in
        flight (another process's busy readers: it does what it can, the next one finishes)."""
        with self._checkpoint_gate:
            conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS}")
            try:
                # Another connection's automatic checkpoint (at a commit in flight) makes it
                # BUSY at once, without waiting: try again once those have drained.
                for _ in range(_CHECKPOINT_TRIES):
                    (busy, _, _), *_ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                    if not busy:
                        return
                    time.sleep(0.001)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    def _open(self) -> sqlite3.Connection:
        # Autocommit (isolation_level=None): each statement is its own transaction unless we
        # BEGIN one. check_same_thread=False: the pool hands a connection to one thread at a
        # time, and close() may run on another.
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("PRAGMA synchronous = NORMAL")  # durable with WAL, minus fsync per write
            conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
            conn.create_function("coatcheck_sha1", 1, _sha1, deterministic=True)
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self, operation: str, sid: str | None = None) -> _Lease:
        """Lend a connection for one operation; ``sqlite3`` errors become ``StoreError``."""
        return _Lease(self, operation, sid)

    def _shared_connection(self) -> sqlite3.Connection:
        """The one ``":memory:"`` connection (each connection would be a different database)."""
        if self._closed:
            raise sqlite3.ProgrammingError("the store is closed")
        if self._shared is None:
            self._shared = self._open()
        return self._shared

    def _checkout(self) -> sqlite3.Connection:
        if self._checkpoint_gate.locked():  # a checkpoint is running: wait for it to finish
            with self._checkpoint_gate:
                pass
        with self._pool_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, conn: sqlite3.Connection, healthy: bool) -> None:
        with self._pool_lock:
            if healthy and not self._closed and len(self._idle) < _MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()


class _Lease:
    """``with store._connection(operation, sid) as conn``: a pooled connection for one operation
    (the one shared connection of a ``":memory:"`` database, under the pool's lock), given back
    after it; a ``sqlite3`` error becomes ``StoreError`` naming the operation, and the
    connection it came from is closed instead of pooled. (A class, not a ``@contextmanager``
    generator: this runs on every store call, and the generator machinery cost more than the
    pooling itself.)"""

    __slots__ = ("conn", "operation", "sid", "store")

    def __init__(self, store: SQLiteStore, operation: str, sid: str | None) -> None:
        self.store, self.operation, self.sid = store, operation, sid

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        try:
            if store._in_memory:  # the pool's lock is held until __exit__: one user at a time
                store._pool_lock.acquire()
                try:
                    conn = store._shared_connection()
                except BaseException:
                    store._pool_lock.release()
                    raise
            else:
                conn = store._checkout()
        except sqlite3.Error as exc:
            raise StoreError(self.operation, self.sid, exc) from exc
        self.conn = conn
        return conn

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        store = self.store
        if store._in_memory:
            store._pool_lock.release()
        else:
            store._checkin(self.conn, healthy=not isinstance(exc, sqlite3.Error))
        if isinstance(exc, sqlite3.Error):
            raise StoreError(self.operation, self.sid, exc) from exc


def _open_hint(path: str) -> str:
    """Why a database file may not open, when the file system says so (else nothing)."""
    directory = os.path.dirname(path) or "."
    if not os.path.exists(directory):
        return f": the directory {directory!r} does not exist; create it or choose another path"
    if not os.path.isdir(directory):
        return f": {directory!r} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f": the directory {directory!r} is not writable by this process"
    return ""


def _close_connections(state: dict[str, Any]) -> None:
    """The pooled and shared connections of a store that is gone (its ``__dict__``)."""
    idle, state["_idle"] = state.get("_idle", []), []
    shared, state["_shared"] = state.get("_shared"), None
    for conn in idle:
        conn.close()
    if shared is not None:
        shared.close()


def _token() -> str:
    return secrets.token_hex(16)


def _lease_ms(ttl: float) -> float:
    """A lock's lifetime in ms; ``ValueError`` unless a positive, finite number of seconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
    return ttl * 1000.0


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock first, so read-then-write is atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
