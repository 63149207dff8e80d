"""FastAPI: ``request.session``, ``SessionDep`` / ``get_session`` in HTTP and WebSocket routes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from starlette.middleware import Middleware

from coatcheck_asgi import AsyncSession, SessionDep, SessionMissingError, get_session
from tests.asgi_adapter.support import (
    APPLE,
    BROWSER_COOKIE,
    FOO,
    EventLog,
    LoggingStore,
    PinnedMiddleware,
    options,
    pinned_store,
)
from tests.asgi_adapter.test_websocket import CONVERSATION, talk, ws_scope

SET_APPLE = f"connect.sid={APPLE}; Path=/; HttpOnly"


def fastapi_app(store: Any, **overrides: Any) -> FastAPI:
    app = FastAPI(middleware=[Middleware(PinnedMiddleware, **options(store=store, **overrides))])

    @app.get("/login")
    async def login(session: SessionDep) -> dict[str, Any]:
        await session.regenerate()
        session["user"] = "ada"
        return {"id": session.id}

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return dict(request.session)

    @app.get("/same")
    async def same(request: Request, session: SessionDep) -> dict[str, Any]:
        return {"same": session is request.session, "type": type(session).__name__}

    @app.get("/unset")
    async def unset(request: Request) -> dict[str, Any]:
        request.scope["session"] = None
        return {"after": type(get_session(request)).__name__}

    @app.get("/glance")
    async def glance(session: SessionDep) -> dict[str, Any]:
        return {}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, session: SessionDep) -> None:
        session["socket"] = True
        await websocket.accept()
        await websocket.send_json(dict(session))
        await websocket.close()

    return app


async def get(
    app: Any, path: str, cookie: str | None = None, *, raise_errors: bool = False
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers={"cookie": cookie} if cookie else {})


async def test_session_dep_gives_the_async_session_and_its_coroutine_methods() -> None:
    store = pinned_store()
    app = fastapi_app(store)
    first = await get(app, "/me")
    assert first.json() == {}
    assert first.headers.get_list("set-cookie") == [SET_APPLE]
    login = await get(app, "/login", cookie=f"connect.sid={APPLE}")
    assert login.json() == {"id": "/foo"}
    assert login.headers.get_list("set-cookie") == [f"connect.sid={FOO}; Path=/; HttpOnly"]
    assert store.get("apple") is None
    assert store.get("/foo") == {"cookie": BROWSER_COOKIE, "user": "ada"}
    me = await get(app, "/me", cookie=f"connect.sid={FOO}")
    assert me.json() == {"user": "ada"}


async def test_session_dep_is_request_session() -> None:
    response = await get(fastapi_app(pinned_store()), "/same")
    assert response.json() == {"same": True, "type": "AsyncSession"}


async def test_asking_for_the_session_counts_as_using_it() -> None:
    store = pinned_store()
    store.set("apple", {"cookie": BROWSER_COOKIE})
    response = await get(fastapi_app(store), "/glance", cookie=f"connect.sid={APPLE}")
    assert response.headers.get_list("set-cookie") == []
    assert response.headers["vary"] == "Cookie"


async def test_an_unset_session_is_a_clear_error() -> None:
    with pytest.raises(SessionMissingError, match="it was unset, replaced"):
        await get(fastapi_app(pinned_store()), "/unset", raise_errors=True)


async def test_without_the_middleware_get_session_says_what_is_missing() -> None:
    app = FastAPI()

    @app.get("/")
    async def view(session: SessionDep) -> dict[str, Any]:
        return {}

    with pytest.raises(SessionMissingError, match=r"add coatcheck_asgi\.SessionMiddleware"):
        await get(app, "/", raise_errors=True)
    assert (await get(app, "/")).status_code == 500


def test_get_session_refuses_a_scope_without_a_coatcheck_session() -> None:
    scope: dict[str, Any] = {"type": "http", "session": None}
    with pytest.raises(SessionMissingError):
        get_session(Request(scope))
    assert issubclass(SessionMissingError, RuntimeError)


async def test_session_dep_in_a_websocket_route() -> None:
    log = EventLog()
    store = LoggingStore(log)
    sent = await talk(fastapi_app(store), ws_scope(), CONVERSATION, log)
    assert sent == [
        {
            "type": "websocket.accept",
            "subprotocol": None,
            "headers": [(b"set-cookie", SET_APPLE.encode())],
        },
        {"type": "websocket.send", "text": '{"socket":true}'},
        {"type": "websocket.close", "code": 1000, "reason": ""},
    ]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "socket": True}


async def test_add_middleware_wiring_works_too() -> None:
    app = FastAPI()
    app.add_middleware(PinnedMiddleware, **options())

    @app.get("/")
    async def view(session: SessionDep) -> dict[str, Any]:
        session["n"] = 1
        assert isinstance(session, AsyncSession)
        return dict(session)

    response = await get(app, "/")
    assert response.json() == {"n": 1}
    assert response.headers.get_list("set-cookie") == [SET_APPLE]


def test_session_dep_is_an_async_dependency() -> None:
    """FastAPI runs a plain-function dependency in its thread pool; ``SessionDep``'s is a
    coroutine function, so it runs inline on the event loop."""
    import inspect
    import typing

    from fastapi.params import Depends

    (marker,) = [m for m in typing.get_args(SessionDep)[1:] if isinstance(m, Depends)]
    assert inspect.iscoroutinefunction(marker.dependency)
