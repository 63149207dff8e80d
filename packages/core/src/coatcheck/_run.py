"""Running the core's store operations: the only module of the core that calls a store.

``load_sync``/``load_async`` run a cycle's load (with ``"hmac"`` ids and several secrets, the
lookups under older keys; an expired record's destroy; in ``"lock"`` mode, the lock).
``run_sync``/``run_async`` run operations and return the reads' results in order. ``settle_sync``/
``settle_async`` also hand each result back to the cycle (``SessionCycle.outcome``) and run what
it answers (a reload and a second write after a conflict). ``acquire_sync``/``acquire_async``
take a session's lock, polling with a short backoff until ``lock_timeout``. Every store failure
comes out as ``StoreError`` naming the operation; ``FileNotFoundError`` from a read means "not
found" (express's ENOENT rule).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._errors import CoatcheckError, SessionLockTimeout, StoreError
from ._lifetime import UNREPORTED, StoredExpiry
from ._operations import (
    StoreDestroy,
    StoreGet,
    StoreGetVersioned,
    StoreLock,
    StoreOperation,
    StoreSet,
    StoreSetIf,
    StoreTouch,
    StoreUnlock,
)

if TYPE_CHECKING:
    from ._cycle import SessionCycle

logger = logging.getLogger("coatcheck")

_NAMES: dict[type, str] = {
    StoreGet: "get",
    StoreSet: "set",
    StoreTouch: "touch",
    StoreDestroy: "destroy",
    StoreGetVersioned: "get_versioned",
    StoreLock: "lock",
    StoreSetIf: "set_if",
    StoreUnlock: "unlock",
}
#: Operations whose result the cycle wants back (``SessionCycle.outcome``).
_ANSWERED = (StoreSetIf, StoreGetVersioned, StoreUnlock)
#: Lock polling: first pause, growth, longest pause (seconds); each pause is jittered.
_FIRST_PAUSE, _GROWTH, _LONGEST_PAUSE = 0.002, 1.6, 0.05
#: Merge conflicts: the longest pause before the first reload (doubling with each retry).
_FIRST_CONFLICT_PAUSE = 0.005


def _failure(op: StoreOperation, exc: BaseException) -> CoatcheckError:
    return exc if isinstance(exc, CoatcheckError) else StoreError(_NAMES[type(op)], op.sid, exc)


def _has_result(op: StoreOperation) -> bool:
    return isinstance(op, (StoreGet, StoreGetVersioned, StoreLock, StoreSetIf))


# -- one operation ---------------------------------------------------------------------------
def run_one_sync(store: Any, op: StoreOperation) -> Any:
    """Run one operation against a sync store; its result (``None`` for writes)."""
    try:
        match op:
            # the default ("merge") mode's two operations first: each case is a type test
            case StoreGetVersioned(sid):
                try:
                    return store.get_versioned(sid)
                except FileNotFoundError:
                    return None
            case StoreSetIf(sid, record, version, unlock):
                if unlock is None:
                    return bool(store.set_if(sid, record, version))
                return bool(store.set_if(sid, record, version, unlock=unlock))
            case StoreGet(sid):
                try:
                    return store.get(sid)
                except FileNotFoundError:
                    return None
            case StoreTouch(sid, record):
                store.touch(sid, record)
            case StoreSet(sid, record):
                store.set(sid, record)
            case StoreDestroy(sid):
                store.destroy(sid)
            case StoreUnlock(sid, token, touch):
                if touch is None:
                    store.unlock(sid, token)
                else:
                    store.unlock(sid, token, touch=touch)
            case StoreLock(sid, ttl):
                get_locked = getattr(store, "get_locked", None)
                if get_locked is not None:
                    return get_locked(sid, ttl)
                token = store.lock(sid, ttl)
                if token is None:
                    return None, None
                try:
                    return token, store.get_versioned(sid)
                except BaseException:
                    store.unlock(sid, token)
                    raise
    except Exception as exc:
        raise _failure(op, exc) from exc
    return None


async def run_one_async(store: Any, op: StoreOperation) -> Any:
    """``run_one_sync`` for an async store (see ``SessionConfig.async_store``)."""
    try:
        match op:
            # the default ("merge") mode's two operations first: each case is a type test
            case StoreGetVersioned(sid):
                try:
                    return await store.get_versioned(sid)
                except FileNotFoundError:
                    return None
            case StoreSetIf(sid, record, version, unlock):
                if unlock is None:
                    return bool(await store.set_if(sid, record, version))
                return bool(await store.set_if(sid, record, version, unlock=unlock))
            case StoreGet(sid):
                try:
                    return await store.get(sid)
                except FileNotFoundError:
                    return None
            case StoreTouch(sid, record):
                await store.touch(sid, record)
            case StoreSet(sid, record):
                await store.set(sid, record)
            case StoreDestroy(sid):
                await store.destroy(sid)
            case StoreUnlock(sid, token, touch):
                if touch is None:
                    await store.unlock(sid, token)
                else:
                    await store.unlock(sid, token, touch=touch)
            case StoreLock(sid, ttl):
                get_locked = getattr(store, "get_locked", None)
                if get_locked is not None:
                    return await get_locked(sid, ttl)
                token = await store.lock(sid, ttl)
                if token is None:
                    return None, None
                try:
                    return token, await store.get_versioned(sid)
                except BaseException:
                    await store.unlock(sid, token)
                    raise
    except Exception as exc:
        raise _failure(op, exc) from exc
    return None


# -- loading ---------------------------------------------------------------------------------
def _with_expiry(method: str, result: Any) -> tuple[Any, StoredExpiry]:
    """A load's answer as (record, the expiry the store reported, if it did)."""
    if method == "get" or result is None:
        return result, UNREPORTED
    if method == "get_with_expiry":
        record, expires_at = result
        return record, expires_at
    # get_versioned: a Versioned, or a third-party store's plain (record, version) pair
    return result[0], result[2] if len(result) > 2 else UNREPORTED


def read_sync(store: Any, op: StoreGet, method: str = "get") -> tuple[Any, StoredExpiry]:
    """``op`` with the store's ``method`` (see ``SessionConfig.expiry_read``): one round trip."""
    try:
        return _with_expiry(method, getattr(store, method)(op.sid))
    except FileNotFoundError:
        return None, UNREPORTED
    except Exception as exc:
        raise _failure(op, exc) from exc


async def read_async(store: Any, op: StoreGet, method: str = "get") -> tuple[Any, StoredExpiry]:
    """``read_sync`` for an async store."""
    try:
        return _with_expiry(method, await getattr(store, method)(op.sid))
    except FileNotFoundError:
        return None, UNREPORTED
    except Exception as exc:
        raise _failure(op, exc) from exc


def load_sync(cycle: SessionCycle[Any], op: StoreOperation) -> None:
    """Run ``begin()``'s read and whatever loading then asks for (the next secret's key with
    ``"hmac"`` ids, an expired record's destroy), feeding answers to the cycle. A lock taken
    here is released again if loading fails."""
    store, method = cycle.config.store, cycle.config.expiry_read
    pending: StoreOperation | None = op
    try:
        while pending is not None:
            if isinstance(pending, StoreLock):
                token, result = acquire_sync(store, pending, cycle.config.lock_timeout)
                cycle.loaded(result, lock_token=token)
            elif isinstance(pending, StoreGet):
                record, expires_at = read_sync(store, pending, method)
                cycle.loaded(record, expires_at=expires_at)
            elif isinstance(pending, StoreGetVersioned):
                cycle.loaded(run_one_sync(store, pending))
            else:
                run_one_sync(store, pending)
            pending = cycle.next_load_operation()
    except BaseException:
        release_sync(cycle)
        raise


async def load_async(cycle: SessionCycle[Any], op: StoreOperation) -> None:
    """``load_sync`` against ``config.async_store``."""
    store, method = cycle.config.async_store, cycle.config.expiry_read
    pending: StoreOperation | None = op
    try:
        while pending is not None:
            if isinstance(pending, StoreLock):
                token, result = await acquire_async(store, pending, cycle.config.lock_timeout)
                cycle.loaded(result, lock_token=token)
            elif isinstance(pending, StoreGet):
                record, expires_at = await read_async(store, pending, method)
                cycle.loaded(record, expires_at=expires_at)
            elif isinstance(pending, StoreGetVersioned):
                cycle.loaded(await run_one_async(store, pending))
            else:
                await run_one_async(store, pending)
            pending = cycle.next_load_operation()
    except BaseException:
        await release_async(cycle)
        raise


# -- a list of operations --------------------------------------------------------------------
def run_sync(store: Any, operations: Iterable[StoreOperation]) -> list[Any]:
    """Run operations in order against a sync store; the reads' (and ``set_if``'s) results are
    returned in order."""
    results: list[Any] = []
    for op in operations:
        result = run_one_sync(store, op)
        if _has_result(op):
            results.append(result)
    return results


async def run_async(store: Any, operations: Iterable[StoreOperation]) -> list[Any]:
    """``run_sync`` for an async store (see ``SessionConfig.async_store``)."""
    results: list[Any] = []
    for op in operations:
        result = await run_one_async(store, op)
        if _has_result(op):
            results.append(result)
    return results


def settle_sync(cycle: SessionCycle[Any], operations: Iterable[StoreOperation]) -> None:
    """Run a cycle's operations against ``config.store``, feeding the results back to it."""
    store = cycle.config.store
    pending = list(operations)
    while pending:
        op = pending.pop(0)
        result = run_one_sync(store, op)
        if isinstance(op, _ANSWERED):
            pending[:0] = cycle.outcome(op, result)
            if _conflicted(op, result):
                time.sleep(_conflict_pause(cycle.conflicts))


async def settle_async(cycle: SessionCycle[Any], operations: Iterable[StoreOperation]) -> None:
    """``settle_sync`` against ``config.async_store``."""
    store = cycle.config.async_store
    pending = list(operations)
    while pending:
        op = pending.pop(0)
        result = await run_one_async(store, op)
        if isinstance(op, _ANSWERED):
            pending[:0] = cycle.outcome(op, result)
            if _conflicted(op, result):
                await asyncio.sleep(_conflict_pause(cycle.conflicts))


def _conflicted(op: StoreOperation, result: Any) -> bool:
    """A loaded session's write was refused: the merge's reload follows."""
    return isinstance(op, StoreSetIf) and not result and op.version is not None


def _conflict_pause(attempt: int) -> float:
    """A jittered pause before the reload of the ``attempt``-th conflict (up to 5, 10, 20 ms), so
    the writers that just collided do not collide again in lockstep."""
    return random.uniform(0, _FIRST_CONFLICT_PAUSE * 2 ** max(attempt - 1, 0))


# -- the lock --------------------------------------------------------------------------------
def _pauses(timeout: float) -> Iterable[float]:
    """Jittered, growing pauses until ``timeout`` seconds have passed (monotonic clock)."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while (left := deadline - time.monotonic()) > 0:
        yield min(pause * (0.5 + random.random()), left)
        pause = min(pause * _GROWTH, _LONGEST_PAUSE)


def acquire_sync(store: Any, op: StoreLock, timeout: float) -> tuple[str, Any]:
    """Take the lock ``op`` asks for, waiting up to ``timeout``; ``(token, Versioned | None)``.

    Raises ``SessionLockTimeout`` when the lock stayed held by someone else all along.
    """
    token, result = run_one_sync(store, op)
    if token is not None:
        return token, result
    for pause in _pauses(timeout):
        time.sleep(pause)
        token, result = run_one_sync(store, op)
        if token is not None:
            return token, result
    raise SessionLockTimeout(op.sid, timeout)


async def acquire_async(store: Any, op: StoreLock, timeout: float) -> tuple[str, Any]:
    """``acquire_sync`` for an async store, pausing with ``asyncio.sleep``."""
    token, result = await run_one_async(store, op)
    if token is not None:
        return token, result
    for pause in _pauses(timeout):
        await asyncio.sleep(pause)
        token, result = await run_one_async(store, op)
        if token is not None:
            return token, result
    raise SessionLockTimeout(op.sid, timeout)


def release_sync(cycle: SessionCycle[Any]) -> None:
    """``cycle.abort()``'s operations (the lock), never masking the error being handled."""
    try:
        settle_sync(cycle, cycle.abort())
    except CoatcheckError as exc:
        logger.warning("could not release the lock of session %s: %s", cycle.id_prefix, exc)


async def release_async(cycle: SessionCycle[Any]) -> None:
    """``release_sync`` for async code."""
    try:
        await settle_async(cycle, cycle.abort())
    except CoatcheckError as exc:
        logger.warning("could not release the lock of session %s: %s", cycle.id_prefix, exc)
