"""A session named by its cookie value, outside a cycle (``coatcheck._stored``): only a verified
value reaches the store, and every key an ``id_at_rest="hmac"`` id may be under is tried."""

from __future__ import annotations

from typing import Any

import pytest

from coatcheck import (
    SessionConfig,
    destroy_by_cookie,
    destroy_by_cookie_async,
    read_record,
    read_record_async,
    session_exists,
    session_exists_async,
    stored_data,
)
from coatcheck.stores import MemoryStore

RECORD = {"cookie": {"path": "/"}, "_coatcheck": {"created": 1}, "cart": [1], "user": "ada"}


def config_with(sid: str, *, secret: Any = "s3cret", id_at_rest: str = "plain") -> SessionConfig:
    """A config over a MemoryStore holding ``RECORD`` under ``sid``'s key."""
    config = SessionConfig.from_options(
        secret=secret,
        store=MemoryStore(),
        resave=False,
        save_uninitialized=False,
        id_at_rest=id_at_rest,
    )
    config.store.set(config.ids_at_rest.key(sid), dict(RECORD))
    return config


def test_stored_data_drops_the_cookie_and_coatchecks_own_key() -> None:
    assert stored_data(RECORD) == {"cart": [1], "user": "ada"}
    assert stored_data(None) == {}
    assert stored_data(["not", "a", "record"]) == {}


def test_only_a_verified_cookie_value_names_a_session() -> None:
    config = config_with("abc")
    assert session_exists(config, config.cookie_value("abc"))
    for value in (None, "", "abc", "s:abc.forged", config.cookie_value("other")):
        assert not session_exists(config, value)
        destroy_by_cookie(config, value)
    assert read_record(config, "abc") == RECORD


def test_an_id_stored_under_an_older_secrets_key_is_found_and_destroyed() -> None:
    old = config_with("abc", secret="old", id_at_rest="hmac")
    config = SessionConfig.from_options(
        secret=["new", "old"],
        store=old.store,
        resave=False,
        save_uninitialized=False,
        id_at_rest="hmac",
    )
    value = config.cookie_value("abc")
    assert session_exists(config, value)
    assert read_record(config, "abc") is None  # only the current key is read
    destroy_by_cookie(config, value)
    assert not session_exists(config, value)


@pytest.mark.parametrize("id_at_rest", ["plain", "hmac"])
async def test_async_twins_answer_as_the_sync_ones(id_at_rest: str) -> None:
    config = config_with("abc", id_at_rest=id_at_rest)
    value = config.cookie_value("abc")
    assert await read_record_async(config, "abc") == RECORD
    assert await session_exists_async(config, value)
    await destroy_by_cookie_async(config, value)
    assert not await session_exists_async(config, value)
    assert await read_record_async(config, "abc") is None
