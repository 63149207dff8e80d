"""MemoryStore: the contract (sync, and async through ``to_async``) plus its own promises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coatcheck._errors import ConfigError
from coatcheck.stores import AsyncStore, to_async
from coatcheck.stores.memory import MemoryStore, looks_like_production
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract, make_record


class TestMemoryStoreContract(StoreContract):
    @pytest.fixture
    def store(self, clock: FakeClock) -> MemoryStore:
        return MemoryStore(clock=clock)


class TestAsyncMemoryStoreContract(AsyncStoreContract):
    @pytest.fixture
    def store(self, clock: FakeClock) -> AsyncStore:
        return to_async(MemoryStore(clock=clock))


class TestCappedMemoryStoreContract(StoreContract):
    """A cap far above what the suite stores must change nothing."""

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
    assert store._sessions["sid"] == expected
    assert expected.startswith('{"cookie":{"originalMaxAge":60000,"expires":"')


def test_touch_keeps_key_order_of_stored_record(store: MemoryStore, clock: FakeClock) -> None:
    store.set("sid", make_record(clock(), 60, user="bob"))
    later = make_record(clock.advance(30), 60, other="x")
    store.touch("sid", later)
    stored = json.loads(store._sessions["sid"])
    assert list(stored) == ["cookie", "user"]
    assert stored["cookie"] == later["cookie"]


def test_one_request_visitors_do_not_grow_the_store(clock: FakeClock) -> None:
    """10,000 visitors with 1-minute sessions, one every 0.1 s: ~600 alive at any time."""
    store = MemoryStore(clock=clock)
    peak = 0
    for n in range(10_000):
        store.set(f"visitor-{n}", make_record(clock(), 60, n=n))
        clock.advance(0.1)
        peak = max(peak, len(store._sessions), len(store._heap))
    assert peak < 2_000
    assert store.length() <= 601


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
    assert set(store._sessions) == {"new"}


def test_browser_session_entries_are_never_pruned(store: MemoryStore, clock: FakeClock) -> None:
    store.set("browser", make_record(clock(), None, user="bob"))
    clock.advance(10 * 365 * 86400)
    store.set("new", make_record(clock(), 60))
    assert store.get("browser") == make_record(clock(), None, user="bob")


class TestMaxSessions:
    def test_evicts_the_entry_that_expires_soonest(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=3)
        store.set("late", make_record(clock(), 300))
        store.set("soon", make_record(clock(), 60))
        store.set("mid", make_record(clock(), 120))
        store.set("new", make_record(clock(), 600))
        assert sorted(store.all()) == ["late", "mid", "new"]
        store.set("newer", make_record(clock(), 600))
        assert sorted(store.all()) == ["late", "new", "newer"]

    def test_browser_sessions_go_last_least_recently_written_first(self, clock: FakeClock) -> None:
        store = MemoryStore(clock=clock, max_sessions=3)
        store.set("b1", make_record(clock(), None))
        store.set("b2", make_record(clock(), None))
        store.set("timed", make_record(clock(), 3600))
        store.set("b1", make_record(clock(), None, rewritten=True))  # b2 is now the oldest
        store.set("x", make_record(clock(), None))  # evicts "timed" (has an expiry)
        assert sorted(store.all()) == ["b1", "b2", "x"]
        store.set("y", make_record(clock(), None))  # then browser sessions, oldest write first
        assert sorted(store.all()) == ["b1", "x", "y"]

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
            assert len(store._sessions) <= 50
        assert store.length() == 50

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
    def test_rejects_a_bad_value(self, bad: Any) -> None:
        with pytest.raises(ConfigError) as info:
            MemoryStore(max_sessions=bad)
        assert info.value.option == "max_sessions"


def test_expired_record_set_replaces_the_stored_one(store: MemoryStore, clock: FakeClock) -> None:
    store.set("sid", make_record(clock(), 60))
    store.set("sid", make_record(clock(), -1))
    assert "sid" not in store._sessions
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
