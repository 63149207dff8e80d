"""One behaviour, three frameworks: every scenario runs against ASGI, Flask and Django and
must give the same Set-Cookie and the same store operations.

Options pin every cookie attribute explicitly so that framework defaults (Django's
``sessionid``/Lax/two weeks, Flask's ``session``) do not differ between adapters; the adapters'
own tests cover those defaults.
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from coatcheck._signing import ExpressSigner, sign_session_id
from tests.scenarios.harness import RecordingStore, Response, ScenarioClient

ADAPTERS = ("asgi_adapter", "flask_adapter", "django_adapter")
SECRET = "keyboard cat"
NAME = "sid"
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def signed(sid: str, secret: str = SECRET) -> str:
    """The cookie value express would send for ``sid``."""
    return quote(sign_session_id(sid, ExpressSigner([secret])), safe="!'()*-._~")


def shape(set_cookie: str) -> str:
    """A Set-Cookie with its (time-dependent) Expires date replaced, the epoch kept."""
    return re.sub(r"Expires=(?!Thu, 01 Jan 1970)[^;]+", "Expires=<date>", set_cookie)


def jar(resp: Response) -> str:
    """The Cookie header a browser would send back after ``resp``."""
    assert resp.set_cookies, "expected a Set-Cookie"
    return resp.set_cookies[0].split(";", 1)[0]


class World:
    """One app under test, with its recording store and deterministic ids."""

    def __init__(self, adapter: str, **overrides: Any) -> None:
        self.store = RecordingStore()
        counter = itertools.count(1)
        options: dict[str, Any] = {
            "secret": SECRET,
            "name": NAME,
            "resave": False,
            "save_uninitialized": True,
            "store": self.store,
            "genid": lambda request: f"id{next(counter)}",
            "cookie": {
                "path": "/",
                "http_only": True,
                "secure": False,
                "same_site": "lax",
                "max_age": 60,
            },
        }
        cookie_overrides = overrides.pop("cookie", {})
        options.update(overrides)
        options["cookie"] = {**options["cookie"], **cookie_overrides}
        self.store = options["store"]
        harness = importlib.import_module(f"tests.{adapter}.harness")
        self.client: ScenarioClient = harness.make_client(options)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, **kwargs)

    def visit(self) -> str:
        """A first visit that stores a session; returns the cookie to send back."""
        resp = self.get("/incr")
        assert resp.status == 200
        self.store.reset()
        return jar(resp)


def cookie_line(sid: str, *, secure: bool = False) -> str:
    return (
        f"{NAME}={signed(sid)}; Path=/; Expires=<date>; HttpOnly"
        + ("; Secure" if secure else "")
        + "; SameSite=Lax"
    )


@pytest.fixture(params=ADAPTERS)
def world(request: pytest.FixtureRequest) -> Callable[..., World]:
    return lambda **overrides: World(request.param, **overrides)


def test_new_visitor_gets_a_cookie_and_a_stored_session(world: Callable[..., World]) -> None:
    w = world()
    resp = w.get("/read")
    assert resp.status == 200
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id1")]
    assert w.store.methods() == ["set"]
    assert resp.vary is not None
    assert "Cookie" in resp.vary


def test_returning_visitor_unchanged_is_touched_not_resent(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/read", cookie=cookie)
    assert resp.body == {"n": 1}
    assert resp.set_cookies == []
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]


def test_modified_session_is_saved_and_cookie_resent(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/incr", cookie=cookie)
    assert resp.body == {"n": 2}
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id1")]
    assert w.store.calls == [("get", "id1"), ("set", "id1")]


def test_rolling_resends_the_cookie_on_every_response(world: Callable[..., World]) -> None:
    w = world(rolling=True)
    cookie = w.visit()
    resp = w.get("/read", cookie=cookie)
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id1")]
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]


def test_save_uninitialized_false_keeps_empty_sessions_out(world: Callable[..., World]) -> None:
    w = world(save_uninitialized=False)
    resp = w.get("/read")
    assert resp.set_cookies == []
    assert w.store.calls == []
    resp = w.get("/incr")
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]
    assert w.store.calls == [("set", "id2")]


def test_untouched_session_adds_no_vary(world: Callable[..., World]) -> None:
    w = world(save_uninitialized=False)
    resp = w.get("/noop")
    assert resp.set_cookies == []
    assert resp.vary is None or "cookie" not in resp.vary.lower()


@pytest.mark.parametrize(
    ("proxy", "https", "forwarded", "sent"),
    [
        (None, True, None, True),
        (None, False, None, False),
        (True, False, "https", True),
        (True, False, "http", False),
        (False, False, "https", False),
        (False, True, None, True),
    ],
)
def test_secure_cookie_only_over_secure_requests(
    world: Callable[..., World], proxy: bool | None, https: bool, forwarded: str | None, sent: bool
) -> None:
    w = world(proxy=proxy, cookie={"secure": True})
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    resp = w.get("/incr", https=https, headers=headers)
    expected = [cookie_line("id1", secure=True)] if sent else []
    assert [shape(c) for c in resp.set_cookies] == expected
    assert w.store.calls == [("set", "id1")]  # the store is written either way (express §7)


def test_regenerate_destroys_the_old_id_and_sends_the_new(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/regenerate", cookie=cookie)
    assert resp.body == {"r": 1}
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]
    assert w.store.calls == [("get", "id1"), ("destroy", "id1"), ("set", "id2")]


def test_destroy_clears_the_cookie(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/destroy", cookie=cookie)
    assert resp.set_cookies == [f"{NAME}=; Path=/; Expires={EPOCH}; HttpOnly; SameSite=Lax"]
    assert w.store.calls == [("get", "id1"), ("destroy", "id1")]
    assert w.get("/read", cookie=cookie).body == {}


def test_reload_discards_unsaved_changes(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/reload", cookie=cookie)
    assert resp.body == {"n": 1}
    assert w.store.calls == [("get", "id1"), ("get", "id1"), ("touch", "id1")]


def test_explicit_save_is_not_repeated_at_the_end(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/save", cookie=cookie)
    assert resp.body == {"n": 1, "s": 1}
    assert w.store.calls[:2] == [("get", "id1"), ("set", "id1")]
    assert ("set", "id1") not in w.store.calls[2:]


def test_touch_resets_expiry_without_saving(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    resp = w.get("/touch", cookie=cookie)
    assert resp.set_cookies == []
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]


@pytest.mark.parametrize(("unset", "calls"), [("keep", []), ("destroy", [("destroy", "id1")])])
def test_unset_follows_the_unset_option(
    world: Callable[..., World], unset: str, calls: list[tuple[str, str]]
) -> None:
    w = world(unset=unset)
    cookie = w.visit()
    resp = w.get("/unset", cookie=cookie)
    assert resp.status == 200
    assert resp.set_cookies == []
    assert w.store.calls == [("get", "id1"), *calls]


def test_tampered_cookie_is_just_a_new_session(world: Callable[..., World]) -> None:
    w = world()
    w.visit()
    forged = f"{NAME}={signed('id1', secret='not the secret')}"
    resp = w.get("/read", cookie=forged)
    assert resp.status == 200
    assert resp.body == {}
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]
    assert w.store.calls == [("set", "id2")]


def test_rotated_secret_still_reads_old_cookies(world: Callable[..., World]) -> None:
    old = world(secret="old secret")
    old_cookie = old.visit()
    w = world(secret=["new secret", "old secret"], store=old.store)
    w.store.reset()
    resp = w.get("/read", cookie=old_cookie)
    assert resp.body == {"n": 1}
    assert resp.set_cookies == []  # accepted, not re-signed until it is re-sent anyway
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]


def test_store_read_error_is_a_500(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    w.store.fail_get = ConnectionError("store down")
    resp = w.get("/read", cookie=cookie)
    assert resp.status == 500
    assert resp.set_cookies == []
    assert w.store.calls == [("get", "id1")]


def test_enoent_from_the_store_means_a_new_session(world: Callable[..., World]) -> None:
    w = world()
    cookie = w.visit()
    w.store.fail_get = FileNotFoundError("ENOENT")
    resp = w.get("/read", cookie=cookie)
    assert resp.status == 200
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]
    assert w.store.calls == [("get", "id1"), ("set", "id2")]
