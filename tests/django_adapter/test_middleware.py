"""The middleware's translation: the exact Set-Cookie on the wire (WSGI and ASGI), Vary,
outside the cookie path, replacing the session, store failures, streaming, secure requests."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import iscoroutinefunction
from django.contrib.admin.checks import _contains_subclass
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, override_settings

from coatcheck import StoreError
from coatcheck._signing import ExpressSigner, sign_session_id
from coatcheck.stores import MemoryStore
from coatcheck_django import SessionMiddleware, SessionStore, get_session
from tests.django_adapter.stores import FailingWrites

SECRET_KEY = "django-test-secret-key-not-for-production"  # djsettings
OPTIONS = {"resave": False, "save_uninitialized": False}


def signed(sid: str) -> str:
    return quote(sign_session_id(sid, ExpressSigner([SECRET_KEY])), safe="!'()*-._~")


def shape(set_cookie: str) -> str:
    return re.sub(r"Expires=[^;]+", "Expires=<date>", set_cookie)


def only_id(store: MemoryStore) -> str:
    (sid,) = store.all()
    return sid


def test_set_cookie_on_the_wsgi_wire_is_express_s(store: MemoryStore) -> None:
    captured: list[Any] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/put/",
        "QUERY_STRING": "a=1",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }
    body = WSGIHandler()(environ, lambda status, headers: captured.extend(headers))
    b"".join(body)
    set_cookies = [value.strip() for name, value in captured if name == "Set-Cookie"]
    # Django's defaults: sessionid, two weeks, HttpOnly, SameSite=Lax; express's order.
    expected = f"sessionid={signed(only_id(store))}; Path=/; Expires=<date>; HttpOnly; SameSite=Lax"
    assert [shape(c) for c in set_cookies] == [expected]
    assert ("Vary", "Cookie") in captured


async def asgi_get(path: str, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """One request through Django's ASGIHandler; the messages it sent."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"a=2",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 443),
    }
    sent: list[dict[str, Any]] = []
    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        request = next(requests, None)
        if request is None:
            await asyncio.Event().wait()  # no disconnect until the handler stops listening
        return request  # type: ignore[return-value]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await ASGIHandler()(scope, receive, send)
    return sent


async def test_asgi_reads_cookies_split_over_http2_headers_and_sends_the_exact_header(
    store: MemoryStore,
) -> None:
    first = Client()
    first.get("/put/", {"a": "1"})
    sid = first.session.id
    headers = [(b"cookie", b"theme=dark"), (b"cookie", f"sessionid={signed(sid)}".encode())]
    start, *_ = await asgi_get("/put/", headers)
    set_cookies = [value for name, value in start["headers"] if name == b"Set-Cookie"]
    expected = f"sessionid={signed(sid)}; Path=/; Expires=<date>; HttpOnly; SameSite=Lax"
    assert [shape(v.decode()) for v in set_cookies] == [expected]  # same id: loaded, modified
    record = store.get(sid)
    assert record is not None
    assert record["a"] == "2"


def test_vary_cookie_is_added_to_the_view_s_vary(store: MemoryStore) -> None:
    resp = Client().get("/vary/")
    assert resp["Vary"] == "Accept-Language, Cookie"


def test_a_view_that_ignores_the_session_gets_no_vary_and_no_cookie(store: MemoryStore) -> None:
    resp = Client().get("/plain/")
    assert not resp.has_header("Vary")
    assert not resp.cookies
    assert store.length() == 0


@pytest.fixture
def inside_only() -> Iterator[MemoryStore]:
    memory = MemoryStore()
    options = {**OPTIONS, "store": memory, "cookie": {"path": "/inside"}}
    with override_settings(COATCHECK=options):
        yield memory


def test_outside_the_cookie_path_an_empty_session_is_never_saved(
    inside_only: MemoryStore, user: Any
) -> None:
    client = Client()
    resp = client.get("/outside/login/", {"u": user.get_username(), "p": "pw-1"})
    assert resp.status_code == 200  # contrib.auth found a session to log into
    assert resp.json() == {"id": None}
    assert "sessionid" not in resp.cookies
    assert inside_only.length() == 0
    resp = client.get("/inside/put/", {"a": "1"})
    assert "; Path=/inside;" in resp.cookies["sessionid"].OutputString()
    assert client.get("/outside/data/").json() == {}  # the cookie is not even looked at


def test_get_session_is_the_typed_request_session(store: MemoryStore) -> None:
    resp = Client().get("/long-cookie/")
    assert resp.json() == {"max_age": 120.0}
    assert resp.cookies["sessionid"]["expires"]  # the per-session max age was sent
    (record,) = store.all().values()
    assert record["cookie"]["originalMaxAge"] == 120_000


def test_get_session_refuses_a_request_without_a_coatcheck_session() -> None:
    request = HttpRequest()
    with pytest.raises(RuntimeError, match="not a coatcheck session"):
        get_session(request)


def test_outside_the_cookie_path_the_cookie_cannot_be_changed(inside_only: MemoryStore) -> None:
    request = HttpRequest()
    request.session = SessionStore(detached=True)
    with pytest.raises(RuntimeError, match="outside the cookie path"):
        get_session(request).cookie.max_age = 60


def test_assigning_a_dict_replaces_the_data(store: MemoryStore) -> None:
    client = Client()
    client.get("/put/", {"a": "1"})
    client.get("/replace/")
    assert client.get("/data/").json() == {"replaced": True}


def test_deleting_the_session_keeps_it_with_unset_keep(store: MemoryStore) -> None:
    client = Client()
    client.get("/put/", {"a": "1"})
    resp = client.get("/unset/")
    assert not resp.cookies
    assert client.get("/data/").json() == {"a": "1"}


def test_a_failing_store_write_is_a_500_not_a_lost_write() -> None:
    with override_settings(COATCHECK={**OPTIONS, "store": FailingWrites()}):
        resp = Client(raise_request_exception=False).get("/put/", {"a": "1"})
        assert resp.status_code == 500
        assert not resp.cookies
        with pytest.raises(StoreError, match=r"store set(_if)? failed"):
            Client().get("/put/", {"a": "1"})


def test_changes_made_while_streaming_are_saved_when_the_body_ends(store: MemoryStore) -> None:
    client = Client()
    client.get("/put/", {"a": "1"})
    sid = client.session.id
    resp = client.get("/stream/")
    assert "streamed" not in (store.get(sid) or {})  # headers sent, body not yet consumed
    assert b"".join(resp.streaming_content) == b"first last"
    record = store.get(sid)
    assert record is not None
    assert record["streamed"] is True


async def test_async_streaming_bodies_are_saved_when_they_end(store: MemoryStore) -> None:
    client = AsyncClient()
    await client.get("/put/", {"a": "1"})
    sid = (await client.asession()).id
    resp = await client.get("/astream/")
    assert b"".join([chunk async for chunk in resp.streaming_content]) == b"first last"
    record = store.get(sid)
    assert record is not None
    assert record["streamed"] is True


@pytest.mark.parametrize(("forwarded", "sent"), [("https", True), ("http", False), (None, False)])
@override_settings(
    SESSION_COOKIE_SECURE=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
)
def test_secure_cookie_follows_secure_proxy_ssl_header(
    store: MemoryStore, forwarded: str | None, sent: bool
) -> None:
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    resp = Client().get("/put/", {"a": "1"}, headers=headers)
    assert ("sessionid" in resp.cookies) is sent
    if sent:
        assert "; Secure;" in resp.cookies["sessionid"].OutputString()
    assert store.length() == 1  # stored either way; only the cookie is withheld (express §7)


def test_it_is_a_sync_and_async_capable_django_session_middleware() -> None:
    assert SessionMiddleware.sync_capable
    assert SessionMiddleware.async_capable
    assert issubclass(SessionMiddleware, DjangoSessionMiddleware)
    # so the admin's check (admin.E410) accepts it in place of Django's
    assert _contains_subclass(
        "django.contrib.sessions.middleware.SessionMiddleware",
        ["coatcheck_django.SessionMiddleware"],
    )

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert iscoroutinefunction(SessionMiddleware(view))
    assert not iscoroutinefunction(SessionMiddleware(lambda request: HttpResponse()))
