"""MemoryStore: the contract (sync, and async through ``to_async``) plus its own promises."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from coatcheck import RequestReceived, SessionConfig, SyncDriver, SyncSession
from coatcheck._errors import ConfigError
from coatcheck.stores import AsyncStore, to_async
from coatcheck.stores.memory import MemoryStore, looks_like_production
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract, make_record


class TestMemoryStoreContract(StoreContract):
    reports_expiry = True  # get_versioned reports the entry's expiry

    @pytest.fixture
    def store(self, clock: FakeClock) -> MemoryStore:
        return MemoryStore(clock=clock)


class TestAsyncMemoryStoreContract(AsyncStoreContract):
    reports_expiry = True  # get_versioned reports the entry's expiry

    @pytest.fixture
    def store(self, clock: FakeClock) -> AsyncStore:
        return to_async(MemoryStore(clock=clock))


class TestCappedMemoryStoreContract(StoreContract):
    """A cap far above what the suite stores must change nothing."""

    reports_expiry = True  # get_versioned reports the entry's expiry

    @pytest.fixture
    def store(self, clock: FakeClock) -> MemoryStore:
        return MemoryStore(clock=clock, max_sessions=1000)


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock=clock)


def test_stores_express_json_string(store: MemoryStore, clock: FakeClock) -> None:
    record = make_record(clock(), 60, user="bob", greeting="Grüße 🎟️")
    store.set("sid", record)
    expected = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    assert store._entries["sid"].text == expected
    assert expected.startswith('{"cookie":{"originalMaxAge":60000,"expires":"')


def test_touch_keeps_key_order_of_stored_record(store: MemoryStore, clock: FakeClock) -> None:
    store.set("sid", make_record(clock(), 60, user="bob"))
    later = make_record(clock.advance(30), 60, other="x")
    store.touch("sid", later)
    stored = json.loads(store._entries["sid"].text)
    assert list(stored) == ["cookie", "user"]
    assert stored["cookie"] == later["cookie"]


@pytest.mark.parametrize("cookie_first", [True, False])
def test_touch_rewrites_the_cookie_and_keeps_the_data_text_exactly(
    store: MemoryStore, clock: FakeClock, cookie_first: bool
) -> None:
    """A touch replaces the stored cookie's JSON, wherever the cookie sits, and leaves every
    byte of the data as it was (non-ASCII, escaped surrogates, floats, nesting)."""
    data = {"u": "Grüße \ud800", "f": 0.1, "n": [1, {"k": None}], "e": {}, "s": '"}{,'}
    first = make_record(clock(), 60)
    record = {"cookie": first["cookie"], **data} if cookie_first else {**data, **first}
    store.set("sid", record)
    later = make_record(clock.advance(30), 60)
    store.touch("sid", later)
    expected = {"cookie": later["cookie"], **data} if cookie_first else {**data, **later}
    assert store._entries["sid"].text == json.dumps(
        expected, separators=(",", ":"), ensure_ascii=False
    ).replace("\ud800", "\\ud800")
    assert store.get("sid") == expected


def test_one_request_visitors_do_not_grow_the_store(clock: FakeClock) -> None:
    """10,000 visitors with 1-minute sessions, one every 0.1 s: ~600 alive at any time."""
    store = MemoryStore(clock=clock)
    peak = 0
    for n in range(10_000):
        store.set(f"visitor-{n}", make_record(clock(), 60, n=n))
        clock.advance(0.1)
        peak = max(peak, len(store._entries), len(store._heap))
    assert peak < 2_000
    assert store.length() <= 601


def test_soak_one_request_visitors_with_express_defaults(clock: FakeClock) -> None:
    """Issue 10.9, bounded: 10,500 new visitors through the core with express's defaults (no
    ``max_age``: browser-session records) leave the default cap of 10,000 entries, and none
    once a day has passed without them coming back."""
    store = MemoryStore(clock=clock)
    driver: SyncDriver[SyncSession] = SyncDriver(
        SessionConfig.from_options(
            secret="s" * 32, store=store, resave=False, save_uninitialized=True
        )
    )
    for n in range(10_500):
        cycle = driver.begin(RequestReceived(now=clock(), path="/", cookie_header=None))
        assert cycle is not None
        cycle.session["visitor"] = n
        driver.end(cycle)
        clock.advance(0.5)
    assert len(store._entries) == 10_000
    assert len(store._heap) < 25_000
    clock.advance(86400)
    assert store.length() == 0
    assert len(store._entries) == 0


def test_rewritten_long_lived_session_does_not_grow_the_heap(clock: FakeClock) -> None:
    """Stale heap entries (one per rewrite) are compacted away, not kept for a year."""
    store = MemoryStore(clock=clock)
    for n in range(5_000):
        last = make_record(clock(), 365 * 86400, n=n)
        store.set("regular", last)
        clock.advance(1)
    assert len(store._heap) < 200
    assert store.get("regular") == last


def test_stale_heap_entry_does_not_expire_a_rewritten_session(
    store: MemoryStore, clock: FakeClock
) -> None:
    store.set("sid", make_record(clock(), 60, v=1))
    store.set("sid", make_record(clock(), 3600, v=2))  # old (t+60, sid) entry now stale
    clock.advance(120)
    store.set("other", make_record(clock(), 60))  # a write pops the stale entry
    got = store.get("sid")
    assert got is not None
    assert got["v"] == 2


def test_destroyed_then_recreated_session_survives_its_old_expiry(
    store: MemoryStore, clock: FakeClock
) -> None:
    store.set("sid", make_record(clock(), 60, v=1))
    store.destroy("sid")
    store.set("sid", make_record(clock(), 60, v=2))
    touched = make_record(clock(), 3600)
    store.touch("sid", touched)
    clock.advance(120)
    store.set("other", make_record(clock(), 60))  # pops both stale (t+60, "sid") entries
    assert store.get("sid") == {"cookie": touched["cookie"], "v": 2}


def test_expired_entries_are_pruned_by_writes_without_reads(
    store: MemoryStore, clock: FakeClock
) -> None:
    for n in range(5):
        store.set(f"old-{n}", make_record(clock(), 60))
    clock.advance(61)
    store.set("new", make_record(clock(), 60))
    assert set(store._entries) == {"new"}


def test_browser_session_entries_expire_after_a_day_idle(
    store: MemoryStore, clock: FakeClock
) -> None:
    """Issue 10.9: express's stores (connect-redis, connect-pg-simple) keep them one day."""
    store.set("idle", make_record(clock(), None, user="bob"))
    store.set("active", make_record(clock(), None, user="alice"))
    clock.advance(86400 - 60)
    store.touch("active", make_record(clock(), None))  # express touches on every request
    assert store.get("idle") is not None
    clock.advance(60)
    assert store.get("idle") is None
    clock.advance(86400 - 61)
    store.set("new", make_record(clock(), 60))
    assert store.get("active") is not None
    assert set(store._entries) == {"active", "new"}


def test_browser_sessions_are_pruned_by_writes_without_reads(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock, max_sessions=None)
    for n in range(100):
        store.set(f"b{n}", make_record(clock(), None))
    clock.advance(86400)
    for n in range(20):
        store.set(f"new{n}", make_record(clock(), None))
    assert len(store._entries) == 20


def test_browser_session_ttl_none_keeps_them(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock, browser_session_ttl=None)
    store.set("browser", make_record(clock(), None, user="bob"))
    clock.advance(10 * 365 * 86400)
    store.set("new", make_record(clock(), 60))
    assert store.get("browser") == make_record(clock(), None, user="bob")


def test_browser_session_ttl_is_configurable(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock, browser_session_ttl=600)
    store.set("browser", make_record(clock(), None))
    found = store.get_versioned("browser")
    assert found is not None
    assert found.expires_at == clock() + timedelta(seconds=600)
    clock.advance(600)
    assert store.get("browser") is None


@pytest.mark.parametrize("bad", [0, -5, True, "3600", float("inf"), float("nan")])
def test_browser_session_ttl_rejects_a_bad_value(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        MemoryStore(browser_session_ttl=bad)
    assert info.value.option == "browser_session_ttl"


class TestMaxSessions:
    def test_default_is_ten_thousand(self, clock: FakeClock) -> None:
        """Issue 10.9: the default store is bounded (200,000 visitors left 200,000 entries)."""
        store = MemoryStore(clock=clock)
        for n in range(10_050):
            store.set(f"v{n}", make_record(clock(), None, n=n))
        assert store.length() == 10_000
        assert store.get("v49") is None
        assert store.get("v50") is not None

    def test_evicts_the_least_recently_used(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=3)
        store.set("a", make_record(clock(), 300))
        store.set("b", make_record(clock(), None))
        store.set("c", make_record(clock(), 60))
        store.get("a")  # a is now the most recently used: b is idle longest
        store.set("new", make_record(clock(), 600))
        assert sorted(store.all()) == ["a", "c", "new"]
        store.touch("c", make_record(clock(), 60))
        store.set("newer", make_record(clock(), 600))
        assert sorted(store.all()) == ["c", "new", "newer"]

    def test_warns_once_when_it_first_evicts(
        self, clock: FakeClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        store = MemoryStore(clock=clock, max_sessions=2)
        with caplog.at_level(logging.WARNING, logger="coatcheck"):
            for n in range(2):
                store.set(f"s{n}", make_record(clock(), 60))
            assert caplog.records == []
            for n in range(2, 6):
                store.set(f"s{n}", make_record(clock(), 60))
        assert len(caplog.records) == 1
        assert "max_sessions=2" in caplog.records[0].getMessage()

    def test_expired_entries_make_room_first(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=2)
        store.set("b", make_record(clock(), None))
        store.set("short", make_record(clock(), 10))
        clock.advance(11)
        store.set("new", make_record(clock(), 60))
        assert sorted(store.all()) == ["b", "new"]

    def test_overwriting_a_known_id_evicts_nothing(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=2)
        store.set("a", make_record(clock(), 60))
        store.set("b", make_record(clock(), 120))
        store.set("a", make_record(clock(), 60, v=2))
        assert sorted(store.all()) == ["a", "b"]

    def test_never_exceeds_the_cap(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=50)
        for n in range(500):
            store.set(f"s{n}", make_record(clock(), None if n % 3 == 0 else 60 + n))
            assert len(store._entries) <= 50
        assert store.length() == 50

    def test_none_means_unbounded(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=None)
        for n in range(10_050):
            store.set(f"v{n}", make_record(clock(), None))
        assert store.length() == 10_050

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
    def test_rejects_a_bad_value(self, bad: Any) -> None:
        with pytest.raises(ConfigError) as info:
            MemoryStore(max_sessions=bad)
        assert info.value.option == "max_sessions"


def test_expired_record_set_replaces_the_stored_one(store: MemoryStore, clock: FakeClock) -> None:
    store.set("sid", make_record(clock(), 60))
    store.set("sid", make_record(clock(), -1))
    assert "sid" not in store._entries
    assert store.get("sid") is None


def test_naive_clock_is_read_as_utc() -> None:
    aware = FakeClock()
    store = MemoryStore(clock=lambda: aware().replace(tzinfo=None))
    store.set("sid", make_record(aware(), 60))
    assert store.get("sid") is not None
    aware.advance(61)
    assert store.get("sid") is None


def test_is_declared_never_blocking() -> None:
    assert MemoryStore.never_blocks is True


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("COATCHECK_ENV", "APP_ENV", "PYTHON_ENV", "ENV"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name", ["COATCHECK_ENV", "APP_ENV", "PYTHON_ENV", "ENV"])
@pytest.mark.parametrize("value", ["production", "Production", " PRODUCTION "])
def test_looks_like_production(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    assert looks_like_production() is True


@pytest.mark.parametrize("value", ["development", "prod", "staging", ""])
def test_does_not_look_like_production(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("ENV", value)
    assert looks_like_production() is False


def test_unset_env_is_not_production(clean_env: pytest.MonkeyPatch) -> None:
    assert looks_like_production() is False


def test_a_stored_value_that_is_no_record_reads_as_none_and_warns_once(
    store: MemoryStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # issue 10.8: as Redis and PostgreSQL do. ``set`` validates, so a value JSON cannot read
    # back (nested deeper than the parser goes) is put in behind its back.
    sid = "0123456789abcdefghijklmnopqrstuv"
    store._write(sid, '{"cookie":{},"d":' + "[" * 2000 + "]" * 2000 + "}", None, clock())
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        assert store.get(sid) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "memory store" in caplog.text
    assert "012345" in caplog.text
    assert sid not in caplog.text


def test_touch_keeps_the_stored_deadline(store: MemoryStore, clock: FakeClock) -> None:
    """With coatcheck's object after the cookie (``max_lifetime``), a touch keeps both it and
    the expiry it caps: the stored deadline, not the new cookie's later expiry."""
    deadline_ms = int(clock().timestamp() * 1000) + 90_000
    meta = {"created": deadline_ms - 3_600_000, "deadline": deadline_ms}
    first = make_record(clock(), 60)
    store.set("sid", {"cookie": first["cookie"], "_coatcheck": meta, "n": [1]})
    later = make_record(clock.advance(50), 60)
    store.touch("sid", later)
    entry = store._entries["sid"]
    assert json.loads(entry.text) == {"cookie": later["cookie"], "_coatcheck": meta, "n": [1]}
    assert entry.expires is not None
    assert int(entry.expires.timestamp() * 1000) == deadline_ms
