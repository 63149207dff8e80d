"""A session's stored record, reached outside a request cycle's own load and end.

Session APIs that name a session by what its cookie carries (Django's ``exists(key)`` and
``delete(key)``, a management command) or re-read one mid-request (Django's ``load()`` and
``save(must_create=True)``) need the same few steps: verify the signed value, map the id to its
store key(s) (``id_at_rest``), and run the reads or destroys through the drivers, so a store
failure is a ``StoreError`` as everywhere else. An unsigned or forged value names no session.

    session_exists(config, request.COOKIES["connect.sid"])    # -> bool, every key tried
    destroy_by_cookie(config, value)                          # every key the id may be under
    stored_data(read_record(config, sid))                     # the data only ({} if none)
"""

from __future__ import annotations

from typing import Any

from ._config import SessionConfig
from ._merge import stored_data
from ._operations import StoreDestroy, StoreGet
from ._run import run_async, run_sync

__all__ = [
    "destroy_by_cookie",
    "destroy_by_cookie_async",
    "read_record",
    "read_record_async",
    "session_exists",
    "session_exists_async",
    "stored_data",
]

Record = dict[str, Any]


def _keys(config: SessionConfig, cookie_value: str | None) -> tuple[str, ...]:
    """Every store key of the id a cookie value carries (none unless the signature verifies)."""
    sid = config.session_id_from(cookie_value)
    return () if sid is None else config.ids_at_rest.lookup_keys(sid)


def session_exists(config: SessionConfig, cookie_value: str | None) -> bool:
    """Whether the store holds a session for this cookie value (under any secret's key)."""
    gets = [StoreGet(key) for key in _keys(config, cookie_value)]
    return any(record is not None for record in run_sync(config.store, gets))


async def session_exists_async(config: SessionConfig, cookie_value: str | None) -> bool:
    """``session_exists`` for async code."""
    gets = [StoreGet(key) for key in _keys(config, cookie_value)]
    return any(record is not None for record in await run_async(config.async_store, gets))


def destroy_by_cookie(config: SessionConfig, cookie_value: str | None) -> None:
    """Destroy the session this cookie value names, under every key it may be stored at."""
    run_sync(config.store, [StoreDestroy(key) for key in _keys(config, cookie_value)])


async def destroy_by_cookie_async(config: SessionConfig, cookie_value: str | None) -> None:
    """``destroy_by_cookie`` for async code."""
    await run_async(config.async_store, [StoreDestroy(key) for key in _keys(config, cookie_value)])


def read_record(config: SessionConfig, sid: str) -> Record | None:
    """The record stored under ``sid``'s current key now (``None``: none)."""
    found: list[Record | None] = run_sync(config.store, [StoreGet(config.ids_at_rest.key(sid))])
    return found[0]


async def read_record_async(config: SessionConfig, sid: str) -> Record | None:
    """``read_record`` for async code."""
    get = StoreGet(config.ids_at_rest.key(sid))
    found: list[Record | None] = await run_async(config.async_store, [get])
    return found[0]
