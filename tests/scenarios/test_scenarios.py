"""One behaviour, three frameworks: every scenario runs against ASGI, Flask and Django and
must give the same Set-Cookie and the same store operations.

Options pin every cookie attribute explicitly so that framework defaults (Django's
``sessionid``/Lax/two weeks, Flask's ``session``) do not differ between adapters; the adapters'
own tests cover those defaults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import itertools
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest

from coatcheck._signing import ExpressSigner, sign_session_id
from coatcheck.testing import js_iso
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


# -- lifetimes and ids at rest (DESIGN "Lifetimes and ids at rest") ----------------------------

HOUR_MS = 3_600_000


def at_rest_key(secret: str, sid: str) -> str:
    """``id_at_rest="hmac"``'s documented store key, computed independently of coatcheck."""
    derived = hmac.new(secret.encode(), b"coatcheck id-at-rest v1", hashlib.sha256).digest()
    mac = hmac.new(derived, sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def stored(w: World, key: str) -> dict[str, Any]:
    record = w.store.inner.get(key)
    assert record is not None, f"nothing stored under {key}"
    return record


def age(w: World, key: str, *, created_ms_ago: int) -> int:
    """Pretend the stored session was created earlier (and kept alive past its deadline, as a
    store that a Node app touched would); returns the new creation time."""
    record = stored(w, key)
    created = record["_coatcheck"]["created"] - created_ms_ago
    record["_coatcheck"] = {"created": created, "deadline": created + 100 * HOUR_MS}
    w.store.inner.set(key, record)
    return int(created)


def test_max_lifetime_stores_the_creation_time_out_of_the_apps_sight(
    world: Callable[..., World],
) -> None:
    w = world(max_lifetime=3600)
    cookie = w.visit()
    record = stored(w, "id1")
    assert list(record) == ["cookie", "_coatcheck", "n"]
    meta = record["_coatcheck"]
    assert meta["deadline"] == meta["created"] + HOUR_MS
    resp = w.get("/read", cookie=cookie)
    assert resp.body == {"n": 1}  # the app never sees "_coatcheck"
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]


def test_a_session_past_max_lifetime_starts_over(world: Callable[..., World]) -> None:
    w = world(max_lifetime=3600, rolling=True)
    cookie = w.visit()
    age(w, "id1", created_ms_ago=HOUR_MS + 1)
    resp = w.get("/read", cookie=cookie)
    assert resp.status == 200
    assert resp.body == {}
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]
    assert w.store.calls == [("get", "id1"), ("destroy", "id1"), ("set", "id2")]
    assert w.store.inner.get("id1") is None


def test_login_keeps_the_absolute_lifetime_unless_renewed(world: Callable[..., World]) -> None:
    w = world(max_lifetime=3600)
    cookie = w.visit()
    created = age(w, "id1", created_ms_ago=60_000)
    resp = w.get("/cycle-key", cookie=cookie)
    assert resp.body == {"n": 1}
    assert w.store.calls == [("get", "id1"), ("destroy", "id1"), ("set", "id2")]
    assert stored(w, "id2")["_coatcheck"]["created"] == created
    renewed = w.get("/cycle-key?renew=1", cookie=jar(resp))
    assert renewed.body == {"n": 1}
    assert stored(w, "id3")["_coatcheck"]["created"] > created


def test_touch_after_touches_and_resends_only_when_the_expiry_lags(
    world: Callable[..., World],
) -> None:
    w = world(touch_after=10, rolling=True)
    cookie = w.visit()
    resp = w.get("/read", cookie=cookie)
    assert resp.body == {"n": 1}
    assert resp.set_cookies == []  # rolling, but nothing was touched: nothing re-sent
    assert w.store.calls == [("get", "id1")]
    record = stored(w, "id1")  # as 30 s after the last touch: the store's expiry lags by 30 s
    record["cookie"]["expires"] = js_iso(datetime.now(timezone.utc) + timedelta(seconds=30))
    w.store.inner.set("id1", record)
    w.store.reset()
    resp = w.get("/read", cookie=cookie)
    assert w.store.calls == [("get", "id1"), ("touch", "id1")]
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id1")]


def test_hmac_ids_never_reach_the_store(world: Callable[..., World]) -> None:
    w = world(id_at_rest="hmac")
    cookie = w.visit()
    key1, key2 = at_rest_key(SECRET, "id1"), at_rest_key(SECRET, "id2")
    assert stored(w, key1)["n"] == 1
    assert w.store.inner.get("id1") is None
    assert w.get("/incr", cookie=cookie).body == {"n": 2}
    resp = w.get("/cycle-key", cookie=cookie)
    assert [shape(c) for c in resp.set_cookies] == [cookie_line("id2")]  # the cookie: the id
    w.get("/destroy", cookie=jar(resp))
    assert w.store.calls == [
        ("get", key1),
        ("set", key1),
        ("get", key1),
        ("destroy", key1),
        ("set", key2),
        ("get", key2),
        ("destroy", key2),
    ]


def test_hmac_secret_rotation_moves_the_record(world: Callable[..., World]) -> None:
    old = world(id_at_rest="hmac", secret="old secret")
    cookie = old.visit()
    w = world(id_at_rest="hmac", secret=["new secret", "old secret"], store=old.store)
    new_key, old_key = at_rest_key("new secret", "id1"), at_rest_key("old secret", "id1")
    resp = w.get("/read", cookie=cookie)
    assert resp.body == {"n": 1}
    assert w.store.calls == [
        ("get", new_key),
        ("get", old_key),
        ("set", new_key),
        ("destroy", old_key),
    ]
    w.store.reset()
    assert w.get("/read", cookie=cookie).body == {"n": 1}
    assert w.store.calls == [("get", new_key), ("touch", new_key)]
