"""Steps the store contract's scenarios share: fresh ids, order-sensitive comparison, and the
openings many rules start with (a record left to expire, a locked id, a versioned write)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from ..stores._protocol import Versioned
from ._harness import LONG, Harness


def new_sid() -> str:
    """A fresh id shaped like coatcheck's default ``genid`` (32 url-safe characters)."""
    return secrets.token_urlsafe(24)


def as_json(record: object) -> str:
    """Order-sensitive comparison form (``==`` on dicts ignores key order)."""
    return json.dumps(record, ensure_ascii=False)


def user_data(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its ``cookie``: the data a touch must leave alone."""
    return {key: value for key, value in record.items() if key != "cookie"}


async def expired(h: Harness, **data: Any) -> str:
    """The id of a record written with a short life, then left to expire."""
    sid = new_sid()
    await h.store.set(sid, h.record(h.short, **data))
    await h.pass_time(h.short * 2)
    return sid


async def locked(h: Harness) -> tuple[str, str]:
    """A fresh id and the token of the lock just taken on it."""
    sid = new_sid()
    token = await h.store.lock(sid, LONG)
    assert token, "a free id could not be locked"
    return sid, token


async def written(h: Harness, sid: str, record: dict[str, Any]) -> Versioned:
    """Write ``record`` and read it back with its version (what a later ``set_if`` names)."""
    await h.store.set(sid, record)
    found = await h.store.get_versioned(sid)
    assert found is not None, "get_versioned lost the record just written"
    return found
