"""The session object: a tracked ``dict`` with ``id``, ``cookie`` and express's methods
(plain calls in ``SyncSession``, coroutines in ``AsyncSession``)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import timedelta
from typing import Any

import pytest

from coatcheck import (
    AsyncDriver,
    AsyncSession,
    RequestReceived,
    Session,
    SessionNotFound,
    StoreError,
    SyncSession,
)

from .cycle import (
    ID1,
    NOW,
    STORED_ID,
    given_stored,
    make_config,
    record,
    run_cycle,
    signed,
)

LATER = NOW + timedelta(seconds=30)


def fresh_session() -> SyncSession:
    return run_cycle(make_config(), handler=lambda s: s.update(a=1, b=2)).session


# -- a dict with access tracking -----------------------------------------------------------------


def test_session_is_a_dict_of_the_data() -> None:
    session = fresh_session()
    assert isinstance(session, dict)
    assert isinstance(session, MutableMapping)
    assert session == {"a": 1, "b": 2}
    assert "cookie" not in dict(session)


@pytest.mark.parametrize(
    "use",
    [
        lambda s: s["a"],
        lambda s: s.get("a"),
        lambda s: "a" in s,
        lambda s: list(s),
        lambda s: len(s),
        lambda s: s.keys(),
        lambda s: s.values(),
        lambda s: s.items(),
        lambda s: s.copy(),
        lambda s: s.__setitem__("c", 3),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("c", 3),
        lambda s: s.clear(),
        lambda s: s.update(c=3),
        lambda s: s.__ior__({"c": 3}),
        lambda s: s.mark_accessed(),
        lambda s: s.mark_modified(),
    ],
)
def test_every_read_and_write_marks_the_session_accessed(use: Callable[[Session], Any]) -> None:
    session = fresh_session()
    session.accessed = False
    use(session)
    assert session.accessed


def test_popping_a_missing_key_is_not_a_use_as_in_starlette() -> None:
    session = fresh_session()
    session.accessed = False
    assert session.pop("missing", None) is None
    with pytest.raises(KeyError):
        session.pop("missing")
    assert not session.accessed


def test_modified_is_express_is_modified() -> None:
    seen: list[bool] = []

    def handler(session: SyncSession) -> None:
        seen.append(session.modified)
        session["a"] = 1
        seen.append(session.modified)
        del session["a"]
        seen.append(session.modified)  # back to the data it was created with (a hash)

    run_cycle(make_config(), handler=handler)
    assert seen == [False, True, False]


@pytest.mark.parametrize(
    "use",
    [lambda s: s.id, lambda s: s.cookie, lambda s: repr(s), lambda s: s.cycle],
    ids=["id", "cookie", "repr", "cycle"],
)
def test_id_and_cookie_are_not_data_access(use: Callable[[Session], Any]) -> None:
    session = fresh_session()
    session.accessed = False
    use(session)
    assert not session.accessed


def test_in_place_or_is_tracked_and_checked() -> None:
    config = make_config(resave=False, save_uninitialized=False)

    def handler(session: SyncSession) -> None:
        session |= {"a": 1}

    result = run_cycle(config, handler=handler)
    assert result.written()["a"] == 1
    assert result.vary


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("cookie", 1),
        lambda s: s.setdefault("cookie", 1),
        lambda s: s.update(cookie=1),
        lambda s: s.update({"cookie": 1}),
        lambda s: s.__ior__({"cookie": 1}),
    ],
)
def test_cookie_is_a_reserved_key(write: Callable[[Session], Any]) -> None:
    session = fresh_session()
    with pytest.raises(KeyError, match="reserved"):
        write(session)
    assert session == {"a": 1, "b": 2}


def test_id_is_read_only() -> None:
    session = fresh_session()
    with pytest.raises(AttributeError):
        session.id = "mine"  # type: ignore[misc]
    assert session.id == ID1


def test_cookie_is_the_session_s_own() -> None:
    session = fresh_session()
    assert session.cookie is session.cycle.cookie
    assert session.cookie.path == "/"


# -- SyncSession: express's methods as plain calls ------------------------------------------------


def test_save_writes_now() -> None:
    config = make_config(save_uninitialized=False)
    seen: list[list[tuple[str, str]]] = []

    def handler(session: SyncSession) -> None:
        session["a"] = 1
        session.save()
        seen.append(list(config.store.calls))

    result = run_cycle(config, handler=handler)
    assert seen == [[("set", ID1)]]
    assert result.calls == [("set", ID1)]


def test_regenerate_destroys_the_old_id_now() -> None:
    config = make_config()
    seen: list[list[tuple[str, str]]] = []

    def handler(session: SyncSession) -> None:
        session.regenerate()
        seen.append(list(config.store.calls))
        assert session.id == ID1

    run_cycle(config, cookie=given_stored(config), handler=handler)
    assert seen == [[("get", STORED_ID), ("destroy", STORED_ID)]]


def test_touch_resets_max_age_without_a_store_call() -> None:
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        assert session.cookie.expires == NOW + timedelta(seconds=60)
        calls = len(config.store.calls)
        session.touch()
        assert session.cookie.expires == LATER + timedelta(seconds=60)
        assert len(config.store.calls) == calls

    result = run_cycle(config, cookie=given_stored(config), now=LATER, handler=handler)
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]


def test_reload_replaces_the_data_with_the_stored_copy() -> None:
    config = make_config(resave=False)
    seen: list[dict[str, Any]] = []

    def handler(session: SyncSession) -> None:
        session["tmp"] = 1
        session.reload()
        seen.append(dict(session))

    result = run_cycle(config, cookie=given_stored(config, a=1), handler=handler)
    assert seen == [{"a": 1}]
    assert result.calls == [("get", STORED_ID), ("get", STORED_ID), ("touch", STORED_ID)]


def test_reload_sees_a_concurrent_write() -> None:
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        config.store.put(STORED_ID, record(60, a=2))  # another request saved meanwhile
        session.reload()

    result = run_cycle(config, cookie=given_stored(config, a=1), handler=handler)
    assert dict(result.session) == {"a": 2}
    # express keeps the hashes of the load: the reloaded data counts as a change, and is kept
    assert result.calls[-1] == ("set", STORED_ID)


def test_reload_of_a_vanished_session_raises_session_not_found() -> None:
    config = make_config()

    def handler(session: SyncSession) -> None:
        config.store.inner.destroy(STORED_ID)  # gone behind our back (expired, logged out)
        with pytest.raises(SessionNotFound, match="failed to load session"):
            session.reload()

    run_cycle(config, cookie=given_stored(config), handler=handler)


def test_reload_of_a_never_saved_session_raises_session_not_found() -> None:
    def handler(session: SyncSession) -> None:
        with pytest.raises(SessionNotFound):
            session.reload()

    run_cycle(make_config(), handler=handler)


def test_session_not_found_is_a_lookup_error() -> None:
    assert issubclass(SessionNotFound, LookupError)


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("set", lambda s: s.save()),
        ("destroy", lambda s: s.destroy()),
        ("destroy", lambda s: s.regenerate()),
        ("get", lambda s: s.reload()),
    ],
    ids=["save", "destroy", "regenerate", "reload"],
)
def test_store_failures_in_session_methods_raise_store_error(
    method: str, call: Callable[[SyncSession], Any]
) -> None:
    config = make_config()
    raised: list[StoreError] = []

    def handler(session: SyncSession) -> None:
        config.store.fail[method] = OSError("disk full")
        with pytest.raises(StoreError) as info:
            call(session)
        del config.store.fail[method]
        raised.append(info.value)

    run_cycle(config, cookie=given_stored(config), handler=handler)
    (error,) = raised
    assert error.operation == method
    assert isinstance(error.__cause__, OSError)
    assert str(error).endswith("OSError: disk full")


# -- AsyncSession: the same methods as coroutines ------------------------------------------------


async def test_async_session_methods() -> None:
    config = make_config(resave=False)
    cookie = given_stored(config, cart=["apple"])
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    cycle = await driver.begin(RequestReceived(now=LATER, cookie_header=cookie))
    assert cycle is not None
    session = cycle.session
    assert isinstance(session, AsyncSession)
    session["tmp"] = 1
    await session.reload()
    assert dict(session) == {"cart": ["apple"]}
    await session.touch()
    assert session.cookie.expires == LATER + timedelta(seconds=60)
    await session.regenerate(keep_data=True)
    assert session.id == ID1
    session["user"] = "bob"
    await session.save()
    decision = await driver.end(cycle)
    assert decision.operations == ()
    assert decision.set_cookie is not None
    assert decision.set_cookie.startswith(f"connect.sid={signed(ID1)}; ")
    assert config.store.calls == [
        ("get", STORED_ID),
        ("get", STORED_ID),
        ("destroy", STORED_ID),
        ("set", ID1),
    ]
    assert config.store.stored(ID1)["cart"] == ["apple"]


async def test_async_session_destroy_and_missing_reload() -> None:
    config = make_config()
    cookie = given_stored(config)
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    cycle = await driver.begin(RequestReceived(now=NOW, cookie_header=cookie))
    assert cycle is not None
    await cycle.session.destroy()
    assert config.store.stored(STORED_ID) is None
    with pytest.raises(SessionNotFound):
        await cycle.session.reload()
    decision = await driver.end(cycle)
    assert decision.set_cookie == (
        "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
    )
