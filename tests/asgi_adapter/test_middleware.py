"""The middleware against raw ASGI apps: scopes, messages, headers, threads, construction."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest

import coatcheck
import coatcheck_asgi
from coatcheck import AsyncSession, StoreError
from coatcheck_asgi import ConfigError, SessionMiddleware
from tests.asgi_adapter.support import (
    APPLE,
    BROWSER_COOKIE,
    SECRET,
    EventLog,
    LoggingStore,
    NonBlockingLoggingStore,
    PinnedMiddleware,
    call,
    http_scope,
    options,
    pinned_store,
)

SET_APPLE = f"connect.sid={APPLE}; Path=/; HttpOnly"


def responder(*headers: tuple[bytes, bytes], touch: bool = True, body: bytes = b"ok") -> Any:
    """A raw ASGI app that (optionally) writes the session, then answers 200."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if touch:
            scope["session"]["a"] = 1
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    return app


# -- construction --------------------------------------------------------------------------------


def test_missing_secret_is_a_config_error_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"^secret: secret option required for sessions$"):
        SessionMiddleware(responder(), resave=False, save_uninitialized=False)


def test_invalid_option_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r'^unset: unset option must be "destroy" or "keep"$'):
        SessionMiddleware(responder(), **options(unset="forget"))


def test_an_option_typo_is_a_config_error_logged_at_error_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError) as caught:
        SessionMiddleware(responder(), **options(save_unitialized=False))
    assert str(caught.value) == (
        "save_unitialized: unknown option(s): save_unitialized (did you mean save_uninitialized?)"
    )
    (logged,) = [r for r in caplog.records if r.name == "coatcheck"]
    assert logged.levelname == "ERROR"
    assert "save_unitialized" in logged.getMessage()
    assert "did you mean save_uninitialized?" in logged.getMessage()


def test_config_error_is_the_cores() -> None:
    assert coatcheck_asgi.ConfigError is coatcheck.ConfigError
    assert coatcheck_asgi.StoreError is coatcheck.StoreError
    assert coatcheck_asgi.AsyncSession is coatcheck.AsyncSession


def test_app_is_positional_only_so_starlettes_middleware_typing_accepts_the_class() -> None:
    # Starlette types Middleware(cls, **kwargs) as cls(app, /, **kwargs): with a plain ``app``
    # parameter mypy rejects ``Middleware(SessionMiddleware, ...)`` (``app=`` could collide).
    parameter = inspect.signature(SessionMiddleware).parameters["app"]
    assert parameter.kind is inspect.Parameter.POSITIONAL_ONLY


def test_missing_resave_warns_at_the_callers_line() -> None:
    message = r"^undefined resave option; provide resave option$"
    with pytest.warns(FutureWarning, match=message) as w:
        SessionMiddleware(responder(), secret=SECRET, save_uninitialized=False)
    assert [record.filename for record in w] == [__file__]


# -- pass-through scopes ---------------------------------------------------------------------------


async def test_lifespan_passes_through_untouched() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.extend([scope, receive, send])

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        pass

    store = LoggingStore(EventLog())
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    await SessionMiddleware(app, **options(store=store))(scope, receive, send)
    assert seen == [scope, receive, send]
    assert scope == {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    assert store.log.events == []


async def test_a_scope_that_already_has_a_session_is_left_alone() -> None:
    store = LoggingStore(EventLog())
    scope = http_scope("/")
    scope["session"] = outer = {"from": "outer"}
    sent = await call(PinnedMiddleware(responder(), **options(store=store)), scope)
    assert scope["session"] is outer
    assert sent.set_cookies == []
    assert store.log.events == []


# -- the request facts -----------------------------------------------------------------------------


async def test_new_visitor_on_a_raw_app() -> None:
    store = pinned_store()
    scope = http_scope("/")
    sent = await call(PinnedMiddleware(responder(), **options(store=store)), scope)
    assert isinstance(scope["session"], AsyncSession)
    assert sent.start == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"vary", b"Cookie"), (b"set-cookie", SET_APPLE.encode())],
    }
    assert sent.messages[1] == {"type": "http.response.body", "body": b"ok"}
    assert store.get("apple") == {"cookie": BROWSER_COOKIE, "a": 1}


async def test_the_apps_headers_are_kept_and_vary_is_merged() -> None:
    app = responder(
        (b"set-cookie", b"theme=dark"),
        (b"Vary", b"Accept-Encoding"),
        (b"content-type", b"text/plain"),
    )
    sent = await call(PinnedMiddleware(app, **options()), http_scope("/"))
    assert sent.start["headers"] == [
        (b"set-cookie", b"theme=dark"),
        (b"content-type", b"text/plain"),
        (b"vary", b"Accept-Encoding, Cookie"),
        (b"set-cookie", SET_APPLE.encode()),
    ]


async def test_an_existing_vary_cookie_is_not_repeated() -> None:
    app = responder((b"vary", b"Cookie, Accept"))
    sent = await call(PinnedMiddleware(app, **options()), http_scope("/"))
    assert sent.vary == ["Cookie, Accept"]


async def test_every_cookie_header_is_read() -> None:
    store = pinned_store()
    store.set("apple", {"cookie": BROWSER_COOKIE, "a": 7})
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["session"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope("/", cookies=["theme=dark", f"connect.sid={APPLE}"])  # HTTP/2 style
    await call(PinnedMiddleware(app, **options(store=store)), scope)
    assert seen == [{"a": 7}]


@pytest.mark.parametrize(
    ("path", "root_path", "inside"),
    [
        ("/app/x", "/app", True),  # ASGI spec / uvicorn: path includes root_path
        ("/x", "/app", True),  # the older convention: root_path stripped from path
        ("/x", "", False),
        ("/apple", "", False),  # RFC 6265 path-match, not a prefix test
        ("/app", "", True),
    ],
)
async def test_cookie_path_gating_uses_the_full_path(
    path: str, root_path: str, inside: bool
) -> None:
    store = LoggingStore(EventLog())
    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append("session" in scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = PinnedMiddleware(app, **options(store=store, cookie={"path": "/app"}))
    sent = await call(middleware, http_scope(path, root_path=root_path))
    assert seen == [inside]
    assert sent.set_cookies == ([f"connect.sid={APPLE}; Path=/app; HttpOnly"] if inside else [])
    assert store.log.events == ([("store", "set apple")] if inside else [])


async def test_genid_and_a_callable_cookie_receive_the_scope() -> None:
    received: list[Any] = []

    def genid(request: Any) -> str:
        received.append(request)
        return "apple"

    def cookie(request: Any) -> dict[str, Any]:
        received.append(request)
        return {"path": "/", "same_site": "strict"}

    scope = http_scope("/")
    sent = await call(PinnedMiddleware(responder(), **options(genid=genid, cookie=cookie)), scope)
    assert sent.set_cookies == [f"{SET_APPLE}; SameSite=Strict"]
    assert received == [scope, scope]
    assert all(r is scope for r in received)


# -- store failures and ordering ----------------------------------------------------------------


async def test_a_failing_save_raises_before_anything_is_sent() -> None:
    store = LoggingStore(EventLog(), fail={"set": ConnectionError("store down")})
    scope = http_scope("/")
    with pytest.raises(StoreError, match=r"^store set failed") as info:
        await call(PinnedMiddleware(responder(), **options(store=store)), scope, store.log)
    assert isinstance(info.value.cause, ConnectionError)
    assert store.log.events == [("store", "set apple")]  # no http.response.start went out


async def test_a_failing_get_raises_before_the_app_runs() -> None:
    store = LoggingStore(EventLog(), fail={"get": ConnectionError("store down")})
    ran: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(True)

    scope = http_scope("/", cookies=[f"connect.sid={APPLE}"])
    with pytest.raises(StoreError, match=r"^store get failed"):
        await call(PinnedMiddleware(app, **options(store=store)), scope)
    assert ran == []
    assert "session" not in scope


async def test_an_app_error_before_the_response_saves_nothing() -> None:
    store = LoggingStore(EventLog())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["session"]["a"] = 1
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match=r"^handler failed$"):
        await call(PinnedMiddleware(app, **options(store=store)), http_scope("/"))
    assert store.log.events == []


async def test_a_failing_late_save_withholds_the_final_body() -> None:
    log = EventLog()
    store = LoggingStore(log)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        scope["session"]["late"] = 1
        store.fail = {"set": ConnectionError("store down")}
        await send({"type": "http.response.body", "body": b"b", "more_body": False})

    with pytest.raises(StoreError, match=r"^store set failed"):
        await call(PinnedMiddleware(app, **options(store=store)), http_scope("/"), log)
    assert log.events == [
        ("store", "set apple"),
        ("send", "http.response.start"),
        ("send", "http.response.body+"),
        ("store", "set apple"),
    ]


async def test_pathsend_counts_as_the_final_body_message() -> None:
    log = EventLog()
    store = LoggingStore(log)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        scope["session"]["late"] = 1
        await send({"type": "http.response.pathsend", "path": "/tmp/file"})

    await call(PinnedMiddleware(app, **options(store=store)), http_scope("/"), log)
    assert log.events == [
        ("store", "set apple"),
        ("send", "http.response.start"),
        ("store", "set apple"),
        ("send", "http.response.pathsend"),
    ]


async def test_a_session_replaced_after_the_start_is_saved_with_the_new_data() -> None:
    store = LoggingStore(EventLog())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        scope["session"] = {"replaced": True}
        await send({"type": "http.response.body", "body": b"b"})

    await call(PinnedMiddleware(app, **options(store=store)), http_scope("/"))
    assert store.log.events == [("store", "set apple"), ("store", "set apple")]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "replaced": True}


async def test_a_session_that_is_not_a_mapping_is_an_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["session"] = 42
        await send({"type": "http.response.start", "status": 200, "headers": []})

    with pytest.raises(TypeError, match="must be a mapping or None"):
        await call(PinnedMiddleware(app, **options()), http_scope("/"))


# -- threads -------------------------------------------------------------------------------------


async def test_a_blocking_sync_store_runs_in_a_worker_thread() -> None:
    store = LoggingStore(EventLog())
    await call(PinnedMiddleware(responder(), **options(store=store)), http_scope("/"))
    assert store.threads != []
    assert threading.get_ident() not in store.threads


async def test_a_never_blocks_store_runs_on_the_event_loop() -> None:
    store = NonBlockingLoggingStore(EventLog())
    await call(PinnedMiddleware(responder(), **options(store=store)), http_scope("/"))
    assert store.threads == [threading.get_ident()]


async def test_a_never_blocks_store_is_called_inline_without_the_async_adapter() -> None:
    """MemoryStore and friends cost no await hop: the request never touches ``async_store``."""

    class Unused:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"async_store.{name} used for a never_blocks store")

    store = NonBlockingLoggingStore(EventLog())
    middleware = PinnedMiddleware(responder(), **options(store=store))
    middleware.config.__dict__["async_store"] = Unused()  # the cached_property's slot
    sent = await call(middleware, http_scope("/"))
    assert sent.set_cookies
    assert [detail.split()[0] for _, detail in store.log.events] == ["set"]
