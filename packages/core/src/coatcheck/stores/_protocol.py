"""What a store is: express-session's store contract with Python signatures.

A *record* is the JSON-ready dict express stores: ``{"cookie": {...}, **user_data}`` with
``cookie.expires`` an ISO-8601 string (or ``None``) and ``cookie.originalMaxAge`` in ms.

Required: ``get``, ``set``, ``destroy``. Recommended: ``touch`` (refresh the expiry without
rewriting data). Optional: ``all``, ``length``, ``clear``. A store "implements" an optional method
when it has it (``hasattr``), as in express. ``get`` raising ``FileNotFoundError`` means "not
found" (express's ENOENT rule). A store whose methods never block may set ``never_blocks = True``
so async adapters call it directly instead of in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]


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
