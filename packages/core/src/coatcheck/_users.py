"""Sessions of a user: list them, revoke them ("log out my other devices", "log out
everywhere" after a password change). DESIGN "Sessions of a user".

The store does the finding (its user index, kept in step with every write; see
``stores/_users.py``); this module turns what it found into ``SessionInfo`` rows and is the one
place that decides what a store without the capability means: ``NotImplementedError`` naming
the store. Sync and async twins, like the drivers::

    sessions_of(config, "ada", current=session.id)     # -> [SessionInfo, ...]
    revoke(config, "ada", keep=session.id)             # -> how many were destroyed
    await sessions_of_async(config, "ada")  /  await revoke_async(config, "ada")
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._config import SessionConfig
from ._errors import ConfigError, sid_prefix
from .stores._async import is_async_store
from .stores._codec import expires_at, to_json
from .stores._users import check_user

__all__ = [
    "SessionInfo",
    "revoke",
    "revoke_async",
    "session_info",
    "sessions_of",
    "sessions_of_async",
]


@dataclass(frozen=True)
class SessionInfo:
    """One live session of a user, safe to show: the id only as a short prefix.

    ``expires`` is the record's ``cookie.expires`` (``None``: a browser-session cookie);
    ``last_written`` is when the record was last written with a fresh expiry (``expires`` minus
    ``cookie.originalMaxAge``, exact for express and coatcheck writers); ``created`` is known
    when the record carries coatcheck's creation time (``max_lifetime``); ``current`` marks the
    session of the request that asked.
    """

    id_prefix: str
    user: str
    expires: datetime | None
    last_written: datetime | None
    created: datetime | None
    current: bool
    size: int


def _ms_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def session_info(
    sid: str, record: Mapping[str, Any], user: str, *, current: str | None = None
) -> SessionInfo:
    """What ``sessions_of`` reports about one stored record."""
    try:
        expires = expires_at(record)
    except (TypeError, ValueError):
        expires = None
    cookie = record.get("cookie")
    max_age = cookie.get("originalMaxAge") if isinstance(cookie, Mapping) else None
    last_written = None
    if expires is not None and isinstance(max_age, (int, float)) and not isinstance(max_age, bool):
        last_written = expires - timedelta(milliseconds=max_age)
    meta = record.get("_coatcheck")
    created = _ms_time(meta.get("created")) if isinstance(meta, Mapping) else None
    return SessionInfo(
        id_prefix=sid_prefix(sid),
        user=user,
        expires=expires,
        last_written=last_written,
        created=created,
        current=current is not None and sid == current,
        size=len(to_json(record).encode("utf-8")),
    )


def _newest_first(info: SessionInfo) -> tuple[bool, float]:
    when = info.last_written or info.created
    return (not info.current, -(when.timestamp() if when else 0.0))


def _capable(config: SessionConfig, method: str) -> Any:
    """The store method, or a clear error: no ``user_key``, or a store without the index."""
    if config.user_key is None:
        raise ConfigError(
            "user_key",
            f"{method} needs the user_key option (the session key "
            "that holds the user's id, e.g. user_key='user')",
        )
    store = config.store
    found = getattr(store, method, None)
    if not callable(found):
        raise NotImplementedError(
            f"{type(store).__name__} keeps no user index (it has no {method}() method): "
            "use a shipped store or implement sessions_of/destroy_user"
        )
    return found


def _infos(
    found: Mapping[str, Mapping[str, Any]], user: str, current: str | None
) -> list[SessionInfo]:
    infos = [session_info(sid, record, user, current=current) for sid, record in found.items()]
    return sorted(infos, key=_newest_first)


def sessions_of(
    config: SessionConfig, user: str | int, *, current: str | None = None
) -> list[SessionInfo]:
    """Every live session of ``user`` (the current one first, then newest first).

    ``current`` is the asking request's session id, marked in the result.
    """
    method = _capable(config, "sessions_of")
    name = check_user(user)
    if is_async_store(config.store):
        raise TypeError(f"{type(config.store).__name__} is async: use sessions_of_async")
    return _infos(method(name), name, _key(config, current))


def _key(config: SessionConfig, sid: str | None) -> str | None:
    """The store key of a session id (``id_at_rest="hmac"``: the stores index keys, not ids)."""
    return None if sid is None else config.ids_at_rest.key(sid)


def revoke(config: SessionConfig, user: str | int, keep: str | None = None) -> int:
    """Destroy every session of ``user`` but ``keep`` (a session id, e.g. the current one);
    returns how many were destroyed."""
    method = _capable(config, "destroy_user")
    name = check_user(user)
    if is_async_store(config.store):
        raise TypeError(f"{type(config.store).__name__} is async: use revoke_async")
    return int(method(name, keep=_key(config, keep)))


async def _call(config: SessionConfig, method: Any, *args: Any, **kwargs: Any) -> Any:
    """Await an async store; call a sync one on the loop if it never blocks, else in a thread."""
    if is_async_store(config.store):
        return await method(*args, **kwargs)
    if getattr(config.store, "never_blocks", False):
        return method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


async def sessions_of_async(
    config: SessionConfig, user: str | int, *, current: str | None = None
) -> list[SessionInfo]:
    """``sessions_of`` for async code (any store: sync ones run in a worker thread)."""
    method = _capable(config, "sessions_of")
    name = check_user(user)
    return _infos(await _call(config, method, name), name, _key(config, current))


async def revoke_async(config: SessionConfig, user: str | int, keep: str | None = None) -> int:
    """``revoke`` for async code."""
    method = _capable(config, "destroy_user")
    name = check_user(user)
    return int(await _call(config, method, name, keep=_key(config, keep)))
