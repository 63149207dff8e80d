"""``SessionStore`` used as Django code uses it, outside a request (test client, commands):
the key is the signed cookie value, the persistence API maps onto express's methods, the
expiry API onto the session cookie, and every method has its native coroutine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest.mock import ANY

import pytest
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.test import override_settings

from coatcheck import InvalidRecordError, SessionNotFound
from coatcheck.stores import MemoryStore
from coatcheck_django import SessionStore


def saved(**data: object) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return session


def test_it_is_a_django_session_whose_key_is_the_signed_cookie_value(store: MemoryStore) -> None:
    session = saved(a=1)
    assert isinstance(session, SessionBase)
    assert len(session.id) == 32
    assert session.session_key.startswith(f"s%3A{session.id}.")
    record = store.get(session.id)
    assert record is not None
    assert list(record) == ["cookie", "a"]  # express's record: the cookie, then the data
    again = SessionStore(session.session_key)
    assert again["a"] == 1
    assert again.id == session.id


@pytest.mark.parametrize("key", ["bare", "forged", "garbage", "", None])
def test_unsigned_or_forged_keys_are_never_adopted(store: MemoryStore, key: str | None) -> None:
    session = saved(secret="data")
    candidates = {
        "bare": session.id,
        "forged": session.session_key[:-3] + "abc",
        "garbage": "s%3Anot-a-session",
        "": "",
        None: None,
    }
    other = SessionStore(candidates[key])
    assert other.get("secret") is None
    assert other.id != session.id
    assert not SessionStore().exists(candidates[key])


def test_exists_and_delete_take_signed_keys(store: MemoryStore) -> None:
    first, second = saved(n=1), saved(n=2)
    assert second.exists(first.session_key)
    second.delete(first.session_key)
    assert not second.exists(first.session_key)
    assert store.get(second.id) is not None


def test_cycle_key_keeps_the_data_under_a_new_id(store: MemoryStore) -> None:
    session = saved(cart=3)
    old_id, old_key = session.id, session.session_key
    session.cycle_key()
    assert session.id != old_id
    assert session.session_key != old_key
    assert session["cart"] == 3
    assert store.get(old_id) is None
    session.save()
    assert SessionStore(session.session_key)["cart"] == 3


def test_flush_destroys_and_data_added_later_gets_a_new_id(store: MemoryStore) -> None:
    session = saved(user=7)
    old_id = session.id
    session.flush()
    assert session.session_key is None  # as Django: no record, no key
    assert dict(session.items()) == {}
    assert store.get(old_id) is None
    assert store.length() == 0
    session["note"] = "bye"
    session.save()
    assert session.id != old_id
    assert session.session_key is not None
    assert store.get(session.id) == {"cookie": ANY, "note": "bye"}


def test_a_new_session_has_an_id_but_no_key_until_it_is_stored(store: MemoryStore) -> None:
    session = SessionStore()
    session["a"] = 1
    assert session.id is not None
    assert session.session_key is None
    assert not session.is_empty()  # data, no key: Django's is_empty() is False
    session.save()
    assert session.session_key is not None
    session.clear()
    assert not session.is_empty()  # a key, no data: still not empty (Django)


def test_create_saves_the_data_under_a_new_id_and_leaves_the_old(store: MemoryStore) -> None:
    session = saved(a=1)
    old_id = session.id
    session.create()
    assert session.id != old_id
    assert store.get(session.id) is not None
    assert store.get(old_id) is not None  # Django's create(); cycle_key() is what deletes


def test_save_must_create_refuses_an_existing_id(store: MemoryStore) -> None:
    session = saved(a=1)
    with pytest.raises(CreateError):
        session.save(must_create=True)
    SessionStore().save(must_create=True)  # a new id is fine


def test_destroy_and_delete_forget_the_session(store: MemoryStore) -> None:
    session = saved(a=1)
    sid = session.id
    session.destroy()
    assert store.get(sid) is None
    assert session.session_key is None
    other = saved(b=2)
    other_id = other.id
    other.delete()
    assert store.get(other_id) is None


def test_reload_discards_unsaved_changes(store: MemoryStore) -> None:
    session = saved(a=1)
    session["a"] = 2
    session.reload()
    assert session["a"] == 1
    store.destroy(session.id)
    with pytest.raises(SessionNotFound):
        session.reload()


def test_values_must_be_json(store: MemoryStore) -> None:
    session = SessionStore()
    session["when"] = datetime.now(timezone.utc)
    with pytest.raises(InvalidRecordError):
        session.save()


def test_it_is_a_mapping_and_always_truthy(store: MemoryStore) -> None:
    session = saved(a=1, b=2)
    assert sorted(session) == ["a", "b"]
    assert len(session) == 2
    assert session.keys() == {"a", "b"}
    empty = SessionStore()
    assert len(empty) == 0
    assert empty  # Django's test client tests `if self.session:`
    assert empty.is_empty()
    assert not session.is_empty()


def test_a_detached_session_holds_data_but_is_never_saved(store: MemoryStore) -> None:
    session = SessionStore(detached=True)
    session["a"] = 1
    session.save()
    session.cycle_key()
    session.set_expiry(10)
    assert session["a"] == 1
    assert session.session_key is None
    assert session.id is None
    assert store.length() == 0


def test_set_expiry_maps_onto_the_session_cookie(store: MemoryStore) -> None:
    session = SessionStore()
    assert session.cookie is not None
    session.set_expiry(0)
    assert session.cookie.expires is None
    assert session.get_expire_at_browser_close()
    session.set_expiry(300)
    assert session.cookie.original_max_age == 300
    assert 299 <= session.get_expiry_age() <= 300
    assert not session.get_expire_at_browser_close()
    session.set_expiry(timedelta(minutes=2))
    assert session.cookie.original_max_age == 120
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    session.set_expiry(when)
    assert session.get_expiry_date() == when
    session.set_expiry(None)  # back to the configured default: SESSION_COOKIE_AGE
    assert session.cookie.original_max_age == 1_209_600


@override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True, SESSION_COOKIE_AGE=500)
def test_browser_session_cookies_report_django_s_defaults(store: MemoryStore) -> None:
    session = SessionStore()
    assert session.get_expire_at_browser_close()
    assert session.get_expiry_age() == 500
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert session.get_expiry_date(modification=moment) == moment + timedelta(seconds=500)
    assert session.get_expiry_age(modification=moment, expiry=moment + timedelta(seconds=9)) == 9


async def test_the_native_coroutines(store: MemoryStore) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    key = session.session_key
    loaded = SessionStore(key)
    assert await loaded.aget("a") == 1  # loaded through the async store
    assert await loaded.aexists(key)
    await loaded.acycle_key()
    assert await loaded.aget("a") == 1
    assert not await loaded.aexists(key)
    await loaded.aset_expiry(60)
    assert 59 <= await loaded.aget_expiry_age() <= 60
    assert not await loaded.aget_expire_at_browser_close()
    await loaded.aflush()
    assert await loaded.aitems() == {}.items()
    await loaded.acreate()
    assert await loaded.aexists(loaded.session_key)
    await loaded.adelete()
    assert loaded.session_key is None
    fresh = SessionStore()
    await fresh.aset("x", 1)
    await fresh.asave()
    await fresh.aset("x", 2)
    await fresh.areload()
    assert await fresh.aget("x") == 1
    await fresh.aregenerate()
    assert await fresh.aload() == {}
    await fresh.adestroy()
    await SessionStore.aclear_expired()
