"""WebSocket scopes: the session is loaded before the app runs, decided and saved on accept
(the cookie rides on ``websocket.accept``), and changes made while the socket lived are saved
when the app is done with it."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from tests.asgi_adapter.support import (
    APPLE,
    BROWSER_COOKIE,
    EventLog,
    LoggingStore,
    PinnedMiddleware,
    http_scope,
    options,
)

SET_APPLE = f"connect.sid={APPLE}; Path=/; HttpOnly"


async def talk(
    app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]], log: EventLog
) -> list[dict[str, Any]]:
    """Run one WebSocket connection: ``incoming`` client events, then silence."""
    queue = list(incoming)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        log.add("send", message["type"])
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


def socket_app(endpoint: Any, store: LoggingStore, **overrides: Any) -> Any:
    return PinnedMiddleware(
        Starlette(routes=[WebSocketRoute("/ws", endpoint)]), **options(store=store, **overrides)
    )


async def chat(websocket: WebSocket) -> None:
    websocket.session["greeting"] = "hi"
    await websocket.accept()
    text = await websocket.receive_text()
    websocket.session["said"] = text
    await websocket.send_json(dict(websocket.session))
    await websocket.close()


def ws_scope(*cookies: str, path: str = "/ws") -> dict[str, Any]:
    scope = http_scope(path, cookies=cookies, scheme="ws", kind="websocket")
    scope["subprotocols"] = []
    return scope


CONVERSATION = [
    {"type": "websocket.connect"},
    {"type": "websocket.receive", "text": "hello"},
]


async def test_the_handshake_carries_the_cookie_and_the_socket_sees_the_session() -> None:
    log = EventLog()
    store = LoggingStore(log)
    sent = await talk(socket_app(chat, store), ws_scope(), CONVERSATION, log)
    assert sent == [
        {
            "type": "websocket.accept",
            "subprotocol": None,
            "headers": [(b"set-cookie", SET_APPLE.encode())],
        },
        {"type": "websocket.send", "text": '{"greeting":"hi","said":"hello"}'},
        {"type": "websocket.close", "code": 1000, "reason": ""},
    ]
    assert log.events == [
        ("store", "set apple"),  # saved before the accept went out
        ("send", "websocket.accept"),
        ("send", "websocket.send"),
        ("send", "websocket.close"),
        ("store", "set apple"),  # what changed while the socket lived
    ]
    assert store.inner.get("apple") == {"cookie": BROWSER_COOKIE, "greeting": "hi", "said": "hello"}


async def test_a_returning_visitor_has_its_session_on_the_socket() -> None:
    log = EventLog()
    store = LoggingStore(log)
    store.inner.set("apple", {"cookie": BROWSER_COOKIE, "user": "ada"})
    seen: list[dict[str, Any]] = []

    async def whoami(websocket: WebSocket) -> None:
        seen.append(dict(websocket.session))
        await websocket.accept()
        await websocket.close()

    sent = await talk(
        socket_app(whoami, store), ws_scope(f"connect.sid={APPLE}"), CONVERSATION, log
    )
    assert seen == [{"user": "ada"}]
    assert sent[0] == {"type": "websocket.accept", "subprotocol": None, "headers": []}
    assert [e for e in log.events if e[0] == "store"] == [
        ("store", "get apple"),
        ("store", "touch apple"),
    ]


async def test_a_socket_refused_before_accept_saves_nothing() -> None:
    log = EventLog()
    store = LoggingStore(log)

    async def refuse(websocket: WebSocket) -> None:
        websocket.session["a"] = 1
        await websocket.close(code=1008)

    sent = await talk(socket_app(refuse, store), ws_scope(), CONVERSATION, log)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert store.inner.get("apple") is None
    assert [e for e in log.events if e[0] == "store"] == []


async def test_a_socket_outside_the_cookie_path_has_no_session() -> None:
    log = EventLog()
    store = LoggingStore(log)
    seen: list[bool] = []

    async def probe(websocket: WebSocket) -> None:
        seen.append("session" in websocket.scope)
        await websocket.accept()
        await websocket.close()

    app = socket_app(probe, store, cookie={"path": "/app"})
    sent = await talk(app, ws_scope(), CONVERSATION, log)
    assert seen == [False]
    assert sent[0] == {"type": "websocket.accept", "subprotocol": None, "headers": []}
    assert [e for e in log.events if e[0] == "store"] == []
