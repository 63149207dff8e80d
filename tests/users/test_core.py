"""The core's "sessions of a user" API: ``sessions_of``/``revoke`` (sync and async twins), the
``user_key`` option, and ``session.revoke_others()``/``revoke_all()`` through real request cycles.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from coatcheck import (
    AsyncDriver,
    ConfigError,
    RequestReceived,
    SessionConfig,
    SessionInfo,
    SyncDriver,
    revoke,
    revoke_async,
    sessions_of,
    sessions_of_async,
)
from coatcheck.stores import MemoryStore, SQLiteStore, to_async
from coatcheck.testing import make_record


def now() -> datetime:
    return datetime.now(timezone.utc)


def config(store: Any = None, **options: Any) -> SessionConfig:
    options.setdefault("user_key", "user")
    return SessionConfig.from_options(
        secret="s",
        store=store or MemoryStore(),
        resave=False,
        save_uninitialized=False,
        cookie={"max_age": 600},
        **options,
    )


def login(driver: SyncDriver[Any], user: str, cookie: str | None = None) -> tuple[str, str]:
    """One request that logs ``user`` in; returns (session id, the Cookie header to send)."""
    cycle = driver.begin(RequestReceived(now=now(), cookie_header=cookie, path="/"))
    assert cycle is not None
    cycle.session.regenerate()
    cycle.session["user"] = user
    decision = driver.end(cycle)
    assert decision.set_cookie is not None
    return cycle.session.id, decision.set_cookie.split(";")[0]


def test_user_key_is_validated_and_handed_to_the_store() -> None:
    store = MemoryStore()
    assert config(store).user_key == "user"
    assert store.user_key == "user"
    for bad in ("", "cookie", "no spaces", 3):
        with pytest.raises(ConfigError, match="user_key"):
            config(MemoryStore(), user_key=bad)
    with pytest.raises(ConfigError, match="already indexes users by 'user'"):
        config(store, user_key="uid")  # two configurations, one store, two ideas of a user
    assert config(user_key=None).user_key is None


def test_sessions_of_reports_safe_facts_newest_first(tmp_path: Any) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as store:
        cfg = config(store)
        written = now()
        old = make_record(written - timedelta(seconds=30), 600, user="ada")
        old["_coatcheck"] = {"created": 1_700_000_000_000}
        store.set("old-session-id-0000000000000000", old)
        store.set("new-session-id-0000000000000000", make_record(written, 600, user="ada"))
        store.set("bob-session-id-0000000000000000", make_record(written, 600, user="bob"))
        infos = sessions_of(cfg, "ada", current="old-session-id-0000000000000000")
        assert [i.id_prefix for i in infos] == ["old-se…", "new-se…"]  # current first
        current, other = infos
        assert isinstance(current, SessionInfo)
        assert current.current
        assert not other.current
        assert current.user == "ada"
        assert current.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
        assert other.created is None
        assert other.expires is not None
        assert other.last_written is not None
        assert abs((other.expires - other.last_written).total_seconds() - 600) < 0.01
        assert abs((other.last_written - written).total_seconds()) < 0.01
        assert other.size > 50
        assert "session-id" not in repr(infos)  # never the full id
        assert [i.current for i in sessions_of(cfg, "ada")] == [False, False]
        assert revoke(cfg, "ada", keep="new-session-id-0000000000000000") == 1
        assert [i.id_prefix for i in sessions_of(cfg, "ada")] == ["new-se…"]
        assert revoke(cfg, "ada") == 1
        assert sessions_of(cfg, "ada") == []
        assert len(sessions_of(cfg, "bob")) == 1


async def test_async_twins_on_sync_and_async_stores() -> None:
    sqlite = SQLiteStore(":memory:")
    for store in (MemoryStore(), to_async(sqlite)):
        cfg = config(store)
        sync_store = getattr(store, "store", store)
        assert sync_store.user_key == "user"  # handed through the async adapter
        sync_store.set("a" * 32, make_record(now(), 60, user="ada"))
        sync_store.set("b" * 32, make_record(now(), 60, user="ada"))
        found = await sessions_of_async(cfg, "ada", current="a" * 32)
        assert [i.current for i in found] == [True, False]
        assert await revoke_async(cfg, "ada", keep="a" * 32) == 1
        assert [i.id_prefix for i in await sessions_of_async(cfg, "ada")] == ["aaaaaa…"]
    sqlite.close()


class BareStore:
    """A store with only express's three methods: no user index."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, sid: str) -> Any:
        return self.data.get(sid)

    def set(self, sid: str, record: Any) -> None:
        self.data[sid] = record

    def destroy(self, sid: str) -> None:
        self.data.pop(sid, None)


async def test_a_store_without_the_capability_is_named() -> None:
    cfg = config(BareStore())  # accepted: an app that never lists sessions is fine
    with pytest.raises(NotImplementedError, match="BareStore keeps no user index"):
        sessions_of(cfg, "ada")
    with pytest.raises(NotImplementedError, match="BareStore"):
        revoke(cfg, "ada")
    with pytest.raises(NotImplementedError, match="BareStore"):
        await revoke_async(cfg, "ada")
    with pytest.raises(ConfigError, match="user_key"):
        sessions_of(config(user_key=None), "ada")
    with pytest.raises(TypeError, match="user id"):
        sessions_of(config(), None)  # type: ignore[arg-type]


def test_revoke_others_and_revoke_all_through_request_cycles() -> None:
    cfg = config()
    driver = SyncDriver(cfg)
    laptop, laptop_cookie = login(driver, "ada")
    phone, _phone_cookie = login(driver, "ada")
    login(driver, "bob")

    cycle = driver.begin(RequestReceived(now=now(), cookie_header=laptop_cookie, path="/"))
    assert cycle is not None
    assert cycle.session.id == laptop
    assert cycle.session.user_id == "ada"
    listed = cycle.session.sessions()
    assert [(i.current, i.user) for i in listed] == [(True, "ada"), (False, "ada")]
    assert cycle.session.revoke_others() == 1  # "log out my other devices"
    driver.end(cycle)
    assert cfg.store.get(phone) is None
    assert cfg.store.get(laptop) is not None

    again, again_cookie = login(driver, "ada")
    cycle = driver.begin(RequestReceived(now=now(), cookie_header=again_cookie, path="/"))
    assert cycle is not None
    assert cycle.session.revoke_all() == 2  # "log out everywhere": laptop and this one
    decision = driver.end(cycle)
    assert decision.set_cookie is not None
    assert "Expires=Thu, 01 Jan 1970" in decision.set_cookie
    assert cfg.store.get(laptop) is None
    assert cfg.store.get(again) is None
    assert len(sessions_of(cfg, "bob")) == 1

    anonymous = driver.begin(RequestReceived(now=now(), cookie_header=None, path="/"))
    assert anonymous is not None
    assert anonymous.session.user_id is None
    assert anonymous.session.revoke_others() == 0
    assert anonymous.session.sessions() == []


async def test_async_session_methods() -> None:
    cfg = config()
    sync_driver: SyncDriver[Any] = SyncDriver(cfg)
    _, first_cookie = login(sync_driver, "ada")
    login(sync_driver, "ada")
    driver: AsyncDriver[Any] = AsyncDriver(cfg)
    cycle = await driver.begin(RequestReceived(now=now(), cookie_header=first_cookie, path="/"))
    assert cycle is not None
    assert len(await cycle.session.sessions()) == 2
    assert await cycle.session.revoke_others() == 1
    assert await cycle.session.revoke_all() == 1
    await driver.end(cycle)
    assert sessions_of(cfg, "ada") == []
