"""Django's own session consumers, unchanged, on a coatcheck session: contrib.auth (sync and
async), update_session_auth_hash, contrib.messages, CSRF_USE_SESSIONS, the expiry API."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

from django.test import AsyncClient, Client, override_settings

from coatcheck.stores import MemoryStore


def login(client: Client, user: Any) -> str:
    """Log in through the login view; the new session id."""
    resp = client.get("/login/", {"u": user.get_username(), "p": "pw-1"})
    assert resp.status_code == 200
    return str(resp.json()["id"])


def test_login_is_seen_by_the_next_request_and_logout_forgets_it(
    store: MemoryStore, user: Any
) -> None:
    client = Client()
    sid = login(client, user)
    record = store.get(sid)
    assert record is not None
    assert record["_auth_user_id"] == str(user.pk)
    assert client.get("/whoami/").json() == {"user": user.get_username()}

    client.get("/logout/")
    assert store.get(sid) is None  # flush() destroyed the logged-in session ...
    assert client.cookies["sessionid"].value == ""  # ... and expired the cookie (as Django)
    assert store.length() == 0  # an anonymous logout stores nothing
    assert client.get("/whoami/").json() == {"user": None}


def test_login_moves_the_anonymous_data_to_a_new_id(store: MemoryStore, user: Any) -> None:
    client = Client()
    client.get("/put/", {"cart": "3 apples"})
    anonymous_id = client.session.id
    sid = login(client, user)
    assert sid != anonymous_id  # cycle_key(): fixation defence
    assert store.get(anonymous_id) is None
    record = store.get(sid)
    assert record is not None
    assert record["cart"] == "3 apples"


async def test_alogin_and_alogout_in_async_views(store: MemoryStore, user: Any) -> None:
    client = AsyncClient()
    resp = await client.get("/alogin/", {"u": user.get_username(), "p": "pw-1"})
    sid = resp.json()["id"]
    assert store.get(sid) is not None
    assert (await client.get("/awhoami/")).json() == {"user": user.get_username()}
    await client.get("/alogout/")
    assert store.get(sid) is None
    assert (await client.get("/awhoami/")).json() == {"user": None}


def test_password_change_keeps_this_session_and_ends_the_others(
    store: MemoryStore, user: Any
) -> None:
    mine, other = Client(), Client()
    sid = login(mine, user)
    login(other, user)
    new_id = mine.get("/change-password/", {"p": "pw-2"}).json()["id"]
    assert new_id != sid  # update_session_auth_hash cycles the key
    assert mine.get("/whoami/").json() == {"user": user.get_username()}
    assert other.get("/whoami/").json() == {"user": None}  # its hash no longer matches


def test_messages_survive_a_redirect_once(store: MemoryStore) -> None:
    client = Client()
    resp = client.get("/message/", {"text": "hello"})
    assert resp.status_code == 302
    assert client.get(resp["Location"]).json() == {"messages": ["hello"]}
    assert client.get("/messages/").json() == {"messages": []}


@override_settings(CSRF_USE_SESSIONS=True)
def test_csrf_token_kept_in_the_session_guards_posts(store: MemoryStore) -> None:
    client = Client(enforce_csrf_checks=True)
    token = client.get("/csrf-token/").json()["token"]
    assert "csrftoken" not in client.cookies  # the secret went to the session instead
    assert "_csrftoken" in client.session
    assert client.post("/csrf-post/", {"csrfmiddlewaretoken": token}).status_code == 200
    assert client.post("/csrf-post/").status_code == 403


def test_set_expiry_zero_makes_a_browser_session_cookie(store: MemoryStore) -> None:
    resp = Client().get("/expiry/", {"s": "0"})
    set_cookie = resp.cookies["sessionid"].OutputString()
    assert "Expires=" not in set_cookie
    assert resp.json()["at_browser_close"] is True


def test_set_expiry_seconds_sets_expires_and_the_stored_lifetime(store: MemoryStore) -> None:
    before = int(time.time())
    client = Client()
    resp = client.get("/expiry/", {"s": "300"})
    expires = parsedate_to_datetime(resp.cookies["sessionid"]["expires"]).timestamp()
    assert before + 299 <= expires <= time.time() + 300
    assert resp.json()["at_browser_close"] is False
    assert 290 <= resp.json()["age"] <= 300
    record = store.get(client.session.id)
    assert record is not None
    assert record["cookie"]["originalMaxAge"] == 300_000
    assert "_session_expiry" not in record  # the expiry lives in the cookie, as in express


def test_without_set_expiry_the_lifetime_is_session_cookie_age(store: MemoryStore) -> None:
    with override_settings(SESSION_COOKIE_AGE=600):
        resp = Client().get("/expiry/")
    assert 590 <= resp.json()["age"] <= 600
