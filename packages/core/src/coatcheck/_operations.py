"""What the core asks for: store operations named after the store's methods, and the
end-of-request ``Decision``. Plain slotted records, built on every request and never changed
afterwards (not frozen: a frozen dataclass's __init__ costs three times as much); the drivers
carry them out.

``StoreGet`` ... ``StoreDestroy`` are express's store calls. The others are the optional
concurrency capabilities (DESIGN "Concurrency"), used in ``"merge"`` and ``"lock"`` modes: the
driver hands their results back to the cycle (``SessionCycle.outcome``), which may answer with
more operations (reload and re-apply after a conflict, a fresh id after a collision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class StoreGet:
    """``store.get(sid)``; the result goes back to the cycle."""

    sid: str


@dataclass(slots=True)
class StoreSet:
    """``store.set(sid, record)``: write the whole session."""

    sid: str
    record: dict[str, Any]


@dataclass(slots=True)
class StoreTouch:
    """``store.touch(sid, record)``: refresh the expiry; data unchanged."""

    sid: str
    record: dict[str, Any]


@dataclass(slots=True)
class StoreDestroy:
    """``store.destroy(sid)``."""

    sid: str


@dataclass(slots=True)
class StoreGetVersioned:
    """``store.get_versioned(sid)``: the record with its version (``Versioned | None``)."""

    sid: str


@dataclass(slots=True)
class StoreLock:
    """Take the session's lock and read it: ``store.get_locked(sid, ttl)``, or ``lock`` then
    ``get_versioned``. The result is ``(token | None, Versioned | None)``; no token: held."""

    sid: str
    ttl: float


@dataclass(slots=True)
class StoreSetIf:
    """``store.set_if(sid, record, version, unlock=...)``: write only if the stored version is
    still ``version`` (``None``: only if absent); the result (did it write) goes to the cycle."""

    sid: str
    record: dict[str, Any]
    version: str | None
    unlock: str | None = None


@dataclass(slots=True)
class StoreUnlock:
    """``store.unlock(sid, token, touch=...)``: release the lock, refreshing the expiry with
    ``touch`` (a record) in the same round trip when given."""

    sid: str
    token: str
    touch: dict[str, Any] | None = None


StoreOperation = (
    StoreGet
    | StoreSet
    | StoreTouch
    | StoreDestroy
    | StoreGetVersioned
    | StoreLock
    | StoreSetIf
    | StoreUnlock
)


@dataclass(slots=True)
class Decision:
    """The end of a request: the exact ``Set-Cookie`` value (or none), the store operations to
    finish *before* the response goes out, and whether to add ``Vary: Cookie``.

    ``interrupted``: the session was deleted elsewhere while this request ran, so nothing was
    written and ``set_cookie`` expires the cookie (Django answers ``SessionInterrupted``).
    """

    set_cookie: str | None
    operations: tuple[StoreOperation, ...]
    vary_cookie: bool
    interrupted: bool = False
