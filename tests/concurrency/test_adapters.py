"""Each adapter's translation of the concurrency outcomes (in process, on MemoryStore):
``SessionLockTimeout`` is a 503, a failing app releases the lock it held, and a session deleted
while a request ran is not written back (the response expires the cookie)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, session

import coatcheck_asgi
import coatcheck_flask
from coatcheck import SessionConfig
from coatcheck.stores import MemoryStore

SECRET = "a test secret that is long enough to sign cookies!"
LOCKED = {"concurrency": "lock", "lock_timeout": 0.05}
CLEARING = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"


def sid_of(config: SessionConfig, set_cookie: str) -> str:
    value = set_cookie.split(";", 1)[0].split("=", 1)[1]
    sid = config.session_id_from(value)
    assert sid is not None
    return sid


# -- ASGI ----------------------------------------------------------------------------------
async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """``/put`` sets ``x``; ``/boom`` changes the session, then fails; ``/gone`` writes after the
    session was destroyed elsewhere (by the test, through the store)."""
    path = scope["path"]
    scope["session"]["x"] = path
    if path == "/boom":
        raise RuntimeError("the app failed")
    if path == "/gone":
        store = scope["test.store"]
        store.destroy(scope["session"].id)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def asgi_client(store: MemoryStore, **options: Any) -> tuple[httpx.AsyncClient, SessionConfig]:
    middleware = coatcheck_asgi.SessionMiddleware(
        asgi_app, secret=SECRET, store=store, resave=False, save_uninitialized=False, **options
    )

    async def with_store(scope: Any, receive: Any, send: Any) -> None:
        scope["test.store"] = store
        await middleware(scope, receive, send)

    transport = httpx.ASGITransport(app=with_store, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t"), middleware.config


async def test_asgi_answers_503_while_the_session_is_locked_and_frees_it_on_failure() -> None:
    store = MemoryStore()
    client, config = asgi_client(store, **LOCKED)
    async with client:
        first = await client.get("/put")
        cookie = first.headers["set-cookie"].split(";", 1)[0]
        sid = sid_of(config, first.headers["set-cookie"])
        token = store.lock(sid, 30)  # another request holds it
        assert token is not None
        busy = await client.get("/put", headers={"cookie": cookie})
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "set-cookie" not in busy.headers
        store.unlock(sid, token)
        failed = await client.get("/boom", headers={"cookie": cookie})
        assert failed.status_code == 500
        assert store.lock(sid, 30) is not None  # the failed request released its lock
        record = store.get(sid)
        assert record is not None
        assert record["x"] == "/put"  # and wrote nothing


async def test_asgi_does_not_write_back_a_session_deleted_meanwhile() -> None:
    store = MemoryStore()
    client, config = asgi_client(store)
    async with client:
        first = await client.get("/put")
        cookie = first.headers["set-cookie"].split(";", 1)[0]
        sid = sid_of(config, first.headers["set-cookie"])
        gone = await client.get("/gone", headers={"cookie": cookie})
    assert gone.status_code == 200
    assert CLEARING in gone.headers["set-cookie"]
    assert store.get(sid) is None


# -- Flask ---------------------------------------------------------------------------------
def flask_app(store: MemoryStore, **options: Any) -> Flask:
    app = Flask(__name__)
    app.secret_key = SECRET
    coatcheck_flask.Session(app, store=store, resave=False, save_uninitialized=False, **options)

    @app.route("/put")
    def put() -> str:
        session["x"] = "/put"
        return "ok"

    @app.route("/boom")
    def boom() -> str:
        session["x"] = "/boom"
        raise RuntimeError("the app failed")

    @app.route("/gone")
    def gone() -> str:
        session["x"] = "/gone"
        store.destroy(coatcheck_flask.current_session().id)
        return "ok"

    return app


@pytest.mark.parametrize("testing", [False, True], ids=["production", "propagating"])
def test_flask_answers_503_while_the_session_is_locked_and_frees_it_on_failure(
    testing: bool,
) -> None:
    store = MemoryStore()
    app = flask_app(store, **LOCKED)
    app.testing = testing  # True: the view's error propagates and save_session is skipped
    config = app.session_interface.driver(app).config  # type: ignore[attr-defined]
    client = app.test_client()
    first = client.get("/put")
    sid = sid_of(config, first.headers["Set-Cookie"])
    token = store.lock(sid, 30)
    assert token is not None
    busy = client.get("/put")
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "Set-Cookie" not in busy.headers
    store.unlock(sid, token)
    if testing:
        with pytest.raises(RuntimeError):
            client.get("/boom")
    else:
        assert client.get("/boom").status_code == 500
    assert store.lock(sid, 30) is not None  # released either way


def test_flask_does_not_write_back_a_session_deleted_meanwhile() -> None:
    store = MemoryStore()
    app = flask_app(store)
    config = app.session_interface.driver(app).config  # type: ignore[attr-defined]
    client = app.test_client()
    sid = sid_of(config, client.get("/put").headers["Set-Cookie"])
    gone = client.get("/gone")
    assert gone.status_code == 200
    assert CLEARING in gone.headers["Set-Cookie"]
    assert store.get(sid) is None


# -- Django --------------------------------------------------------------------------------
@pytest.fixture
def django_store() -> Iterator[MemoryStore]:
    from django.test import override_settings

    from tests.django_adapter.djsettings import ensure_configured

    ensure_configured()
    store = MemoryStore()
    options = {"store": store, "resave": False, "save_uninitialized": False, **LOCKED}
    with override_settings(COATCHECK=options):
        yield store


def test_django_answers_503_while_the_session_is_locked(django_store: MemoryStore) -> None:
    from django.test import Client

    from coatcheck_django._settings import load_config

    client = Client()
    first = client.get("/put/", {"a": "1"})
    assert first.status_code == 200
    (sid,) = django_store.all()
    token = django_store.lock(sid, 30)
    assert token is not None
    busy = client.get("/put/", {"a": "2"})
    assert busy.status_code == 503
    assert busy["Retry-After"] == "1"
    assert not busy.cookies
    django_store.unlock(sid, token)
    assert client.get("/put/", {"a": "3"}).status_code == 200
    assert django_store.get(sid) == {**(django_store.get(sid) or {}), "a": "3"}
    assert django_store.lock(sid, 30) is not None
    assert load_config().locking
