"""What the core asks for: store operations named after express's store methods, and the
end-of-request ``Decision``. Plain frozen data; the drivers carry them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoreGet:
    """``store.get(sid)``; the result goes back to the cycle."""

    sid: str


@dataclass(frozen=True)
class StoreSet:
    """``store.set(sid, record)``: write the whole session."""

    sid: str
    record: dict[str, Any]


@dataclass(frozen=True)
class StoreTouch:
    """``store.touch(sid, record)``: refresh the expiry; data unchanged."""

    sid: str
    record: dict[str, Any]


@dataclass(frozen=True)
class StoreDestroy:
    """``store.destroy(sid)``."""

    sid: str


StoreOperation = StoreGet | StoreSet | StoreTouch | StoreDestroy


@dataclass(frozen=True)
class Decision:
    """The end of a request: the exact ``Set-Cookie`` value (or none), the store operations to
    finish *before* the response goes out, and whether to add ``Vary: Cookie``."""

    set_cookie: str | None
    operations: tuple[StoreOperation, ...]
    vary_cookie: bool
