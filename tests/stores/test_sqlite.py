"""SQLiteStore: the contract on a file and in memory (sync and via ``to_async``), plus what an
embedded database owes: WAL, an expiry index, batched pruning, several processes, restarts."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from coatcheck._errors import ConfigError, StoreError
from coatcheck.stores import AsyncStore, to_async
from coatcheck.stores import sqlite as sqlite_module
from coatcheck.stores.sqlite import SQLiteStore
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract, make_record

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["file", ":memory:"])
def sqlite_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[SQLiteStore]:
    path = tmp_path / "sessions.sqlite3" if request.param == "file" else ":memory:"
    with SQLiteStore(path, clock=clock) as store:
        yield store


class TestSQLiteStoreContract(StoreContract):
    touch_updates_stored_cookie = False  # one UPDATE of expire, as connect-pg-simple's touch
    reports_expiry = True  # get_versioned reports the expire column

    @pytest.fixture
    def store(self, sqlite_store: SQLiteStore) -> SQLiteStore:
        return sqlite_store


class TestAsyncSQLiteStoreContract(AsyncStoreContract):
    touch_updates_stored_cookie = False  # one UPDATE of expire, as connect-pg-simple's touch
    reports_expiry = True  # get_versioned reports the expire column

    @pytest.fixture
    def store(self, sqlite_store: SQLiteStore) -> AsyncStore:
        return to_async(sqlite_store)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.sqlite3"


@pytest.fixture
def store(path: Path, clock: FakeClock) -> Iterator[SQLiteStore]:
    with SQLiteStore(path, clock=clock) as store:
        yield store


def _raw(path: Path, sql: str, *params: Any) -> list[Any]:
    """Query the file behind the store's back."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_file_runs_in_wal_mode(store: SQLiteStore, path: Path) -> None:
    assert _raw(path, "PRAGMA journal_mode") == [("wal",)]


def test_table_and_expire_index_exist(path: Path, clock: FakeClock) -> None:
    with SQLiteStore(path, table="app_sessions", clock=clock):
        pass
    indexes = _raw(
        path,
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
        "app_sessions",
    )
    assert [name for name, sql in indexes if sql and "(expire)" in sql] == [
        "app_sessions_expire_idx"
    ]
    columns = [row[1] for row in _raw(path, "PRAGMA table_info(app_sessions)")]
    assert columns == ["sid", "sess", "expire"]


def test_row_holds_express_json_and_epoch_ms(
    store: SQLiteStore, path: Path, clock: FakeClock
) -> None:
    record = make_record(clock(), 60, user="bob")
    store.set("with-expiry", record)
    store.set("browser", make_record(clock(), None))
    rows = {sid: (sess, expire) for sid, sess, expire in _raw(path, "SELECT * FROM sessions")}
    sess, expire = rows["with-expiry"]
    assert sess == (
        '{"cookie":{"originalMaxAge":60000,"expires":"'
        + record["cookie"]["expires"]
        + '","httpOnly":true,"path":"/"},"user":"bob"}'
    )
    assert expire == (clock() - EPOCH) // timedelta(milliseconds=1) + 60_000
    # A browser-session record lives one day from its write (connect-redis's default).
    assert rows["browser"][1] == (clock() - EPOCH) // timedelta(milliseconds=1) + 86_400_000


def test_ids_are_parameters_not_sql(store: SQLiteStore, clock: FakeClock) -> None:
    sid = "x'); DROP TABLE sessions; --"
    record = make_record(clock(), 60, user="bob")
    store.set(sid, record)
    assert store.get(sid) == record
    assert store.length() == 1


class TestPrune:
    def test_removes_only_expired_rows_in_batches(
        self, store: SQLiteStore, path: Path, clock: FakeClock
    ) -> None:
        for n in range(1234):
            store.set(f"old-{n}", make_record(clock(), 60))
        store.set("edge", make_record(clock(), 120))  # expires exactly at the prune's now
        live = {f"live-{n}": make_record(clock(), 3600, n=n) for n in range(20)}
        live["browser"] = make_record(clock(), None, user="bob")
        for sid, record in live.items():
            store.set(sid, record)
        clock.advance(120)
        assert store.prune(batch_size=100) == 1235
        assert store.all() == live
        assert _raw(path, "SELECT COUNT(*) FROM sessions") == [(len(live),)]
        assert store.prune() == 0

    @pytest.mark.parametrize("bad", [0, -5, 2.5, True])
    def test_rejects_a_bad_batch_size(self, store: SQLiteStore, bad: Any) -> None:
        with pytest.raises(ConfigError):
            store.prune(batch_size=bad)

    def test_writes_prune_opportunistically(
        self, store: SQLiteStore, path: Path, clock: FakeClock
    ) -> None:
        every = sqlite_module._PRUNE_EVERY_WRITES
        batch = sqlite_module._PRUNE_BATCH_ON_WRITE
        for n in range(batch):
            store.set(f"old-{n}", make_record(clock(), 60))
        clock.advance(61)
        for n in range(2 * every):
            store.set(f"new-{n}", make_record(clock(), 60))
        assert _raw(path, "SELECT COUNT(*) FROM sessions WHERE sid LIKE 'old-%'") == [(0,)]
        assert store.length() == 2 * every


def test_browser_session_rows_live_a_day_from_their_last_write_or_touch(
    store: SQLiteStore, path: Path, clock: FakeClock
) -> None:
    """Changed on purpose (issue 10.10): they were kept forever, so abandoned browser sessions
    piled up; now they live one day, as with connect-redis / connect-pg-simple."""
    record = make_record(clock(), None, user="bob")
    store.set("browser", record)
    clock.advance(86_000)
    store.touch("browser", record)
    clock.advance(86_000)
    assert store.prune() == 0
    assert store.get("browser") == record
    clock.advance(401)
    assert store.get("browser") is None
    assert store.prune() == 1
    # Rows of an older version (NULL expiry) are still read, and not pruned.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO sessions VALUES ('old', ?, NULL)", ('{"cookie":{"expires":null}}',)
        )
    conn.close()
    assert store.get("old") == {"cookie": {"expires": None}}
    assert store.prune() == 0


def test_a_path_that_cannot_be_opened_fails_at_construction_naming_it(tmp_path: Path) -> None:
    """Issue 10.4: not at the first request, and the message says which file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cases = [
        (tmp_path / "missing-dir" / "sessions.sqlite3", "does not exist; create it"),
        (blocker / "sessions.sqlite3", "is not a directory"),
    ]
    for path, why in cases:
        with pytest.raises(StoreError) as info:
            SQLiteStore(path)
        assert info.value.operation == "open"
        assert str(path) in str(info.value)
        assert why in str(info.value)  # and what to do about it
        assert isinstance(info.value.cause, sqlite3.OperationalError)


def test_never_blocks_by_default_and_on_request(path: Path) -> None:
    """Async adapters call it inline (a local file: ~20 µs a statement) unless told not to."""
    with SQLiteStore(path) as inline, SQLiteStore(path, never_blocks=False) as threaded:
        assert inline.never_blocks is True
        assert threaded.never_blocks is False
    with pytest.raises(ConfigError):
        SQLiteStore(path, never_blocks="yes")  # type: ignore[arg-type]


def test_soak_rows_and_wal_stay_near_the_live_size(path: Path, clock: FakeClock) -> None:
    """Issue 10.10: 20,000 one-request visitors with a 60 s max_age, one every 30 ms of fake
    time (about 2,000 live at any moment), with no prune() call: the table holds about the
    live sessions, and the WAL stays bounded."""
    with SQLiteStore(path, clock=clock) as store:
        for n in range(20_000):
            store.set(f"visitor-{n:05d}", make_record(clock(), 60, n=n))
            clock.advance(0.03)
        live = store.length()
        (rows,) = _raw(path, "SELECT COUNT(*) FROM sessions")[0]
        assert 1_900 <= live <= 2_001
        assert rows <= live + 2 * sqlite_module._PRUNE_BATCH_ON_WRITE
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size <= sqlite_module._JOURNAL_SIZE_LIMIT + 1024 * 1024


def test_data_survives_a_restart(path: Path, clock: FakeClock) -> None:
    record = make_record(clock(), 3600, user="bob")
    with SQLiteStore(path, clock=clock) as first:
        first.set("sid", record)
    with SQLiteStore(path, clock=clock) as second:
        assert second.get("sid") == record


def test_tables_in_one_file_are_independent(path: Path, clock: FakeClock) -> None:
    with (
        SQLiteStore(path, table="a", clock=clock) as a,
        SQLiteStore(path, table="b", clock=clock) as b,
    ):
        a.set("sid", make_record(clock(), 60, owner="a"))
        b.set("sid", make_record(clock(), 60, owner="b"))
        a.clear()
        assert a.get("sid") is None
        assert b.get("sid") == make_record(clock(), 60, owner="b")


@pytest.mark.parametrize(
    "table", ["sessions; DROP TABLE x", "1sessions", "", "a-b", 'x"y', "sessions ", "ünï"]
)
def test_bad_table_name_is_a_config_error(path: Path, table: str) -> None:
    with pytest.raises(ConfigError) as info:
        SQLiteStore(path, table=table)
    assert info.value.option == "table"
    assert not path.exists()


@pytest.mark.parametrize("bad", [-1, "5", None])
def test_bad_busy_timeout_is_a_config_error(path: Path, bad: Any) -> None:
    with pytest.raises(ConfigError):
        SQLiteStore(path, busy_timeout=bad)


class TestFailures:
    def test_locked_database_raises_store_error_naming_the_operation(
        self, path: Path, clock: FakeClock
    ) -> None:
        sid = "locked-session-id-0123456789"
        with SQLiteStore(path, clock=clock, busy_timeout=0.05) as store:
            holder = sqlite3.connect(path, isolation_level=None)
            try:
                holder.execute("BEGIN EXCLUSIVE")
                calls: list[tuple[str, Callable[[], object]]] = [
                    ("set", lambda: store.set(sid, make_record(clock(), 60))),
                    ("touch", lambda: store.touch(sid, make_record(clock(), 60))),
                    ("destroy", lambda: store.destroy(sid)),
                ]
                for operation, call in calls:
                    with pytest.raises(StoreError) as info:
                        call()
                    assert info.value.operation == operation
                    assert isinstance(info.value.cause, sqlite3.OperationalError)
                    assert "locked" in str(info.value)
                    assert sid not in str(info.value)  # only a prefix may reach logs
                holder.execute("ROLLBACK")
            finally:
                holder.close()
            store.set(sid, make_record(clock(), 60))  # recovers once the lock is gone
            assert store.get(sid) is not None

    def test_file_that_is_not_a_database_fails_to_open(self, path: Path) -> None:
        path.write_bytes(b"this is not an sqlite database, just some bytes " * 100)
        with pytest.raises(StoreError) as info:
            SQLiteStore(path)
        assert info.value.operation == "open"
        assert isinstance(info.value.cause, sqlite3.DatabaseError)

    def test_table_dropped_behind_the_store_names_the_operation(
        self, store: SQLiteStore, path: Path, clock: FakeClock
    ) -> None:
        store.set("sid", make_record(clock(), 60))
        _raw(path, "DROP TABLE sessions")
        calls: list[tuple[str, Callable[[], object]]] = [
            ("get", lambda: store.get("sid")),
            ("set", lambda: store.set("sid", make_record(clock(), 60))),
            ("all", store.all),
            ("length", store.length),
            ("prune", store.prune),
        ]
        for operation, call in calls:
            with pytest.raises(StoreError) as info:
                call()
            assert info.value.operation == operation
            assert "no such table" in str(info.value)

    @pytest.mark.parametrize("where", ["file", ":memory:"])
    def test_closed_store_raises_store_error(self, tmp_path: Path, where: str) -> None:
        store = SQLiteStore(tmp_path / "s.sqlite3" if where == "file" else ":memory:")
        store.close()
        with pytest.raises(StoreError) as info:
            store.get("sid")
        assert info.value.operation == "get"
        assert "closed" in str(info.value)


def _write_many(path: str, prefix: str, count: int, barrier: Any) -> None:
    """Runs in a child process: write ``count`` sessions as fast as possible."""
    with SQLiteStore(path, busy_timeout=30) as store:
        barrier.wait(timeout=60)
        for n in range(count):
            store.set(f"{prefix}-{n}", make_record(store._clock(), 3600, writer=prefix, n=n))


def test_two_processes_writing_one_file_lose_nothing(path: Path) -> None:
    with SQLiteStore(path):  # create the schema and WAL before the writers race
        pass
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    count = 300
    workers = [
        ctx.Process(target=_write_many, args=(str(path), prefix, count, barrier))
        for prefix in ("p1", "p2")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    for worker in workers:
        worker.close()
    with SQLiteStore(path) as store:
        stored = store.all()
    assert len(stored) == 2 * count
    assert all(stored[f"{p}-{n}"]["n"] == n for p in ("p1", "p2") for n in range(count))


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '"a string"',
        '{"user": "bob"}',
        '{"cookie": 1}',
        f'{{"cookie":{{}},"d":{_deep(2000)}}}',
    ],
    ids=["not-json", "string", "no-cookie", "cookie-not-object", "nested-2000-deep"],
)
def test_a_stored_value_that_is_no_record_reads_as_none_and_warns_once(
    store: SQLiteStore, path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # issue 10.8: as Redis and PostgreSQL do (a row written by another process, or corrupted)
    sid = "0123456789abcdefghijklmnopqrstuv"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO sessions (sid, sess, expire) VALUES (?, ?, NULL)", (sid, text))
    conn.close()
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        assert store.get(sid) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "sqlite store" in caplog.text
    assert "012345" in caplog.text
    assert sid not in caplog.text


def test_a_store_dropped_without_close_closes_its_connections(tmp_path: Path) -> None:
    """A config rebuilt under ``override_settings`` drops its store unclosed: the store's
    connections are closed when it is collected (Python 3.13 warns about unclosed ones)."""
    store = SQLiteStore(tmp_path / "dropped.sqlite3")
    store.set("abc", {"cookie": {"originalMaxAge": None, "expires": None}})
    (conn,) = store._idle
    del store
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
