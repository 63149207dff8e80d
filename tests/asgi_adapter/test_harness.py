"""The scenario harness itself: every route of the contract answers as documented."""

from __future__ import annotations

from typing import Any

from tests.asgi_adapter.harness import make_client
from tests.asgi_adapter.support import APPLE, FOO, SECRET, ids
from tests.scenarios.harness import RecordingStore, Response

SET_APPLE = f"connect.sid={APPLE}; Path=/; HttpOnly"
SEND_APPLE = f"connect.sid={APPLE}"


def client_options(store: RecordingStore, **overrides: Any) -> dict[str, Any]:
    return {
        "secret": SECRET,
        "resave": False,
        "save_uninitialized": False,
        "store": store,
        "genid": ids("apple", "/foo", "%"),
        **overrides,
    }


def test_the_contract_routes() -> None:
    store = RecordingStore()
    client = make_client(client_options(store))
    assert client.get("/write?a=1&b=2") == Response(
        200, [SET_APPLE], "Cookie", {"a": "1", "b": "2"}
    )
    assert client.get("/noop", cookie=SEND_APPLE) == Response(200, [], None, {})
    assert client.get("/read", cookie=SEND_APPLE).body == {"a": "1", "b": "2"}
    assert client.get("/incr", cookie=SEND_APPLE).body == {"a": "1", "b": "2", "n": 1}
    assert client.get("/save", cookie=SEND_APPLE).body == {"a": "1", "b": "2", "n": 1, "s": 1}
    assert client.get("/reload", cookie=SEND_APPLE).body == {"a": "1", "b": "2", "n": 1, "s": 1}
    assert client.get("/touch", cookie=SEND_APPLE).status == 200
    assert client.get("/cookie-max-age?s=60", cookie=SEND_APPLE).status == 200
    assert client.get("/regenerate", cookie=SEND_APPLE) == Response(
        200, [f"connect.sid={FOO}; Path=/; HttpOnly"], "Cookie", {"r": 1}
    )
    assert client.get("/unset", cookie=f"connect.sid={FOO}") == Response(200, [], "Cookie", {})
    assert client.get("/destroy", cookie=f"connect.sid={FOO}") == Response(
        200,
        ["connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"],
        "Cookie",
        {},
    )
    assert client.get("/outside") == Response(200, [], None, {"has_session": True})


def test_https_and_headers_reach_the_app() -> None:
    store = RecordingStore()
    client = make_client(client_options(store, cookie={"secure": True}, proxy=True))
    secure = f"{SET_APPLE}; Secure"
    assert client.get("/write?a=1", https=True).set_cookies == [secure]
    forwarded = {"x-forwarded-proto": "https"}
    assert client.get("/write?a=1", headers=forwarded).set_cookies == [
        f"connect.sid={FOO}; Path=/; HttpOnly; Secure"
    ]


def test_a_narrower_cookie_path_serves_the_routes_under_it() -> None:
    store = RecordingStore()
    client = make_client(client_options(store, cookie={"path": "/app"}))
    assert client.get("/outside") == Response(200, [], None, {"has_session": False})
    assert client.get("/app/write?a=1").set_cookies == [f"connect.sid={APPLE}; Path=/app; HttpOnly"]
    assert client.get("/app/read", cookie=SEND_APPLE).body == {"a": "1"}
    assert store.methods() == ["set", "get", "touch"]


def test_store_failures_are_500s() -> None:
    store = RecordingStore(fail_get=ConnectionError("down"))
    client = make_client(client_options(store))
    assert client.get("/read", cookie=SEND_APPLE) == Response(
        500, [], None, "Internal Server Error"
    )
