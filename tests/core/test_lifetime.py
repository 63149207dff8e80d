"""Lifetimes and ids at rest (DESIGN): ``max_lifetime``, ``touch_after``, ``id_at_rest``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from coatcheck import ConfigError, StoreDestroy, StoreGet, SyncSession
from coatcheck._cycle import data_hash
from coatcheck.stores import MemoryStore, expires_at

from .cycle import (
    ID1,
    ID2,
    NOW,
    SECRET,
    STORED_ID,
    RecordingStore,
    cookie_header,
    given_stored,
    make_config,
    record,
    run_cycle,
)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


class ReportingStore(RecordingStore):
    """The recording store reporting each record's expiry with it, as ``get_with_expiry``
    (MemoryStore expires a record at its stored ``cookie.expires``, capped by the deadline)."""

    def get_with_expiry(self, sid: str) -> tuple[dict[str, Any], datetime | None] | None:
        self._call("get", sid)
        found = self.raw.get(sid) if sid in self.raw else self.inner.get(sid)
        return None if found is None else (found, expires_at(found))


def incr(session: SyncSession) -> None:
    session["n"] = session.get("n", 0) + 1


def read(session: SyncSession) -> None:
    dict(session)


# -- max_lifetime -------------------------------------------------------------------------------


def test_creation_time_is_stored_only_with_max_lifetime() -> None:
    plain = run_cycle(make_config(cookie={"max_age": 60}), handler=incr)
    assert list(plain.written()) == ["cookie", "n"]  # express's record, exactly
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600)
    first = run_cycle(config, handler=incr)
    stored = first.written()
    assert list(stored) == ["cookie", "_coatcheck", "n"]
    assert stored["_coatcheck"] == {"created": ms(NOW), "deadline": ms(NOW) + 3_600_000}


def test_the_reserved_key_is_invisible_to_the_app() -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600, resave=False)
    first = run_cycle(config, handler=incr)
    seen: dict[str, Any] = {}

    def look(session: SyncSession) -> None:
        seen.update(
            keys=list(session),
            length=len(session),
            contains="_coatcheck" in session,
            get=session.get("_coatcheck"),
            items=dict(session.items()),
            hash=data_hash(session),
        )
        for write in (
            lambda: session.__setitem__("_coatcheck", {"created": 0}),
            lambda: session.update({"_coatcheck": {}}),
            lambda: session.setdefault("_coatcheck", {}),
        ):
            with pytest.raises(KeyError):
                write()
        with pytest.raises(KeyError):
            session["_coatcheck"]

    again = run_cycle(config, cookie=first.cookie, now=at(5), handler=look)
    assert seen == {
        "keys": ["n"],
        "length": 1,
        "contains": False,
        "get": None,
        "items": {"n": 1},
        "hash": data_hash({"n": 1}),
    }
    assert again.methods == ["get", "touch"]  # unchanged: the hidden key is not a change


def test_replacing_the_data_cannot_smuggle_the_reserved_key_in() -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600)

    def replace(session: SyncSession) -> None:
        session.cycle.replace({"n": 5, "_coatcheck": {"created": 0}})

    result = run_cycle(config, handler=replace)
    assert result.written()["_coatcheck"]["created"] == ms(NOW)
    assert result.written()["n"] == 5


def test_a_session_past_max_lifetime_is_destroyed_and_a_fresh_one_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config(cookie={"max_age": 600}, max_lifetime=120, resave=False, rolling=True)
    first = run_cycle(config, handler=incr)
    cookie = first.cookie
    # an active visitor: every 50 s, well inside the idle timeout, with rolling
    for t in (50, 100):
        assert run_cycle(config, cookie=cookie, now=at(t), handler=read).methods == [
            "get",
            "touch",
        ]
    store = first.store
    store.raw[ID1] = store.stored(ID1)  # as a store that kept it past its TTL would return it
    with caplog.at_level(logging.DEBUG, logger="coatcheck"):
        late = run_cycle(config, cookie=cookie, now=at(120), handler=read)
    assert late.calls == [("get", ID1), ("destroy", ID1), ("set", ID2)]
    assert late.session.id == ID2
    assert dict(late.session) == {}
    assert late.written()["_coatcheck"]["created"] == ms(at(120))
    assert "past max_lifetime" in caplog.text


def test_store_expiry_never_passes_the_deadline() -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=100, resave=False)
    first = run_cycle(config, handler=incr)
    touched = run_cycle(config, cookie=first.cookie, now=at(50), handler=read)
    assert touched.methods == ["get", "touch"]
    record_ = touched.written("touch")
    assert record_["cookie"]["expires"] == record(60, now=at(50))["cookie"]["expires"]
    assert expires_at(record_) == at(100)  # the cookie says 110 s; the store's expiry is 100
    store = first.store
    store.now = at(100) - timedelta(milliseconds=1)
    assert store.stored(ID1) is not None
    store.now = at(100)
    assert store.stored(ID1) is None  # MemoryStore dropped it by itself, to the millisecond


def test_browser_session_records_get_the_deadline_as_their_store_expiry() -> None:
    config = make_config(max_lifetime=100)
    first = run_cycle(config, handler=incr)
    assert first.written()["cookie"]["expires"] is None
    assert expires_at(first.written()) == at(100)


@pytest.mark.parametrize(
    ("keep_data", "renew", "created"),
    [(True, False, NOW), (True, True, at(30)), (False, False, at(30))],
)
def test_regenerate_keeps_the_creation_time_only_when_keeping_data(
    keep_data: bool, renew: bool, created: datetime
) -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600)
    first = run_cycle(config, handler=incr)

    def login(session: SyncSession) -> None:
        session.regenerate(keep_data=keep_data, renew=renew)

    result = run_cycle(config, cookie=first.cookie, now=at(30), handler=login)
    assert result.session.id == ID2
    assert result.written()["_coatcheck"]["created"] == ms(created)


def test_a_record_from_before_the_option_is_stamped_on_its_first_load() -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600, resave=False)
    cookie = given_stored(config, user="bob")  # express's record: no creation time
    result = run_cycle(config, cookie=cookie, now=at(5), handler=read)
    assert result.methods == ["get", "set"]  # the stamp is stored once ...
    assert result.written()["_coatcheck"]["created"] == ms(at(5))
    assert result.set_cookie is None  # ... and the data did not change
    assert run_cycle(config, cookie=cookie, now=at(6), handler=read).methods == ["get", "touch"]


def test_the_reserved_key_is_carried_along_when_the_option_is_off() -> None:
    config = make_config(cookie={"max_age": 60})
    stored = record(60, user="bob")
    stored["_coatcheck"] = {"created": 1, "deadline": ms(at(3600)), "future": True}
    config.store.put(STORED_ID, stored)
    result = run_cycle(config, cookie=cookie_header(STORED_ID), handler=incr)
    assert dict(result.session) == {"user": "bob", "n": 1}
    assert result.written()["_coatcheck"] == stored["_coatcheck"]


def test_junk_in_the_reserved_key_is_a_new_creation_time_not_an_error() -> None:
    config = make_config(cookie={"max_age": 60}, max_lifetime=3600)
    stored = {**record(60, user="bob"), "_coatcheck": {"created": "yesterday", "deadline": []}}
    config.store.raw[STORED_ID] = stored
    result = run_cycle(config, cookie=cookie_header(STORED_ID), handler=read)
    assert dict(result.session) == {"user": "bob"}
    assert result.written()["_coatcheck"]["created"] == ms(NOW)


@pytest.mark.parametrize("value", [0, -1, "1h", True, float("inf")])
def test_max_lifetime_must_be_positive_seconds(value: Any) -> None:
    with pytest.raises(ConfigError, match="max_lifetime"):
        make_config(max_lifetime=value)


def test_max_lifetime_accepts_a_timedelta() -> None:
    assert make_config(max_lifetime=timedelta(hours=8)).max_lifetime == 8 * 3600


# -- touch_after --------------------------------------------------------------------------------


def throttled(**options: Any) -> Any:
    options.setdefault("cookie", {"max_age": 60})
    return make_config(resave=False, touch_after=10, store=ReportingStore(), **options)


def test_an_unchanged_session_is_touched_only_once_the_stored_expiry_lags() -> None:
    config = throttled()
    first = run_cycle(config, handler=incr)  # stored expiry: NOW + 60
    cookie = first.cookie
    assert run_cycle(config, cookie=cookie, now=at(5), handler=read).methods == ["get"]
    assert run_cycle(config, cookie=cookie, now=at(10), handler=read).methods == ["get"]
    touched = run_cycle(config, cookie=cookie, now=at(10.001), handler=read)
    assert touched.methods == ["get", "touch"]
    assert expires_at(touched.written("touch")) == at(70.001)
    assert run_cycle(config, cookie=cookie, now=at(15), handler=read).methods == ["get"]


def test_changes_are_saved_whatever_touch_after_says() -> None:
    config = throttled()
    first = run_cycle(config, handler=incr)
    assert run_cycle(config, cookie=first.cookie, now=at(1), handler=incr).methods == [
        "get",
        "set",
    ]


def test_throttled_sessions_still_expire_on_time() -> None:
    """The store's expiry is never later than the idle timeout after the last request, and
    at most ``touch_after`` earlier; once it passes, the session is gone."""
    config = throttled()
    cookie = run_cycle(config, handler=incr).cookie
    store = config.store
    last = NOW
    for t in range(3, 200, 7):
        last = at(t)
        result = run_cycle(config, cookie=cookie, now=last, handler=read)
        assert result.session.id == ID1
        stored = store.stored(ID1)
        assert stored is not None
        expiry = expires_at(stored)
        assert expiry is not None
        assert last + timedelta(seconds=50) <= expiry <= last + timedelta(seconds=60)
    expiry = expires_at(store.stored(ID1) or {})
    assert expiry is not None
    store.now = expiry - timedelta(milliseconds=1)
    assert store.stored(ID1) is not None
    store.now = expiry
    assert store.stored(ID1) is None
    gone = run_cycle(config, cookie=cookie, now=expiry, handler=read)
    assert gone.session.id == ID2


def test_with_rolling_the_cookie_is_sent_exactly_when_the_store_is_touched() -> None:
    config = throttled(rolling=True)
    cookie = run_cycle(config, handler=incr).cookie
    for t in (2, 9, 11, 14, 22, 30):
        result = run_cycle(config, cookie=cookie, now=at(t), handler=read)
        touched = "touch" in result.methods
        assert (result.set_cookie is not None) == touched, t
    stored = config.store.stored(ID1)
    assert stored is not None
    assert stored["cookie"]["expires"] == record(60, now=at(22))["cookie"]["expires"]


def test_the_deadline_caps_the_touch_target() -> None:
    """Near the absolute deadline a touch cannot extend the record: none is sent."""
    config = throttled(max_lifetime=65)
    cookie = run_cycle(config, handler=incr).cookie  # store expiry NOW + 60
    result = run_cycle(config, cookie=cookie, now=at(30), handler=read)
    assert result.methods == ["get"]  # a touch would give min(NOW+90, NOW+65): lag 5 < 10


def test_browser_session_records_without_store_expiry_are_not_touched() -> None:
    config = throttled(cookie={"max_age": None})
    cookie = run_cycle(config, handler=incr).cookie
    assert run_cycle(config, cookie=cookie, now=at(3600), handler=read).methods == ["get"]


def test_a_store_that_reports_no_expiry_is_touched_every_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="coatcheck"):
        config = make_config(resave=False, touch_after=10, cookie={"max_age": 60})
    assert "touch_after has no effect" in caplog.text
    cookie = run_cycle(config, handler=incr).cookie
    assert run_cycle(config, cookie=cookie, now=at(1), handler=read).methods == ["get", "touch"]


def test_touch_after_needs_resave_false() -> None:
    with pytest.raises(ConfigError, match="touch_after"):
        make_config(resave=True, touch_after=10)
    with pytest.raises(ConfigError, match="touch_after"):
        make_config(resave=False, touch_after=-1)


def test_unset_options_read_with_get() -> None:
    """Nothing changes when the options are unset: express's ``get``, no extra work."""
    config = make_config(store=ReportingStore())
    assert config.expiry_read == "get"
    assert throttled().expiry_read == "get_with_expiry"


# -- id_at_rest ---------------------------------------------------------------------------------


def at_rest_key(secret: str, sid: str) -> str:
    """The documented mapping, computed independently of the code under test."""
    derived = hmac.new(secret.encode(), b"coatcheck id-at-rest v1", hashlib.sha256).digest()
    mac = hmac.new(derived, sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_with_hmac_the_store_never_sees_the_id(caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(id_at_rest="hmac", resave=False, cookie={"max_age": 60})
    key1, key2 = at_rest_key(SECRET, ID1), at_rest_key(SECRET, ID2)
    with caplog.at_level(logging.DEBUG, logger="coatcheck"):
        first = run_cycle(config, handler=incr)
        again = run_cycle(config, cookie=first.cookie, now=at(1), handler=read)
        changed = run_cycle(config, cookie=first.cookie, now=at(2), handler=incr)

        def relogin(session: SyncSession) -> None:
            session.regenerate(keep_data=True)
            session.save()

        moved = run_cycle(config, cookie=first.cookie, now=at(3), handler=relogin)
        run_cycle(config, cookie=moved.cookie, now=at(4), handler=lambda s: s.destroy())
    assert first.session.id == ID1
    assert first.calls == [("set", key1)]
    assert again.calls == [("get", key1), ("touch", key1)]
    assert changed.calls == [("get", key1), ("set", key1)]
    assert moved.calls == [("get", key1), ("destroy", key1), ("set", key2)]
    every_call = first.store.calls
    assert {sid for _, sid in every_call} == {key1, key2}
    assert ID1 not in caplog.text
    assert ID2 not in caplog.text
    assert key1[:6] in caplog.text
    assert first.store.stored(key2) is None  # destroyed


def test_rotation_moves_a_record_to_the_current_secrets_key() -> None:
    old = make_config(id_at_rest="hmac", resave=False, secret="old secret")
    first = run_cycle(old, handler=incr)
    config = make_config(
        id_at_rest="hmac", resave=False, secret=["new secret", "old secret"], store=old.store
    )
    new_key, old_key = at_rest_key("new secret", ID1), at_rest_key("old secret", ID1)
    moved = run_cycle(config, cookie=first.cookie, now=at(1), handler=read)
    assert moved.calls == [
        ("get", new_key),
        ("get", old_key),
        ("set", new_key),
        ("destroy", old_key),
    ]
    assert dict(moved.session) == {"n": 1}
    assert moved.set_cookie is None  # same id, same cookie: only the store key moved
    assert old.store.stored(old_key) is None
    assert old.store.stored(new_key) == moved.written()
    again = run_cycle(config, cookie=first.cookie, now=at(2), handler=read)
    assert again.calls == [("get", new_key), ("touch", new_key)]


def test_a_session_found_under_an_old_key_is_destroyed_there_too() -> None:
    old = make_config(id_at_rest="hmac", secret="old secret")
    first = run_cycle(old, handler=incr)
    config = make_config(id_at_rest="hmac", secret=["new secret", "old secret"], store=old.store)
    new_key, old_key = at_rest_key("new secret", ID1), at_rest_key("old secret", ID1)
    result = run_cycle(config, cookie=first.cookie, now=at(1), handler=lambda s: s.destroy())
    assert result.calls == [
        ("get", new_key),
        ("get", old_key),
        ("destroy", new_key),
        ("destroy", old_key),
    ]


def test_an_unknown_id_is_looked_up_under_every_secrets_key() -> None:
    config = make_config(id_at_rest="hmac", secret=["new secret", "old secret"])
    result = run_cycle(config, cookie=cookie_header(STORED_ID, "old secret"), handler=read)
    assert result.calls == [
        ("get", at_rest_key("new secret", STORED_ID)),
        ("get", at_rest_key("old secret", STORED_ID)),
        ("set", at_rest_key("new secret", ID1)),
    ]


def test_plain_ids_are_the_store_keys() -> None:
    config = make_config()
    cookie = given_stored(config, user="bob")
    assert run_cycle(config, cookie=cookie, handler=read).calls[0] == ("get", STORED_ID)


def test_id_at_rest_is_validated_and_refused_for_a_store_shared_with_node() -> None:
    with pytest.raises(ConfigError, match="id_at_rest"):
        make_config(id_at_rest="sha1")
    store = MemoryStore()
    store.shared_with_node = True  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="Node"):
        make_config(id_at_rest="hmac", store=store)
    assert make_config(store=store).id_at_rest == "plain"


def test_reload_reads_where_the_record_is() -> None:
    old = make_config(id_at_rest="hmac", secret="old secret")
    first = run_cycle(old, handler=incr)
    config = make_config(id_at_rest="hmac", secret=["new secret", "old secret"], store=old.store)
    old_key = at_rest_key("old secret", ID1)
    ops: list[Any] = []

    def reload(session: SyncSession) -> None:
        ops.extend(session.cycle.reload())

    run_cycle(config, cookie=first.cookie, now=at(1), handler=reload)
    assert ops == [StoreGet(old_key)]


def test_destroy_operations_name_keys_not_ids() -> None:
    config = make_config(id_at_rest="hmac")
    result = run_cycle(config, handler=incr)
    destroyed: list[Any] = []
    run_cycle(
        config,
        cookie=result.cookie,
        now=at(1),
        handler=lambda s: destroyed.extend(s.cycle.destroy()),
    )
    assert destroyed == [StoreDestroy(at_rest_key(SECRET, ID1))]


class CountingMemoryStore(MemoryStore):
    """MemoryStore (every capability) on a settable clock, noting each call's method name."""

    def __init__(self) -> None:
        self.now = NOW
        self.methods: list[str] = []
        super().__init__(clock=lambda: self.now)

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name in {"get", "set", "touch", "destroy", "get_versioned", "set_if"} | {
            "lock",
            "unlock",
            "get_locked",
        }:
            methods = super().__getattribute__("methods")

            def noted(*args: Any, **kwargs: Any) -> Any:
                methods.append(name)
                return value(*args, **kwargs)

            return noted
        return value


@pytest.mark.parametrize(
    ("concurrency", "throttled", "due"),
    [
        ("merge", ["get_versioned"], ["get_versioned", "touch"]),
        ("lock", ["get_locked", "unlock"], ["get_locked", "unlock"]),
        ("none", ["get_versioned"], ["get_versioned", "touch"]),
    ],
)
def test_touch_after_in_every_concurrency_mode(
    concurrency: str, throttled: list[str], due: list[str]
) -> None:
    """The expiry comes with the mode's own read; a lock is released whether or not the touch
    is skipped (in ``"lock"`` the touch rides on the unlock)."""
    store = CountingMemoryStore()
    assert store.lock(ID2, 1) is not None  # (the capabilities are really there)
    store.methods.clear()
    config = make_config(
        store=store,
        resave=False,
        touch_after=10,
        concurrency=concurrency,
        cookie={"max_age": 60},
    )
    cookie = run_driver(config, store, NOW, None, incr)
    store.methods.clear()
    run_driver(config, store, at(5), cookie, read)
    assert store.methods == throttled
    kept = store.get_versioned(ID1)
    assert kept is not None
    assert kept.expires_at == at(60)  # not touched
    store.methods.clear()
    run_driver(config, store, at(20), cookie, read)
    assert store.methods == due
    stored = store.get_versioned(ID1)
    assert stored is not None
    assert stored.expires_at == at(80)


def run_driver(
    config: Any, store: CountingMemoryStore, now: datetime, cookie: str | None, handler: Any
) -> str:
    from coatcheck import RequestReceived, SyncDriver

    store.now = now
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=now, cookie_header=cookie, path="/"))
    assert cycle is not None
    handler(cycle.session)
    decision = driver.end(cycle, now)
    return cookie if decision.set_cookie is None else decision.set_cookie.split(";", 1)[0]
