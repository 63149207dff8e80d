"""Django's test client builds sessions through ``SESSION_ENGINE``: ``client.session``,
``login()``, ``force_login()``, ``logout()`` and their async forms."""

from __future__ import annotations

from typing import Any

from django.test import AsyncClient, Client

from coatcheck.stores import MemoryStore


def test_client_session_changes_saved_in_the_test_are_seen_by_views(store: MemoryStore) -> None:
    client = Client()
    session = client.session  # no cookie yet: a new session, saved, its key put in the jar
    session["colour"] = "blue"
    session.save()
    assert client.get("/data/").json() == {"colour": "blue"}

    session = client.session  # now loaded from the cookie
    session["size"] = "L"
    session.save()
    assert client.get("/data/").json() == {"colour": "blue", "size": "L"}


def test_the_cookie_the_client_keeps_is_the_signed_session_key(store: MemoryStore) -> None:
    client = Client()
    session = client.session
    assert client.cookies["sessionid"].value == session.session_key
    assert session.session_key.startswith("s%3A" + session.id + ".")


def test_views_see_changes_and_the_client_session_sees_views(store: MemoryStore) -> None:
    client = Client()
    client.get("/put/", {"k": "from the view"})
    assert client.session["k"] == "from the view"


def test_login_with_credentials(store: MemoryStore, user: Any) -> None:
    client = Client()
    assert client.login(username=user.get_username(), password="pw-1")
    assert client.get("/whoami/").json() == {"user": user.get_username()}


def test_force_login_then_logout(store: MemoryStore, user: Any) -> None:
    client = Client()
    client.force_login(user)
    assert client.get("/whoami/").json() == {"user": user.get_username()}
    sid = client.session.id
    client.logout()
    assert store.get(sid) is None
    assert client.get("/whoami/").json() == {"user": None}


async def test_async_client_force_login_and_session(store: MemoryStore, user: Any) -> None:
    client = AsyncClient()
    await client.aforce_login(user)
    assert (await client.get("/awhoami/")).json() == {"user": user.get_username()}
    session = await client.asession()
    await session.aset("k", "v")
    await session.asave()
    assert (await client.get("/data/")).json()["k"] == "v"
