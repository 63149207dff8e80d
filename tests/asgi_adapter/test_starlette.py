"""express-session's behaviour through a Starlette app (``request.session``), over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from tests.asgi_adapter.harness import make_app
from tests.asgi_adapter.support import (
    APPLE,
    BROWSER_COOKIE,
    FOO,
    SECRET,
    EventLog,
    LoggingStore,
    PinnedMiddleware,
    express_cookie_value,
    http_scope,
    options,
    pinned_store,
    request_receiver,
)
from tests.scenarios.harness import RecordingStore

SET_APPLE = f"connect.sid={APPLE}; Path=/; HttpOnly"
SEND_APPLE = f"connect.sid={APPLE}"
CLEARING = "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"


async def get(
    app: Any,
    path: str,
    *,
    cookie: str | None = None,
    https: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One GET through the app; no cookie jar carries anything between calls."""
    sent = dict(headers or {})
    if cookie is not None:
        sent["cookie"] = cookie
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport) as client:
        url = f"{'https' if https else 'http'}://testserver{path}"
        return await client.get(url, headers=sent)


def scenario_app(**overrides: Any) -> tuple[Starlette, RecordingStore]:
    store = RecordingStore(inner=pinned_store())
    return make_app(options(store=store, **overrides), PinnedMiddleware), store


async def seeded(**overrides: Any) -> tuple[Starlette, RecordingStore]:
    """An app whose store holds session ``apple`` = ``{"a": "1"}``; calls reset."""
    app, store = scenario_app(**overrides)
    response = await get(app, "/write?a=1")
    assert response.headers.get_list("set-cookie")[0].startswith(f"{SEND_APPLE};")
    store.reset()
    return app, store


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


# -- new and returning visitors ---------------------------------------------------------------


async def test_new_visitor_gets_the_cookie_and_the_session_is_stored() -> None:
    app, store = scenario_app()
    response = await get(app, "/write?a=1")
    assert response.status_code == 200
    assert response.json() == {"a": "1"}
    assert set_cookies(response) == [SET_APPLE]
    assert response.headers["vary"] == "Cookie"
    assert store.calls == [("set", "apple")]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "a": "1"}


async def test_returning_visitor_gets_the_data_and_a_touch_but_no_cookie() -> None:
    app, store = await seeded()
    response = await get(app, "/read", cookie=SEND_APPLE)
    assert response.json() == {"a": "1"}
    assert set_cookies(response) == []
    assert response.headers["vary"] == "Cookie"
    assert store.calls == [("get", "apple"), ("touch", "apple")]


async def test_modified_session_with_an_expiry_is_saved_and_its_cookie_resent() -> None:
    app, store = await seeded(cookie={"max_age": 60})
    response = await get(app, "/write?a=2", cookie=SEND_APPLE)
    assert set_cookies(response) == [
        f"connect.sid={APPLE}; Path=/; Expires=Fri, 27 Nov 2026 22:58:24 GMT; HttpOnly"
    ]
    assert store.calls == [("get", "apple"), ("set", "apple")]
    assert store.inner.get("apple") == {
        "cookie": {
            "originalMaxAge": 60000,
            "expires": "2026-11-27T22:58:24.000Z",
            "httpOnly": True,
            "path": "/",
        },
        "a": "2",
    }


async def test_modified_browser_session_is_saved_without_resending_the_cookie() -> None:
    app, store = await seeded()
    response = await get(app, "/write?a=2", cookie=SEND_APPLE)
    assert set_cookies(response) == []
    assert store.calls == [("get", "apple"), ("set", "apple")]


async def test_rolling_resends_the_cookie_on_every_response() -> None:
    app, store = await seeded(rolling=True)
    response = await get(app, "/noop", cookie=SEND_APPLE)
    assert set_cookies(response) == [SET_APPLE]
    assert response.headers["vary"] == "Cookie"
    assert store.calls == [("get", "apple"), ("touch", "apple")]


async def test_save_uninitialized_false_neither_stores_nor_sends_an_untouched_session() -> None:
    app, store = scenario_app(save_uninitialized=False)
    response = await get(app, "/read")
    assert response.json() == {}
    assert set_cookies(response) == []
    assert response.headers["vary"] == "Cookie"
    assert store.calls == []
    response = await get(app, "/write?a=1")
    assert set_cookies(response) == [
        f"connect.sid={express_cookie_value('/foo', SECRET)}; Path=/; HttpOnly"
    ]
    assert store.calls == [("set", "/foo")]


# -- Secure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "https", "forwarded", "sent"),
    [
        (None, False, None, False),
        (None, True, None, True),
        (None, False, "https", False),  # the scheme is the framework's word; uvicorn sets it
        (True, False, "https", True),
        (True, False, "https, http", True),
        (True, False, "http", False),
        (True, False, None, False),
        (True, True, None, True),
        (False, False, "https", False),
        (False, True, None, True),
    ],
)
async def test_secure_cookie_is_only_sent_over_a_secure_connection(
    proxy: bool | None, https: bool, forwarded: str | None, sent: bool
) -> None:
    app, store = scenario_app(proxy=proxy, cookie={"secure": True})
    headers = {"x-forwarded-proto": forwarded} if forwarded else {}
    response = await get(app, "/write?a=1", https=https, headers=headers)
    expected = [f"connect.sid={APPLE}; Path=/; HttpOnly; Secure"] if sent else []
    assert set_cookies(response) == expected
    assert store.calls == [("set", "apple")]  # stored either way, as express does


@pytest.mark.parametrize(
    ("https", "attributes", "stored"),
    [
        (True, "HttpOnly; Secure; SameSite=None", {"secure": True, "sameSite": "none"}),
        (False, "HttpOnly; SameSite=Lax", {"secure": False, "sameSite": "lax"}),
    ],
)
async def test_auto_secure_and_same_site_follow_the_connection(
    https: bool, attributes: str, stored: dict[str, Any]
) -> None:
    app, store = scenario_app(cookie={"secure": "auto", "same_site": "auto"})
    response = await get(app, "/write?a=1", https=https)
    assert set_cookies(response) == [f"connect.sid={APPLE}; Path=/; {attributes}"]
    record = store.inner.get("apple")
    assert record is not None
    assert record["cookie"] == {
        "originalMaxAge": None,
        "expires": None,
        "secure": stored["secure"],
        "httpOnly": True,
        "path": "/",
        "sameSite": stored["sameSite"],
    }


# -- express's session methods -----------------------------------------------------------------


async def test_regenerate_destroys_the_old_id_and_sends_the_new_one() -> None:
    app, store = await seeded()
    response = await get(app, "/regenerate", cookie=SEND_APPLE)
    assert response.json() == {"r": 1}
    assert set_cookies(response) == [f"connect.sid={FOO}; Path=/; HttpOnly"]
    assert store.calls == [("get", "apple"), ("destroy", "apple"), ("set", "/foo")]
    assert store.inner.get("apple") is None
    assert store.inner.get("/foo") == {"cookie": BROWSER_COOKIE, "r": 1}


async def test_destroy_deletes_the_session_and_expires_the_cookie() -> None:
    app, store = await seeded()
    response = await get(app, "/destroy", cookie=SEND_APPLE)
    assert response.json() == {}
    assert set_cookies(response) == [CLEARING]
    assert response.headers["vary"] == "Cookie"
    assert store.calls == [("get", "apple"), ("destroy", "apple")]
    assert store.inner.get("apple") is None


async def test_destroy_without_a_cookie_sends_no_clearing_cookie() -> None:
    app, store = scenario_app()
    response = await get(app, "/destroy")
    assert set_cookies(response) == []
    assert store.calls == [("destroy", "apple")]


async def test_reload_brings_back_the_stored_data() -> None:
    app, store = await seeded()
    response = await get(app, "/reload", cookie=SEND_APPLE)
    assert response.json() == {"a": "1"}
    assert store.calls == [("get", "apple"), ("get", "apple"), ("touch", "apple")]


async def test_explicit_save_writes_once_and_sends_the_cookie() -> None:
    app, store = scenario_app(save_uninitialized=False)
    response = await get(app, "/save")
    assert response.json() == {"s": 1}
    assert set_cookies(response) == [SET_APPLE]
    assert store.calls == [("set", "apple")]


async def test_touch_resets_the_expiry_and_the_store_is_touched() -> None:
    app, store = await seeded(cookie={"max_age": 60})
    response = await get(app, "/touch", cookie=SEND_APPLE)
    assert set_cookies(response) == []
    assert store.calls == [("get", "apple"), ("touch", "apple")]


# -- unset, replace ----------------------------------------------------------------------------


async def test_unset_keep_leaves_the_stored_session_alone() -> None:
    app, store = await seeded(unset="keep")
    response = await get(app, "/unset", cookie=SEND_APPLE)
    assert response.json() == {}
    assert set_cookies(response) == []
    assert store.calls == [("get", "apple")]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "a": "1"}


async def test_unset_destroy_destroys_the_stored_session() -> None:
    app, store = await seeded(unset="destroy")
    response = await get(app, "/unset", cookie=SEND_APPLE)
    assert set_cookies(response) == []
    assert store.calls == [("get", "apple"), ("destroy", "apple")]
    assert store.inner.get("apple") is None


async def test_replacing_the_session_with_a_plain_dict_replaces_its_data() -> None:
    store = pinned_store()

    async def replace(request: Request) -> JSONResponse:
        request.scope["session"] = {"plain": True}
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/", replace)],
        middleware=[Middleware(PinnedMiddleware, **options(store=store))],
    )
    response = await get(app, "/")
    assert set_cookies(response) == [SET_APPLE]
    assert store.get("apple") == {"cookie": BROWSER_COOKIE, "plain": True}


# -- bad cookies -------------------------------------------------------------------------------


async def test_a_tampered_cookie_is_just_a_new_session() -> None:
    app, store = scenario_app()
    forged = APPLE[:-4] + "AAAA"
    response = await get(app, "/read", cookie=f"connect.sid={forged}")
    assert response.status_code == 200
    assert response.json() == {}
    assert set_cookies(response) == [SET_APPLE]
    assert store.calls == [("set", "apple")]  # never looked up


async def test_a_cookie_signed_with_an_older_secret_still_loads_and_is_resigned() -> None:
    store = RecordingStore(inner=pinned_store())
    store.inner.set("apple", {"cookie": BROWSER_COOKIE, "a": 1})
    app = make_app(
        options(store=store, secret=["new secret", SECRET], rolling=True), PinnedMiddleware
    )
    response = await get(app, "/read", cookie=SEND_APPLE)
    assert response.json() == {"a": 1}
    resigned = express_cookie_value("apple", "new secret")
    assert set_cookies(response) == [f"connect.sid={resigned}; Path=/; HttpOnly"]
    assert store.calls == [("get", "apple"), ("touch", "apple")]


async def test_a_cookie_signed_with_a_retired_secret_is_a_new_session() -> None:
    store = RecordingStore(inner=pinned_store())
    store.inner.set("old", {"cookie": BROWSER_COOKIE, "a": 1})
    app = make_app(options(store=store, secret="new secret"), PinnedMiddleware)
    old_cookie = express_cookie_value("old", SECRET)
    response = await get(app, "/read", cookie=f"connect.sid={old_cookie}")
    assert response.json() == {}
    assert set_cookies(response) == [
        f"connect.sid={express_cookie_value('apple', 'new secret')}; Path=/; HttpOnly"
    ]


# -- store failures ------------------------------------------------------------------------------


async def test_a_failing_store_get_is_a_500() -> None:
    app, store = await seeded()
    store.fail_get = ConnectionError("store down")
    response = await get(app, "/read", cookie=SEND_APPLE)
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert set_cookies(response) == []
    assert store.calls == [("get", "apple")]


async def test_a_failing_store_set_is_a_500_and_the_200_never_leaves() -> None:
    log = EventLog()
    store = LoggingStore(log, fail={"set": ConnectionError("store down")})
    app = make_app(options(store=store), PinnedMiddleware)
    response = await get(app, "/write?a=1")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert set_cookies(response) == []
    assert store.inner.get("apple") is None


async def test_an_exception_handler_for_exception_gets_the_store_error() -> None:
    store = LoggingStore(EventLog(), fail={"set": ConnectionError("store down")})

    async def view(request: Request) -> PlainTextResponse:
        request.session["a"] = 1
        return PlainTextResponse("ok")

    async def sorry(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"sorry: {type(exc).__name__}", status_code=503)

    app = Starlette(
        routes=[Route("/", view)],
        exception_handlers={Exception: sorry},
        middleware=[Middleware(PinnedMiddleware, **options(store=store))],
    )
    response = await get(app, "/")
    assert (response.status_code, response.text) == (503, "sorry: StoreError")
    assert set_cookies(response) == []


async def test_enoent_from_the_store_means_not_found() -> None:
    app, store = scenario_app()
    store.fail_get = FileNotFoundError("no such session")
    response = await get(app, "/read", cookie=f"connect.sid={FOO}")
    assert response.status_code == 200
    assert response.json() == {}
    assert set_cookies(response) == [SET_APPLE]
    assert store.calls == [("get", "/foo"), ("set", "apple")]


async def test_an_app_error_before_the_response_saves_nothing() -> None:
    store = RecordingStore(inner=pinned_store())

    async def boom(request: Request) -> PlainTextResponse:
        request.session["a"] = 1
        raise RuntimeError("handler failed")

    app = Starlette(
        routes=[Route("/", boom)],
        middleware=[Middleware(PinnedMiddleware, **options(store=store))],
    )
    response = await get(app, "/")
    assert response.status_code == 500
    assert set_cookies(response) == []
    assert store.calls == []


# -- streaming, Vary -----------------------------------------------------------------------------


async def test_a_streamed_change_is_saved_again_before_the_last_body_message() -> None:
    log = EventLog()
    store = LoggingStore(log)

    async def stream(request: Request) -> StreamingResponse:
        session = request.session

        async def chunks() -> AsyncIterator[bytes]:
            yield b"one,"
            session["late"] = 1
            yield b"two"

        session["early"] = 1
        return StreamingResponse(chunks())

    app = PinnedMiddleware(
        Starlette(routes=[Route("/", stream)]), **options(store=store, save_uninitialized=False)
    )
    messages: list[str] = []

    async def send(message: Any) -> None:
        log.add("send", message["type"] + ("+" if message.get("more_body") else ""))
        if message["type"] == "http.response.start":
            messages.extend(v.decode() for k, v in message["headers"] if k == b"set-cookie")

    await app(http_scope("/"), request_receiver(), send)
    assert messages == [SET_APPLE]
    assert log.events == [
        ("store", "set apple"),
        ("send", "http.response.start"),
        ("send", "http.response.body+"),
        ("send", "http.response.body+"),
        ("store", "set apple"),
        ("send", "http.response.body"),
    ]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "early": 1, "late": 1}


async def test_vary_cookie_only_when_the_session_was_used() -> None:
    app, _ = await seeded()
    assert (await get(app, "/noop", cookie=SEND_APPLE)).headers.get("vary") is None
    assert (await get(app, "/read", cookie=SEND_APPLE)).headers.get("vary") == "Cookie"
    app, _ = scenario_app(save_uninitialized=False)
    assert (await get(app, "/noop")).headers.get("vary") is None


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inside"),
    [("/app", True), ("/app/read", True), ("/application", False), ("/outside", False)],
)
async def test_the_session_exists_only_inside_the_cookie_path(path: str, inside: bool) -> None:
    store = RecordingStore(inner=pinned_store())

    async def probe(request: Request) -> JSONResponse:
        return JSONResponse({"has_session": "session" in request.scope})

    app = Starlette(
        routes=[Route("/{rest:path}", probe)],
        middleware=[Middleware(PinnedMiddleware, **options(store=store, cookie={"path": "/app"}))],
    )
    response = await get(app, path)
    assert response.json() == {"has_session": inside}
    expected = [f"connect.sid={APPLE}; Path=/app; HttpOnly"] if inside else []
    assert set_cookies(response) == expected
    assert store.calls == ([("set", "apple")] if inside else [])
