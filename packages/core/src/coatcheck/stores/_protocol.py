"""What a store is: express-session's store contract with Python signatures.

A *record* is the JSON-ready dict express stores: ``{"cookie": {...}, **user_data}`` with
``cookie.expires`` an ISO-8601 string (or ``None``) and ``cookie.originalMaxAge`` in ms.

Required: ``get``, ``set``, ``destroy``. Recommended: ``touch`` (refresh the expiry without
rewriting data). Optional: ``all``, ``length``, ``clear``. A store "implements" an optional method
when it has it (``hasattr``), as in express. ``get`` raising ``FileNotFoundError`` means "not
found" (express's ENOENT rule). A store whose methods never block may set ``never_blocks = True``
so async adapters call it directly instead of in a worker thread.

Concurrency capabilities (DESIGN "Concurrency"), each optional, detected by presence, and each
atomic on the store's server in one round trip:

- ``get_versioned(sid) -> Versioned | None``: the record and an opaque version string. Any
  write by anyone (another process, a Node service writing the same key) changes the version.
  Shipped stores derive it from the stored bytes, so a Node writer is detected with no help from
  Node. A third-party store may return a plain ``(record, version)`` pair.
- ``set_if(sid, record, version, *, unlock=None) -> bool``: write only if the stored version is
  still ``version`` (``None``: only if no live record exists); returns whether it wrote. With
  ``unlock=token`` the lock of ``sid`` held under ``token`` is released in the same round trip,
  whether or not the write happened.
- ``lock(sid, ttl) -> str | None``: take the per-session lock for ``ttl`` seconds; a random
  token, or ``None`` if someone else holds it. ``unlock(sid, token, *, touch=None)``: release it
  if ``token`` still holds it (a non-holder's unlock, or one whose lock expired, releases
  nothing); with ``touch=record`` the record's expiry is refreshed in the same round trip, held
  or not (exactly ``touch(sid, record)``: a missing record is not created).
- ``get_locked(sid, ttl) -> tuple[str | None, Versioned | None]``: ``lock`` and
  ``get_versioned`` in one round trip (the record is returned only when the lock was taken).

Lifetimes (DESIGN "Lifetimes and ids at rest"):

- Expiry: a store computes it with ``coatcheck.stores.expires_at`` (or ``store_expiry`` for a
  store with a default lifetime), which caps ``cookie.expires`` at the ``max_lifetime`` deadline
  coatcheck keeps in the record's reserved ``"_coatcheck"`` key; a record is gone at that
  instant, to the millisecond (the contract suite checks it).
- ``get_with_expiry(sid) -> tuple[Record, datetime | None] | None`` (optional, for stores
  without versions): the record and the store's own expiry for it in one round trip, ``None``
  meaning it never expires there; ``touch_after`` uses it (or ``Versioned.expires_at``).
- ``shared_with_node = True`` (a declaration): an Express app reads this store, so
  ``id_at_rest="hmac"`` (keys Node cannot compute) is refused with a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

Record = dict[str, Any]


class Versioned(NamedTuple):
    """A record with its opaque version and, where the store knows it, when it expires there.

    ``expires_at`` is the store's own expiry for the record (the Redis key's TTL, the SQL
    ``expire`` column), which may lag ``record["cookie"]["expires"]`` after touches; ``None``
    when the store does not report it.
    """

    record: Record
    version: str
    expires_at: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """A synchronous session store."""

    def get(self, sid: str) -> Record | None: ...

    def set(self, sid: str, record: Mapping[str, Any]) -> None: ...

    def destroy(self, sid: str) -> None: ...


@runtime_checkable
class AsyncStore(Protocol):
    """An asynchronous session store: the same methods, as coroutines."""

    async def get(self, sid: str) -> Record | None: ...

    async def set(self, sid: str, record: Mapping[str, Any]) -> None: ...

    async def destroy(self, sid: str) -> None: ...


@runtime_checkable
class VersionedStore(Protocol):
    """A sync store that can refuse a stale or resurrecting write (``"merge"``)."""

    def get_versioned(self, sid: str) -> Versioned | None: ...

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool: ...


@runtime_checkable
class LockingStore(Protocol):
    """A sync store with a per-session lock (``"lock"``)."""

    def lock(self, sid: str, ttl: float) -> str | None: ...

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None: ...


@runtime_checkable
class AsyncVersionedStore(Protocol):
    """``VersionedStore``'s async twin."""

    async def get_versioned(self, sid: str) -> Versioned | None: ...

    async def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool: ...


@runtime_checkable
class ExpiryReportingStore(Protocol):
    """A sync store that reports its expiry with the record (``touch_after``)."""

    def get_with_expiry(self, sid: str) -> tuple[Record, datetime | None] | None: ...


@runtime_checkable
class AsyncLockingStore(Protocol):
    """``LockingStore``'s async twin."""

    async def lock(self, sid: str, ttl: float) -> str | None: ...

    async def unlock(
        self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None
    ) -> None: ...
