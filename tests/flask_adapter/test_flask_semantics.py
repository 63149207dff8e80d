"""Where Flask's own behaviour is kept (issue 9; DESIGN "Details pinned down", Flask): settings
read at the first request and when they change, SESSION_REFRESH_EACH_REQUEST as rolling for
permanent sessions, a change of ``session.permanent`` re-sends the cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask, session
from flask.sessions import NullSession

import coatcheck_flask
from coatcheck.stores import MemoryStore


def make_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="first key", **config)
    coatcheck_flask.Session(app, store=MemoryStore(), resave=False, save_uninitialized=False)

    @app.get("/put")
    def put() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/read")
    def read() -> str:
        return str(session.get("n"))

    @app.get("/permanent/<int:on>")
    def permanent(on: int) -> str:
        session.permanent = bool(on)
        return ""

    return app


def test_settings_changed_after_session_app_apply() -> None:
    app = make_app()
    app.config.update(SESSION_COOKIE_PATH="/p", SESSION_COOKIE_NAME="sid")
    client = app.test_client()
    assert client.get("/put").headers.get("Set-Cookie") is None  # outside /p: no session
    app.config["SESSION_COOKIE_PATH"] = "/"
    cookie = client.get("/put").headers["Set-Cookie"]
    assert cookie.startswith("sid=s%3A")
    assert "; Path=/;" in cookie


def test_secret_rotation_after_init_is_seen() -> None:
    app = make_app()
    client = app.test_client()
    client.get("/put")
    app.config.update(SECRET_KEY="second key", SECRET_KEY_FALLBACKS=["first key"])
    assert client.get("/read").text == "1"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/read").text == "None"


def test_no_secret_at_request_time_is_flask_s_null_session() -> None:
    app = make_app()
    app.secret_key = None
    with app.test_request_context():
        assert isinstance(session._get_current_object(), NullSession)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="no secret key"):
            session["a"] = 1


def test_refresh_each_request_re_sends_permanent_cookies_only() -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(days=2))
    client = app.test_client()
    client.get("/put")
    assert client.get("/read").headers.get("Set-Cookie") is None  # browser session: not re-sent
    client.get("/permanent/1")
    resent = client.get("/read").headers["Set-Cookie"]
    assert "Expires=" in resent
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert client.get("/read").headers.get("Set-Cookie") is None


def test_making_a_session_non_permanent_re_sends_the_cookie() -> None:
    app = make_app(SESSION_REFRESH_EACH_REQUEST=False)
    client = app.test_client()
    client.get("/put")
    assert "Expires=" in client.get("/permanent/1").headers["Set-Cookie"]
    back = client.get("/permanent/0").headers["Set-Cookie"]  # no data change, still re-sent
    assert "Expires=" not in back
    assert client.get("/permanent/0").headers.get("Set-Cookie") is None  # no change: nothing
