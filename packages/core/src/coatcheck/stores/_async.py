"""``to_async``: serve a sync store to async code without blocking the event loop.

A store that declares ``never_blocks = True`` (``MemoryStore``) is called on the loop directly;
any other sync store runs each call in a worker thread (``asyncio.to_thread``). The adapter has
exactly the optional methods (``touch``, ``all``, ``length``, ``clear``) and concurrency
capabilities (``get_versioned``, ``set_if``, ``lock``, ``unlock``, ``get_locked``) the wrapped
store has, because express — and our drivers — decide what to call by asking ``hasattr``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

from ._protocol import AsyncStore, Record, Store, Versioned

_T = TypeVar("_T")

OPTIONAL_METHODS = ("touch", "all", "length", "clear")
CAPABILITY_METHODS = ("get_versioned", "set_if", "lock", "unlock", "get_locked")
#: The user index's methods (DESIGN "Sessions of a user"), mirrored the same way.
USER_METHODS = ("sessions_of", "destroy_user")
#: A load that reports the stored expiry (``touch_after``) for stores without versions.
EXPIRY_METHODS = ("get_with_expiry",)
#: Maintenance and the contract suite's hooks (``prune``, ``raw_get``/``raw_set``).
HOOK_METHODS = ("prune", "raw_get", "raw_set")


class AsyncStoreAdapter:
    """An ``AsyncStore`` view of a sync store; build it with ``to_async``.

    ``store`` is the wrapped sync store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._direct = bool(getattr(store, "never_blocks", False))

    def __repr__(self) -> str:
        return f"to_async({self.store!r})"

    async def _call(self, method: Callable[..., _T], *args: Any) -> _T:
        if self._direct:
            return method(*args)
        return await asyncio.to_thread(method, *args)

    async def get(self, sid: str) -> Record | None:
        return await self._call(self.store.get, sid)

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._call(self.store.set, sid, record)

    async def destroy(self, sid: str) -> None:
        await self._call(self.store.destroy, sid)


# One mixin per optional method, so each adapter class carries only what its store has.


class _Touch(AsyncStoreAdapter):
    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._call(cast(Any, self.store).touch, sid, record)


class _All(AsyncStoreAdapter):
    async def all(self) -> dict[str, Record]:
        result: dict[str, Record] = await self._call(cast(Any, self.store).all)
        return result


class _Length(AsyncStoreAdapter):
    async def length(self) -> int:
        result: int = await self._call(cast(Any, self.store).length)
        return result


class _Clear(AsyncStoreAdapter):
    async def clear(self) -> None:
        await self._call(cast(Any, self.store).clear)


class _GetWithExpiry(AsyncStoreAdapter):
    async def get_with_expiry(self, sid: str) -> tuple[Record, datetime | None] | None:
        result: tuple[Record, datetime | None] | None = await self._call(
            cast(Any, self.store).get_with_expiry, sid
        )
        return result


class _GetVersioned(AsyncStoreAdapter):
    async def get_versioned(self, sid: str) -> Versioned | None:
        result: Versioned | None = await self._call(cast(Any, self.store).get_versioned, sid)
        return result


class _SetIf(AsyncStoreAdapter):
    async def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        store: Any = self.store
        if unlock is None:
            wrote: bool = await self._call(store.set_if, sid, record, version)
        else:
            wrote = await self._call(partial(store.set_if, unlock=unlock), sid, record, version)
        return wrote


class _Lock(AsyncStoreAdapter):
    async def lock(self, sid: str, ttl: float) -> str | None:
        token: str | None = await self._call(cast(Any, self.store).lock, sid, ttl)
        return token


class _Unlock(AsyncStoreAdapter):
    async def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        store: Any = self.store
        if touch is None:
            await self._call(store.unlock, sid, token)
        else:
            await self._call(partial(store.unlock, touch=touch), sid, token)


class _GetLocked(AsyncStoreAdapter):
    async def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        result: tuple[str | None, Versioned | None] = await self._call(
            cast(Any, self.store).get_locked, sid, ttl
        )
        return result


class _SessionsOf(AsyncStoreAdapter):
    async def sessions_of(self, user: str) -> dict[str, Record]:
        result: dict[str, Record] = await self._call(cast(Any, self.store).sessions_of, user)
        return result

    def index_users(self, user_key: str) -> None:
        cast(Any, self.store).index_users(user_key)  # no I/O: the wrapped store's own setting


class _DestroyUser(AsyncStoreAdapter):
    async def destroy_user(self, user: str, keep: str | None = None) -> int:
        result: int = await self._call(cast(Any, self.store).destroy_user, user, keep)
        return result


class _Prune(AsyncStoreAdapter):
    async def prune(self) -> Any:
        return await self._call(cast(Any, self.store).prune)


class _RawGet(AsyncStoreAdapter):
    async def raw_get(self, sid: str) -> bytes | None:
        result: bytes | None = await self._call(cast(Any, self.store).raw_get, sid)
        return result


class _RawSet(AsyncStoreAdapter):
    async def raw_set(self, sid: str, data: bytes) -> None:
        await self._call(cast(Any, self.store).raw_set, sid, data)


_MIXINS: dict[str, type[AsyncStoreAdapter]] = {
    "touch": _Touch,
    "all": _All,
    "length": _Length,
    "clear": _Clear,
    "get_versioned": _GetVersioned,
    "set_if": _SetIf,
    "lock": _Lock,
    "unlock": _Unlock,
    "get_locked": _GetLocked,
    "sessions_of": _SessionsOf,
    "destroy_user": _DestroyUser,
    "get_with_expiry": _GetWithExpiry,
    "prune": _Prune,
    "raw_get": _RawGet,
    "raw_set": _RawSet,
}
_CLASSES: dict[tuple[str, ...], type[AsyncStoreAdapter]] = {}


def _adapter_class(methods: tuple[str, ...]) -> type[AsyncStoreAdapter]:
    """The adapter class with exactly ``methods`` (cached per combination)."""
    if not methods:
        return AsyncStoreAdapter
    cls = _CLASSES.get(methods)
    if cls is None:
        bases = tuple(_MIXINS[name] for name in methods)
        cls = _CLASSES[methods] = type("AsyncStoreAdapter", bases, {"__module__": __name__})
    return cls


def is_async_store(store: object) -> bool:
    """True when ``store.get`` is a coroutine function (an ``AsyncStore``)."""
    return inspect.iscoroutinefunction(getattr(store, "get", None))


def to_async(store: Store | AsyncStore) -> AsyncStore:
    """``store`` itself if it is already async, else an adapter with the same methods.

    Each call of the adapter runs on the event loop when the store says ``never_blocks``, and
    in a worker thread otherwise.
    """
    if is_async_store(store):
        return cast(AsyncStore, store)
    sync_store = cast(Store, store)
    methods = tuple(
        name
        for name in OPTIONAL_METHODS
        + CAPABILITY_METHODS
        + USER_METHODS
        + EXPIRY_METHODS
        + HOOK_METHODS
        if callable(getattr(store, name, None))
    )
    adapter: AsyncStore = _adapter_class(methods)(sync_store)
    return adapter
