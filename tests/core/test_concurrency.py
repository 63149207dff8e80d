"""Concurrent requests of one session, driven step by step (DESIGN "Concurrency").

Two (or more) cycles of the same session are interleaved explicitly: ``a = d.begin(...)``,
``b = d.begin(...)``, then their ends in a chosen order. The store is a small versioned store
(``tests/core/versioned.py``) that logs every call, so round trips are asserted exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from coatcheck import (
    AsyncDriver,
    AsyncSession,
    ConfigError,
    RequestReceived,
    SessionBusy,
    SessionConfig,
    SessionConflict,
    SessionCycle,
    SessionGone,
    SessionLockTimeout,
    StoreError,
    SyncDriver,
    SyncSession,
)
from coatcheck.stores import Versioned, to_async

from .cycle import (
    NOW,
    SECRET,
    STORED_ID,
    RecordingStore,
    SequentialIds,
    cookie_header,
    make_id,
    record,
)
from .versioned import LoggedMemoryStore, VersionedStore

CLEARING = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
Store = VersionedStore | LoggedMemoryStore
StoreFactory = Callable[..., Store]


@pytest.fixture(params=[VersionedStore, LoggedMemoryStore], ids=["test-store", "MemoryStore"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Each test runs on the small versioned test store and on the shipped MemoryStore."""
    factory: StoreFactory = request.param
    return factory


Driver = SyncDriver[SyncSession]
Cycle = SessionCycle[SyncSession]


def config_for(store: Any, concurrency: str = "merge", **options: Any) -> SessionConfig:
    options.setdefault("resave", False)
    options.setdefault("save_uninitialized", False)
    options.setdefault("genid", SequentialIds())
    return SessionConfig.from_options(
        secret=SECRET, store=store, concurrency=concurrency, **options
    )


def req(cookie: str | None) -> RequestReceived:
    return RequestReceived(now=NOW, cookie_header=cookie, path="/")


def stored_session(store: Store, **data: Any) -> str:
    """A session saved by an earlier request; returns the browser's Cookie header."""
    store.put(STORED_ID, record(60, **data))
    return cookie_header(STORED_ID)


def begin(driver: Driver, cookie: str | None) -> Cycle:
    cycle = driver.begin(req(cookie))
    assert cycle is not None
    return cycle


def data_of(store: Store, sid: str = STORED_ID) -> dict[str, Any] | None:
    stored = store.stored(sid)
    return None if stored is None else {k: v for k, v in stored.items() if k != "cookie"}


# -- no resurrection ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["merge", "lock"])
def test_a_logout_is_never_undone_by_a_request_that_loaded_before_it(
    mode: str, caplog: pytest.LogCaptureFixture, make_store: StoreFactory
) -> None:
    caplog.set_level(logging.INFO, logger="coatcheck")
    store = make_store()
    d: Driver = SyncDriver(config_for(store, mode))
    c = stored_session(store, user="bob")
    a = begin(d, c)
    # Under "lock" a second request would wait for a's lock; a writer that does not lock
    # (another service, a revoke) can still delete the session meanwhile.
    b = begin(d if mode == "merge" else SyncDriver(config_for(store, "merge")), c)
    b.session.destroy()
    destroyed = SyncDriver(b.config).end(b)
    assert destroyed.set_cookie is not None
    assert CLEARING in destroyed.set_cookie
    a.session["x"] = 1
    decision = d.end(a)
    assert store.stored(STORED_ID) is None
    assert decision.interrupted
    assert decision.set_cookie is not None
    assert decision.set_cookie.startswith("connect.sid=;")
    assert CLEARING in decision.set_cookie
    assert store.locks == {}
    (info,) = [r for r in caplog.records if "deleted elsewhere" in r.getMessage()]
    assert info.levelno == logging.INFO
    assert STORED_ID[:6] in info.getMessage()
    assert STORED_ID not in info.getMessage()


def test_the_issue_repro_with_none_is_express_exactly(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "none"))
    c = stored_session(store, user="bob")
    a, b = begin(d, c), begin(d, c)
    b.session.destroy()
    d.end(b)
    a.session["x"] = 1
    decision = d.end(a)
    assert data_of(store) == {"user": "bob", "x": 1}  # the logout undone, as in express
    assert not decision.interrupted
    assert store.methods() == ["get", "get", "destroy", "set"]


def test_a_touch_of_a_destroyed_session_does_not_recreate_it(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, user="bob")
    a, b = begin(d, c), begin(d, c)
    b.session.destroy()
    d.end(b)
    assert a.session["user"] == "bob"  # read only: a touch at the end
    d.end(a)
    assert store.stored(STORED_ID) is None
    assert store.methods()[-1] == "touch"


def test_explicit_save_of_a_destroyed_session_writes_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, user="bob")
    a, b = begin(d, c), begin(d, c)
    b.session.destroy()
    d.end(b)
    a.session["x"] = 1
    a.session.save()
    assert store.stored(STORED_ID) is None
    assert a.interrupted
    with pytest.raises(SessionGone) as raised:
        a.session.save(strict=True)
    assert STORED_ID not in str(raised.value)
    decision = d.end(a)
    assert decision.interrupted
    assert decision.set_cookie is not None
    assert CLEARING in decision.set_cookie
    assert store.stored(STORED_ID) is None


def test_strict_save_raises_session_gone_the_first_time(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, user="bob")
    a = begin(d, c)
    store.forget(STORED_ID)  # deleted by another process
    a.session["x"] = 1
    with pytest.raises(SessionGone):
        a.session.save(strict=True)
    assert store.empty()
    assert d.end(a).interrupted


def test_a_new_session_is_written_only_if_its_id_is_absent(make_store: StoreFactory) -> None:
    store = make_store()
    config = config_for(store)
    d: Driver = SyncDriver(config)
    taken = make_id(1)
    store.put(taken, record(60, owner="someone else"))
    a = begin(d, None)
    assert a.session.id == taken
    a.session["x"] = 1
    decision = d.end(a)
    assert data_of(store, taken) == {"owner": "someone else"}  # never overwritten
    assert data_of(store, make_id(2)) == {"x": 1}  # a fresh id, tried once more
    assert a.session.id == make_id(2)
    assert decision.set_cookie is not None
    assert decision.set_cookie.startswith("connect.sid=" + cookie_header(make_id(2)).split("=")[1])
    assert store.methods() == ["set_if", "set_if"]


def test_a_second_collision_is_a_store_error(make_store: StoreFactory) -> None:
    store = make_store()
    config = config_for(store, genid=lambda request: "always-the-same-id-abcdefghijklmn")
    store.put("always-the-same-id-abcdefghijklmn", record(60, owner="someone else"))
    d: Driver = SyncDriver(config)
    a = begin(d, None)
    a.session["x"] = 1
    with pytest.raises(StoreError, match="set_if"):
        d.end(a)
    assert data_of(store, "always-the-same-id-abcdefghijklmn") == {"owner": "someone else"}


# -- merge -------------------------------------------------------------------------------------
def test_merge_costs_no_extra_round_trip_without_a_conflict(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, n=1)
    a = begin(d, c)
    a.session["n"] += 1
    decision = d.end(a)
    assert store.methods() == ["get_versioned", "set_if"]
    assert data_of(store) == {"n": 2}
    assert not decision.interrupted
    b = begin(d, c)
    assert b.session["n"] == 2
    d.end(b)
    assert store.methods()[2:] == ["get_versioned", "touch"]


def test_merge_keeps_changes_to_different_keys(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, shared="old")
    a, b = begin(d, c), begin(d, c)
    a.session["x"] = 1
    b.session["y"] = 2
    d.end(a)
    d.end(b)
    assert data_of(store) == {"shared": "old", "x": 1, "y": 2}
    assert store.methods() == [
        "get_versioned",
        "get_versioned",
        "set_if",  # a
        "set_if",  # b: refused (a wrote)
        "get_versioned",
        "set_if",  # b again, a's x kept
    ]
    assert dict(b.session) == {"shared": "old", "x": 1, "y": 2}  # b sees the merged data


def test_merge_same_key_the_later_write_wins(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, cart=["apple"])
    a, b = begin(d, c), begin(d, c)
    a.session["cart"].append("pear")  # a nested change counts as a change of the key
    b.session["cart"] = ["plum"]
    d.end(a)
    d.end(b)
    assert data_of(store) == {"cart": ["plum"]}


def test_merge_deleted_keys_stay_deleted_and_others_survive(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, flash="hello", keep=1, theirs=0)
    a, b = begin(d, c), begin(d, c)
    del a.session["flash"]
    b.session["theirs"] = 5
    d.end(b)
    d.end(a)
    assert data_of(store) == {"keep": 1, "theirs": 5}


def test_merge_a_key_deleted_elsewhere_but_changed_here_is_kept(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, k=1)
    a, b = begin(d, c), begin(d, c)
    del b.session["k"]
    a.session["k"] = 2
    d.end(b)
    d.end(a)
    assert data_of(store) == {"k": 2}


def test_merge_compares_values_as_json(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store, flag=1, pair=[1, 2])
    a, b = begin(d, c), begin(d, c)
    a.session["flag"] = True  # == 1 in Python, a change in JSON
    a.session["pair"] = (1, 2)  # the same JSON: not a change
    b.session["pair"] = [3]
    d.end(b)
    d.end(a)
    assert data_of(store) == {"flag": True, "pair": [3]}


def test_merge_retries_are_bounded() -> None:
    class AlwaysBusy(VersionedStore):
        """Another writer gets in between every reload and write."""

        def get_versioned(self, sid: str) -> Versioned | None:
            result = super().get_versioned(sid)
            stored = self.stored(sid)
            assert stored is not None
            stored["other"] = stored.get("other", 0) + 1
            self.put(sid, stored)
            return result

    store = AlwaysBusy()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store)
    a = begin(d, c)
    a.session["x"] = 1
    with pytest.raises(SessionConflict) as raised:
        d.end(a)
    assert isinstance(raised.value, SessionBusy)
    assert store.methods().count("set_if") == 4  # the first attempt and 3 retries


def test_merge_takes_their_cookie_settings_when_only_they_changed_them(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store)
    a, b = begin(d, c), begin(d, c)
    b.session.cookie.max_age = 3600  # e.g. "remember me"
    b.session["remember"] = True
    a.session["x"] = 1
    d.end(b)
    d.end(a)
    stored = store.stored(STORED_ID)
    assert stored is not None
    assert stored["cookie"]["originalMaxAge"] == 3600_000
    assert list(stored) == ["cookie", "remember", "x"]
    assert a.session.cookie.original_max_age == 3600


def test_merge_keeps_my_cookie_settings_when_i_changed_them(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store)
    a, b = begin(d, c), begin(d, c)
    a.session.cookie.max_age = 120
    a.session["x"] = 1
    b.session["y"] = 2
    d.end(b)
    d.end(a)
    stored = store.stored(STORED_ID)
    assert stored is not None
    assert stored["cookie"]["originalMaxAge"] == 120_000
    assert data_of(store) == {"y": 2, "x": 1}


def test_a_late_save_rereads_the_version_it_does_not_know(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store))
    c = stored_session(store)
    a = begin(d, c)
    a.session["x"] = 1
    d.end(a)
    store.put(STORED_ID, {**(store.stored(STORED_ID) or {}), "other": 1})  # someone else
    a.session["late"] = 2  # a streaming body changed it after the headers
    d.end_late(a)
    assert data_of(store) == {"x": 1, "other": 1, "late": 2}
    assert store.methods() == ["get_versioned", "set_if", "get_versioned", "set_if"]


def test_merge_on_a_store_without_versions_warns_once_and_writes_plainly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="coatcheck")
    store = RecordingStore()
    config = config_for(store)
    (warning,) = caplog.records
    assert "RecordingStore" in warning.getMessage()
    assert "merge" in warning.getMessage()
    assert not config.versioned
    d: Driver = SyncDriver(config)
    a = begin(d, None)
    a.session["x"] = 1
    d.end(a)
    assert [m for m, _ in store.calls] == ["set"]
    assert len(caplog.records) == 1


# -- lock --------------------------------------------------------------------------------------
def test_lock_serialises_requests_of_one_session(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock", lock_timeout=0.02))
    c = stored_session(store, n=0)
    a = begin(d, c)
    with pytest.raises(SessionLockTimeout) as raised:
        begin(d, c)
    assert isinstance(raised.value, SessionBusy)
    assert STORED_ID not in str(raised.value)
    a.session["n"] += 1
    d.end(a)
    b = begin(d, c)
    b.session["n"] += 1
    d.end(b)
    assert data_of(store) == {"n": 2}
    assert store.locks == {}


def test_lock_costs_no_extra_round_trip(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock"))
    c = stored_session(store, n=0)
    a = begin(d, c)
    a.session["n"] += 1
    d.end(a)
    assert store.methods() == ["get_locked", "set_if"]  # lock+get, set+unlock
    b = begin(d, c)
    assert b.session["n"] == 1
    d.end(b)
    assert store.methods()[2:] == ["get_locked", "unlock"]  # lock+get, touch+unlock
    assert store.locks == {}


def test_lock_without_get_locked_uses_lock_then_get_versioned(make_store: StoreFactory) -> None:
    store = make_store(get_locked=False)
    d: Driver = SyncDriver(config_for(store, "lock"))
    c = stored_session(store, n=0)
    a = begin(d, c)
    a.session["n"] += 1
    d.end(a)
    assert store.methods() == ["lock", "get_versioned", "set_if"]
    assert data_of(store) == {"n": 1}
    assert store.locks == {}


def test_lock_is_released_when_the_app_fails(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock", lock_timeout=0.02))
    c = stored_session(store, n=0)
    a = begin(d, c)
    a.session["n"] = 99  # then the app raises: nothing is written
    d.abort(a)
    d.abort(a)  # harmless twice
    assert store.locks == {}
    assert data_of(store) == {"n": 0}
    b = begin(d, c)
    d.end(b)
    d.abort(b)  # harmless after the end
    assert store.methods() == ["get_locked", "unlock", "get_locked", "unlock"]


def test_lock_is_released_when_the_final_write_fails() -> None:
    class FailingWrite(VersionedStore):
        def set_if(self, *args: Any, **kwargs: Any) -> bool:
            raise OSError("disk full")

    store = FailingWrite()
    d: Driver = SyncDriver(config_for(store, "lock"))
    a = begin(d, stored_session(store, n=0))
    a.session["n"] = 1
    with pytest.raises(StoreError, match="set_if"):
        d.end(a)
    assert store.locks == {}


def test_a_lock_expires_after_its_ttl(make_store: StoreFactory) -> None:
    store = make_store()
    config = config_for(store, "lock", lock_timeout=0.02, lock_ttl=5)
    assert config.lock_ttl == 5
    d: Driver = SyncDriver(config)
    c = stored_session(store, n=0)
    begin(d, c)  # a worker that died holding the lock
    store.now += 5
    b = begin(d, c)
    b.session["n"] = 1
    d.end(b)
    assert data_of(store) == {"n": 1}


def test_requests_without_a_valid_cookie_take_no_lock(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock"))
    a = begin(d, "connect.sid=s%3Aforged.signature")
    a.session["x"] = 1
    d.end(a)
    assert store.methods() == ["set_if"]


def test_a_stale_cookie_releases_the_lock_it_took(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock"))
    a = begin(d, cookie_header(STORED_ID))  # signed, but the record is gone
    a.session["x"] = 1
    d.end(a)
    assert store.methods() == ["get_locked", "set_if", "unlock"]
    assert store.locks == {}
    assert data_of(store, a.session.id) == {"x": 1}


def test_destroy_under_lock_releases_it(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock"))
    a = begin(d, stored_session(store, n=0))
    a.session.destroy()
    decision = d.end(a)
    assert decision.set_cookie is not None
    assert CLEARING in decision.set_cookie
    assert store.locks == {}
    assert store.empty()


def test_regenerate_under_lock_releases_the_old_id(make_store: StoreFactory) -> None:
    store = make_store()
    d: Driver = SyncDriver(config_for(store, "lock"))
    a = begin(d, stored_session(store, user="bob"))
    a.session.regenerate(keep_data=True)
    d.end(a)
    assert store.locks == {}
    assert store.stored(STORED_ID) is None
    assert data_of(store, a.session.id) == {"user": "bob"}


def test_a_driverless_cycle_never_locks(make_store: StoreFactory) -> None:
    """Django's ``SessionStore(key)`` builds its own cycle: no driver to release a lock."""
    store = make_store()
    config = config_for(store, "lock")
    cycle: Cycle = SessionCycle(config, req(stored_session(store)), SyncSession)
    assert type(cycle.begin()).__name__ == "StoreGetVersioned"


# -- async -------------------------------------------------------------------------------------
async def test_async_driver_through_to_async_refuses_resurrection_and_locks(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    adapter = to_async(store)
    for name in ("get_versioned", "set_if", "lock", "unlock", "get_locked"):
        assert hasattr(adapter, name)
    config = config_for(store, "lock", lock_timeout=0.02)
    d: AsyncDriver[AsyncSession] = AsyncDriver(config)
    c = stored_session(store, n=0)
    a = await d.begin(req(c))
    assert a is not None
    with pytest.raises(SessionLockTimeout):
        await d.begin(req(c))
    store.forget(STORED_ID)  # deleted by another process meanwhile
    a.session["n"] = 1
    decision = await d.end(a)
    assert decision.interrupted
    assert store.empty()
    assert store.locks == {}
    b = await d.begin(req(c))
    assert b is not None
    assert b.session.id != STORED_ID
    await d.abort(b)
    assert store.locks == {}


async def test_async_merge_of_different_keys(make_store: StoreFactory) -> None:
    store = make_store()
    d: AsyncDriver[AsyncSession] = AsyncDriver(config_for(store))
    c = stored_session(store)
    a, b = await d.begin(req(c)), await d.begin(req(c))
    assert a is not None
    assert b is not None
    a.session["x"] = 1
    b.session["y"] = 2
    await d.end(a)
    await d.end(b)
    assert data_of(store) == {"x": 1, "y": 2}


# -- options -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"concurrency": "optimistic"}, "concurrency"),
        ({"concurrency": None}, "concurrency"),
        ({"lock_timeout": 0}, "lock_timeout"),
        ({"lock_timeout": -1}, "lock_timeout"),
        ({"lock_timeout": "10"}, "lock_timeout"),
        ({"lock_timeout": float("inf")}, "lock_timeout"),
        ({"lock_ttl": 0}, "lock_ttl"),
        ({"concurrency": "lock", "store": RecordingStore()}, "concurrency"),
    ],
)
def test_invalid_concurrency_options_name_the_option(
    options: Mapping[str, Any], option: str
) -> None:
    options = {"store": VersionedStore(), **options}
    with pytest.raises(ConfigError) as raised:
        SessionConfig.from_options(secret=SECRET, resave=False, save_uninitialized=False, **options)
    assert raised.value.option == option


def test_concurrency_defaults() -> None:
    config = config_for(VersionedStore(), "merge")
    assert (config.concurrency, config.lock_timeout, config.lock_ttl) == ("merge", 10.0, 10.0)
    assert config.versioned
    assert not config.locking
    assert config_for(VersionedStore(), "lock", lock_timeout=30).lock_ttl == 30
    none = config_for(VersionedStore(), "none")
    assert not none.versioned
    assert not none.locking


@pytest.mark.parametrize("mode", ["merge", "lock"])
def test_hmac_ids_at_rest_keep_the_guarantees(mode: str) -> None:
    """With ``id_at_rest="hmac"`` versions and locks are those of the store key, not the id."""
    store = LoggedMemoryStore()
    config = config_for(store, mode, id_at_rest="hmac")
    key = config.ids_at_rest.key(STORED_ID)
    store.put(key, record(60, user="bob"))
    d: Driver = SyncDriver(config)
    c = cookie_header(STORED_ID)
    a = begin(d, c)
    other = d if mode == "merge" else SyncDriver(config_for(store, "merge", id_at_rest="hmac"))
    b = begin(other, c)
    b.session["y"] = 2
    other.end(b)
    a.session["x"] = 1
    d.end(a)
    assert data_of(store, key) == {"user": "bob", "y": 2, "x": 1}
    assert store.stored(STORED_ID) is None  # the id itself never reaches the store
    assert not store.locks
    a, b = begin(d, c), begin(other, c)
    b.session.destroy()
    other.end(b)
    a.session["z"] = 3
    assert d.end(a).interrupted
    assert store.stored(key) is None
