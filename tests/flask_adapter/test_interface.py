"""The session interface: what reaches the browser and the store for each kind of request."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask, Response, session, stream_with_context
from werkzeug.middleware.proxy_fix import ProxyFix

import coatcheck_flask
from coatcheck.stores import MemoryStore
from tests.flask_adapter.conftest import Rig, jar, signed
from tests.scenarios.harness import RecordingStore

MakeRig = Callable[..., Rig]
IN_60S = "Wed, 04 Mar 2026 05:07:07 GMT"  # NOW + 60 s


def test_new_visitor_gets_express_exact_cookie_and_record(make_rig: MakeRig) -> None:
    rig = make_rig()
    resp = rig.get("/noop")
    assert resp.status == 200
    assert resp.set_cookies == [f"session={signed('id1')}; Path=/; HttpOnly"]
    assert resp.vary == "Cookie"
    assert rig.store.calls == [("set", "id1")]
    assert rig.store.inner.get("id1") == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}
    }


def test_returning_visitor_is_loaded_and_touched(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit("/write?a=1")
    resp = rig.get("/read", cookie=cookie)
    assert resp.body == {"a": "1"}
    assert resp.set_cookies == []  # a browser-session cookie is never re-sent (express)
    assert resp.vary == "Cookie"
    assert rig.store.calls == [("get", "id1"), ("touch", "id1")]


def test_modified_session_with_expiry_is_saved_and_cookie_resent(make_rig: MakeRig) -> None:
    rig = make_rig(cookie={"max_age": 60})
    cookie = rig.visit("/write?a=1")
    rig.clock.advance(10)
    resp = rig.get("/write?b=2", cookie=cookie)
    assert resp.set_cookies == [
        f"session={signed('id1')}; Path=/; Expires=Wed, 04 Mar 2026 05:07:17 GMT; HttpOnly"
    ]
    assert rig.store.calls == [("get", "id1"), ("set", "id1")]
    assert rig.store.inner.get("id1") == {
        "cookie": {
            "originalMaxAge": 60000,
            "expires": "2026-03-04T05:07:17.000Z",
            "httpOnly": True,
            "path": "/",
        },
        "a": "1",
        "b": "2",
    }


def test_rolling_resends_the_cookie_of_an_untouched_session(make_rig: MakeRig) -> None:
    rig = make_rig(rolling=True, cookie={"max_age": 60})
    cookie = rig.visit()
    resp = rig.get("/noop", cookie=cookie)
    assert resp.set_cookies == [f"session={signed('id1')}; Path=/; Expires={IN_60S}; HttpOnly"]
    assert rig.store.calls == [("get", "id1"), ("touch", "id1")]


def test_save_uninitialized_false_stores_only_sessions_with_data(make_rig: MakeRig) -> None:
    rig = make_rig(save_uninitialized=False)
    resp = rig.get("/read")
    assert (resp.set_cookies, rig.store.calls) == ([], [])
    resp = rig.get("/write?a=1")
    assert resp.set_cookies == [f"session={signed('id2')}; Path=/; HttpOnly"]
    assert rig.store.calls == [("set", "id2")]


def test_vary_only_when_the_session_was_used_or_a_cookie_set(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    assert rig.get("/noop", cookie=cookie).vary is None
    assert rig.get("/read", cookie=cookie).vary == "Cookie"


def test_vary_cookie_joins_the_apps_own_vary(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/negotiated")
        def negotiated() -> Response:
            resp = Response(str(session.get("a")))
            resp.headers["Vary"] = "Accept-Encoding"
            return resp

    rig = make_rig(configure)
    cookie = rig.visit()
    assert rig.get("/negotiated", cookie=cookie).vary == "Accept-Encoding, Cookie"


def test_tampered_cookie_is_a_new_session(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.visit()
    resp = rig.get("/read", cookie=f"session={signed('id1', 'guessed')}")
    assert resp.status == 200
    assert resp.body == {}
    assert resp.set_cookies == [f"session={signed('id2')}; Path=/; HttpOnly"]
    assert rig.store.calls == [("set", "id2")]


def test_enoent_from_the_store_is_a_new_session(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    rig.store.fail_get = FileNotFoundError("ENOENT")
    resp = rig.get("/read", cookie=cookie)
    assert resp.status == 200
    assert resp.body == {}
    assert rig.store.calls == [("get", "id1"), ("set", "id2")]


def test_store_get_error_is_a_500(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    rig.store.fail_get = ConnectionError("store down")
    resp = rig.get("/read", cookie=cookie)
    assert resp.status == 500
    assert resp.body != {"a": "1"}
    assert resp.set_cookies == []
    assert rig.store.calls == [("get", "id1")]


class FailingSetStore(RecordingStore):
    """A store whose writes fail (a full disk, a lost connection)."""

    def set(self, sid: str, record: object) -> None:
        self._log("set", sid)
        raise OSError("disk full")


def test_store_set_error_is_a_500_not_the_views_200(make_rig: MakeRig) -> None:
    rig = make_rig(store=FailingSetStore(inner=MemoryStore()))
    resp = rig.get("/write?a=1")
    assert resp.status == 500
    assert resp.body != {"a": "1"}
    assert resp.set_cookies == []
    assert resp.vary is None
    assert rig.store.calls == [("set", "id1")]  # the error response does not try again


def test_store_set_error_goes_through_the_apps_500_handler(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.errorhandler(500)
        def server_error(error: Exception) -> tuple[dict[str, str], int]:
            return {"error": type(getattr(error, "original_exception", error)).__name__}, 500

    rig = make_rig(configure, store=FailingSetStore(inner=MemoryStore()))
    resp = rig.get("/write?a=1")
    assert (resp.status, resp.body) == (500, {"error": "StoreError"})


def test_store_errors_propagate_in_testing_mode(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        app.testing = True

    rig = make_rig(configure, store=FailingSetStore(inner=MemoryStore()))
    with pytest.raises(coatcheck_flask.StoreError, match="store set failed"):
        rig.get("/write?a=1")


def test_outside_the_cookie_path_flask_gets_its_null_session(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/outside-write")
        def outside_write() -> str:
            session["a"] = 1
            return "written"

    rig = make_rig(configure, cookie={"path": "/app"})
    resp = rig.get("/outside", cookie=f"session={signed('id1')}")
    assert resp.body == {"has_session": False}
    assert (resp.set_cookies, resp.vary, rig.store.calls) == ([], None, [])
    rig.app.testing = True
    with pytest.raises(RuntimeError, match="outside the session cookie's path"):
        rig.get("/outside-write")


def test_cookie_path_is_matched_against_the_full_url_path(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        app.config["APPLICATION_ROOT"] = "/app"

    rig = make_rig(configure)
    # Mounted at /app (SCRIPT_NAME): Flask's request.path is /read, the browser's path /app/read.
    resp = rig.client.client.get("/read", base_url="http://localhost/app/")
    assert resp.headers.getlist("Set-Cookie") == [f"session={signed('id1')}; Path=/app; HttpOnly"]
    assert rig.get("/outside").body == {"has_session": False}


@pytest.mark.parametrize(
    ("proxy", "behind_proxy_fix", "https", "forwarded", "sent"),
    [
        (None, False, True, None, True),
        (None, False, False, "https", False),  # Flask does not trust the header by itself
        (None, True, False, "https", True),  # ... but ProxyFix makes request.is_secure true
        (True, False, False, "https", True),
        (True, False, False, "http, https", False),  # only the first value counts
        (True, False, True, "http", True),  # direct TLS wins
        (False, True, False, "https", False),  # the server itself said http, ProxyFix or not
        (False, False, True, None, True),
    ],
)
def test_secure_cookie_follows_the_proxy_option(
    make_rig: MakeRig,
    proxy: bool | None,
    behind_proxy_fix: bool,
    https: bool,
    forwarded: str | None,
    sent: bool,
) -> None:
    rig = make_rig(proxy=proxy, cookie={"secure": True})
    if behind_proxy_fix:
        rig.app.wsgi_app = ProxyFix(rig.app.wsgi_app, x_proto=1)  # type: ignore[method-assign]
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    resp = rig.get("/write?a=1", https=https, headers=headers)
    expected = [f"session={signed('id1')}; Path=/; HttpOnly; Secure"] if sent else []
    assert resp.set_cookies == expected
    assert rig.store.calls == [("set", "id1")]  # saved either way, as express does


def test_secure_auto_is_resolved_per_new_session(make_rig: MakeRig) -> None:
    rig = make_rig(cookie={"secure": "auto", "same_site": "auto"})
    rig.app.wsgi_app = ProxyFix(rig.app.wsgi_app, x_proto=1)  # type: ignore[method-assign]
    resp = rig.get("/noop", headers={"X-Forwarded-Proto": "https"})
    assert resp.set_cookies == [f"session={signed('id1')}; Path=/; HttpOnly; Secure; SameSite=None"]
    resp = rig.get("/noop")
    assert resp.set_cookies == [f"session={signed('id2')}; Path=/; HttpOnly; SameSite=Lax"]


def test_changes_made_while_streaming_are_saved_when_the_body_is_done(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/stream")
        def stream() -> Response:
            def body() -> Iterator[str]:
                yield "one "
                session["late"] = True
                yield "two"

            return Response(stream_with_context(body()))

    rig = make_rig(configure)
    cookie = rig.visit()
    resp = rig.client.client.get("/stream", headers={"Cookie": cookie})
    assert resp.get_data(as_text=True) == "one two"
    resp.close()
    assert rig.store.calls == [("get", "id1"), ("touch", "id1"), ("set", "id1")]
    assert rig.store.inner.get("id1") == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
        "a": "1",
        "late": True,
    }


def test_the_clock_drives_expiry(make_rig: MakeRig) -> None:
    rig = make_rig(cookie={"max_age": 60})
    cookie = rig.visit()
    rig.clock.advance(61)
    resp = rig.get("/read", cookie=cookie)
    assert resp.body == {}  # expired in the store: a new session
    assert jar(resp) == f"session={signed('id2')}"
    assert rig.store.calls == [("get", "id1"), ("set", "id2")]
