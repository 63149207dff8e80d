"""A Django ``SessionBase`` whose data is a core ``SessionCycle``'s session.

The middleware hands over the cycle it loaded for the request. Built alone
(``SessionStore(key)`` in the test client, a management command) it makes its own cycle from a
synthetic request and loads it lazily, on first use, as Django's backends do: ``load()`` from
sync code, ``aload()`` from async code. Every store effect runs through the core's drivers
(``run_sync`` / ``run_async``), so store failures surface as ``StoreError``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from coatcheck import (
    Phase,
    Session,
    SessionConfig,
    SessionCycle,
    StoreOperation,
    load_async,
    load_sync,
    run_async,
    run_sync,
    settle_async,
    settle_sync,
)

from ._keys import synthetic_request
from ._settings import load_config

Cycle = SessionCycle[Session]
Record = dict[str, Any]


class _Serializer:
    """``settings.SESSION_SERIALIZER``, imported once per value (Django imports it for every
    session it builds); an instance may still assign its own ``serializer``."""

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return _import_serializer(settings.SESSION_SERIALIZER)


_import_serializer = functools.lru_cache(maxsize=8)(import_string)


class BoundSession(SessionBase):  # type: ignore[misc]  # Django ships no type hints
    """The plumbing: which cycle, loading it, running its store operations, its data."""

    serializer = _Serializer()

    def __init__(
        self,
        session_key: str | None = None,
        *,
        cycle: Cycle | None = None,
        detached: bool = False,
    ) -> None:
        """``SessionStore(key)`` as Django calls it; ``cycle=`` binds the middleware's cycle;
        ``detached=True`` is an empty session that is never saved (outside the cookie path,
        where contrib.auth still needs ``request.session`` to exist)."""
        self._cycle: Cycle | None = cycle
        self._pending: StoreOperation | None = None  # the load (a StoreGet or versioned)
        self._orphan: dict[str, Any] = {}  # a detached session's data
        self._flushed = False  # flush() destroyed it; data added later makes a new session
        self._fixed_expiry = False  # set_expiry(datetime): a date, not a sliding lifetime
        if cycle is None and not detached:
            config = load_config()
            self._cycle = SessionCycle(config, synthetic_request(config, session_key), Session)
            self._pending = self._cycle.begin()
        # SessionBase.__init__'s attributes, without its per-request
        # import_string(SESSION_SERIALIZER): ``serializer`` is the class's cached lookup.
        self._session_key = session_key
        self.accessed = False
        self.modified = False

    @property
    def config(self) -> SessionConfig | None:
        return None if self._cycle is None else self._cycle.config

    # -- loading and running ------------------------------------------------------------------
    def _active(self) -> Cycle | None:
        """The cycle, loaded (a sync store read on first use); ``None`` when detached."""
        if self._pending is not None and self._cycle is not None:
            load_sync(self._cycle, self._pending)
            self._pending = None
        return self._cycle

    async def _aactive(self) -> Cycle | None:
        if self._pending is not None and self._cycle is not None:
            await load_async(self._cycle, self._pending)
            self._pending = None
        return self._cycle

    def _run(self, operations: Sequence[StoreOperation]) -> list[Record | None]:
        cycle = self._active()
        return [] if cycle is None else run_sync(cycle.config.store, operations)

    async def _arun(self, operations: Sequence[StoreOperation]) -> list[Record | None]:
        cycle = await self._aactive()
        return [] if cycle is None else await run_async(cycle.config.async_store, operations)

    def _settle(self, operations: Sequence[StoreOperation]) -> None:
        """Run the cycle's own writes, handing their outcomes back (conditional writes)."""
        cycle = self._active()
        if cycle is not None:
            settle_sync(cycle, operations)

    async def _asettle(self, operations: Sequence[StoreOperation]) -> None:
        cycle = await self._aactive()
        if cycle is not None:
            await settle_async(cycle, operations)

    # -- the data -------------------------------------------------------------------------------
    def _data(self, cycle: Cycle | None) -> dict[str, Any]:
        return self._orphan if cycle is None else cycle.session

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        self.accessed = True
        return self._data(self._active())

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        self.accessed = True
        return self._data(await self._aactive())

    _session = property(_get_session)

    @property
    def _session_cache(self) -> dict[str, Any]:
        if self._pending is not None:
            raise AttributeError("_session_cache")  # Django's "not loaded yet"
        return self._data(self._cycle)

    @_session_cache.setter
    def _session_cache(self, data: dict[str, Any]) -> None:
        cycle = self._active()
        if cycle is None:
            self._orphan = dict(data)
        else:
            cycle.replace(data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._session)

    def __len__(self) -> int:
        return len(self._session)

    def __bool__(self) -> bool:
        return True  # a Django session is always truthy (the test client relies on it)

    def _revive(self, *, always: bool = False) -> None:
        """After ``flush()``: a session that gets data (or an explicit save) is a new one."""
        cycle = self._cycle
        if self._flushed and cycle is not None and (always or dict.__len__(cycle.session)):
            self._flushed = False
            cycle.regenerate(keep_data=True)  # the old id is destroyed already: no store call

    # -- the key ----------------------------------------------------------------------------------
    @property
    def session_key(self) -> str | None:
        """The signed cookie value (what the cookie carries), as Django's: ``None`` until a
        record exists in the store (a new session has an ``.id`` but no key) and after
        ``flush()``. Before the lazy load, the key it was built with."""
        cycle = self._cycle
        if cycle is None or cycle.phase is Phase.OUT_OF_SCOPE:
            return None
        if self._pending is not None:
            sid: Any = cycle.cookie_id
        elif cycle.stored:
            sid = cycle.session_id
        else:
            return None
        return cycle.config.cookie_value(sid) if isinstance(sid, str) and sid else None

    def __repr__(self) -> str:
        cycle = self._cycle
        state = "detached" if cycle is None else cycle.id_prefix
        return f"<{type(self).__name__} {state}>"
