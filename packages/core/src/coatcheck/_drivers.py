"""The only module of the core that calls a store: it runs the cycle's operations.

Two drivers with one shape: ``SyncDriver`` for sync stores (Flask, Django, WSGI, http.server) and
``AsyncDriver`` for async code (ASGI), which runs a sync store in a worker thread unless it
declares ``never_blocks``. Every store failure comes out as ``StoreError`` naming the operation;
``FileNotFoundError`` from ``get`` means "not found" (express's ENOENT rule).

    driver = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=now, cookie_header=header, path=path))
    if cycle is not None:               # None: outside the cookie path, no session
        handle(cycle.session)           # a SyncSession: a dict with regenerate(), save() ...
        decision = driver.end(cycle)    # store writes done; send decision.set_cookie
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from ._config import SessionConfig, require_sync_store
from ._cycle import SessionCycle
from ._errors import CoatcheckError, StoreError
from ._lifetime import UNREPORTED, StoredExpiry
from ._operations import Decision, StoreDestroy, StoreGet, StoreOperation, StoreSet, StoreTouch
from ._request import RequestReceived
from ._session import AsyncSession, Session, SyncSession
from .stores._protocol import Record

S = TypeVar("S", bound=Session)


def _operation_name(op: StoreOperation) -> str:
    return {StoreGet: "get", StoreSet: "set", StoreTouch: "touch", StoreDestroy: "destroy"}[
        type(op)
    ]


def _failure(op: StoreOperation, exc: BaseException) -> CoatcheckError:
    return exc if isinstance(exc, CoatcheckError) else StoreError(_operation_name(op), op.sid, exc)


def run_sync(store: Any, operations: Iterable[StoreOperation]) -> list[Record | None]:
    """Run operations in order against a sync store; ``get`` results are returned in order."""
    results: list[Record | None] = []
    for op in operations:
        try:
            match op:
                case StoreGet(sid):
                    try:
                        results.append(store.get(sid))
                    except FileNotFoundError:
                        results.append(None)
                case StoreSet(sid, record):
                    store.set(sid, record)
                case StoreTouch(sid, record):
                    store.touch(sid, record)
                case StoreDestroy(sid):
                    store.destroy(sid)
        except Exception as exc:
            raise _failure(op, exc) from exc
    return results


async def run_async(store: Any, operations: Iterable[StoreOperation]) -> list[Record | None]:
    """``run_sync`` for an async store (see ``SessionConfig.async_store``)."""
    results: list[Record | None] = []
    for op in operations:
        try:
            match op:
                case StoreGet(sid):
                    try:
                        results.append(await store.get(sid))
                    except FileNotFoundError:
                        results.append(None)
                case StoreSet(sid, record):
                    await store.set(sid, record)
                case StoreTouch(sid, record):
                    await store.touch(sid, record)
                case StoreDestroy(sid):
                    await store.destroy(sid)
        except Exception as exc:
            raise _failure(op, exc) from exc
    return results


def _with_expiry(method: str, result: Any) -> tuple[Record | None, StoredExpiry]:
    """A load's answer as (record, the expiry the store reported, if it did)."""
    if method == "get" or result is None:
        return result, UNREPORTED
    if method == "get_with_expiry":
        record, expires_at = result
        return record, expires_at
    # get_versioned: a Versioned, or a third-party store's plain (record, version) pair
    return result[0], result[2] if len(result) > 2 else UNREPORTED


def read_sync(store: Any, op: StoreGet, method: str = "get") -> tuple[Record | None, StoredExpiry]:
    """``op`` with the store's ``method`` (see ``SessionConfig.expiry_read``): one round trip."""
    try:
        return _with_expiry(method, getattr(store, method)(op.sid))
    except FileNotFoundError:
        return None, UNREPORTED
    except Exception as exc:
        raise _failure(op, exc) from exc


async def read_async(
    store: Any, op: StoreGet, method: str = "get"
) -> tuple[Record | None, StoredExpiry]:
    """``read_sync`` for an async store."""
    try:
        return _with_expiry(method, await getattr(store, method)(op.sid))
    except FileNotFoundError:
        return None, UNREPORTED
    except Exception as exc:
        raise _failure(op, exc) from exc


def load_sync(cycle: SessionCycle[Any], op: StoreGet) -> None:
    """Run ``begin()``'s ``StoreGet`` and whatever loading then asks for (the next secret's
    key with ``"hmac"`` ids, an expired record's destroy), feeding answers to the cycle."""
    store, method = cycle.config.store, cycle.config.expiry_read
    pending: StoreOperation | None = op
    while pending is not None:
        if isinstance(pending, StoreGet):
            record, expires_at = read_sync(store, pending, method)
            cycle.loaded(record, expires_at=expires_at)
        else:
            run_sync(store, [pending])
        pending = cycle.next_load_operation()


async def load_async(cycle: SessionCycle[Any], op: StoreGet) -> None:
    """``load_sync`` against ``config.async_store``."""
    store, method = cycle.config.async_store, cycle.config.expiry_read
    pending: StoreOperation | None = op
    while pending is not None:
        if isinstance(pending, StoreGet):
            record, expires_at = await read_async(store, pending, method)
            cycle.loaded(record, expires_at=expires_at)
        else:
            await run_async(store, [pending])
        pending = cycle.next_load_operation()


class SyncDriver(Generic[S]):
    """Loads and finishes sessions against ``config.store`` with blocking calls.

    An async store is refused here (``ConfigError``), so every sync adapter refuses it alike.
    """

    # The overloads type ``SyncDriver(config)`` as ``SyncDriver[SyncSession]`` (no annotation).
    @overload
    def __init__(self: SyncDriver[SyncSession], config: SessionConfig) -> None: ...
    @overload
    def __init__(self, config: SessionConfig, session_class: type[S]) -> None: ...
    def __init__(self, config: SessionConfig, session_class: type[Any] = SyncSession) -> None:
        require_sync_store(config.store, "SyncDriver")
        self.config = config
        self.session_class: type[S] = session_class

    def begin(self, request: RequestReceived) -> SessionCycle[S] | None:
        """Load (or create) the session; ``None`` outside the cookie path."""
        cycle = SessionCycle(self.config, request, self.session_class)
        if not cycle.in_scope:
            return None
        op = cycle.begin()
        if op is not None:
            load_sync(cycle, op)
        return cycle

    def end(self, cycle: SessionCycle[S], now: datetime | None = None) -> Decision:
        """Decide, and finish the store operations before the response is sent."""
        decision = cycle.decide(now)
        run_sync(self.config.store, decision.operations)
        return decision

    def end_late(self, cycle: SessionCycle[S]) -> None:
        """After a streamed body: save changes made after the headers went out."""
        run_sync(self.config.store, cycle.late_operations())


class AsyncDriver(Generic[S]):
    """Loads and finishes sessions against ``config.async_store`` with awaits."""

    @overload
    def __init__(self: AsyncDriver[AsyncSession], config: SessionConfig) -> None: ...
    @overload
    def __init__(self, config: SessionConfig, session_class: type[S]) -> None: ...
    def __init__(self, config: SessionConfig, session_class: type[Any] = AsyncSession) -> None:
        self.config = config
        self.session_class: type[S] = session_class

    async def begin(self, request: RequestReceived) -> SessionCycle[S] | None:
        """Load (or create) the session; ``None`` outside the cookie path."""
        cycle = SessionCycle(self.config, request, self.session_class)
        if not cycle.in_scope:
            return None
        op = cycle.begin()
        if op is not None:
            await load_async(cycle, op)
        return cycle

    async def end(self, cycle: SessionCycle[S], now: datetime | None = None) -> Decision:
        """Decide, and finish the store operations before the response is sent."""
        decision = cycle.decide(now)
        await run_async(self.config.async_store, decision.operations)
        return decision

    async def end_late(self, cycle: SessionCycle[S]) -> None:
        """After a streamed body: save changes made after the headers went out."""
        await run_async(self.config.async_store, cycle.late_operations())
