"""The drivers: the only code that calls a store. Every failure is a ``StoreError`` naming the
operation; ``FileNotFoundError`` from ``get`` is "not found" (express's ENOENT rule)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from coatcheck import (
    AsyncDriver,
    AsyncSession,
    InvalidRecordError,
    RequestReceived,
    StoreDestroy,
    StoreError,
    StoreGet,
    StoreOperation,
    StoreSet,
    StoreTouch,
    SyncDriver,
    SyncSession,
    run_async,
    run_sync,
)
from coatcheck.stores import MemoryStore

from .cycle import ID1, NOW, STORED_ID, given_stored, make_config, record, signed

REC = record(60, a=1)
ALL_OPERATIONS: list[StoreOperation] = [
    StoreSet("s1", REC),
    StoreGet("s1"),
    StoreTouch("s1", REC),
    StoreGet("missing"),
    StoreDestroy("s1"),
    StoreGet("s1"),
]


class FailingStore:
    """Every method raises ``error``; records what was called."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls: list[str] = []

    def get(self, sid: str) -> Any:
        self.calls.append("get")
        raise self.error

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self.calls.append("set")
        raise self.error

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self.calls.append("touch")
        raise self.error

    def destroy(self, sid: str) -> None:
        self.calls.append("destroy")
        raise self.error


class AsyncFailingStore:
    def __init__(self, error: BaseException) -> None:
        self.sync = FailingStore(error)

    async def get(self, sid: str) -> Any:
        return self.sync.get(sid)

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self.sync.set(sid, record)

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self.sync.touch(sid, record)

    async def destroy(self, sid: str) -> None:
        self.sync.destroy(sid)


class AsyncDictStore:
    """A native async store."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def get(self, sid: str) -> dict[str, Any] | None:
        self.calls.append(("get", sid))
        return self.data.get(sid)

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self.calls.append(("set", sid))
        self.data[sid] = dict(record)

    async def destroy(self, sid: str) -> None:
        self.calls.append(("destroy", sid))
        self.data.pop(sid, None)


class ThreadRecordingStore(MemoryStore):
    """A MemoryStore remembering which thread ran each call; ``never_blocks`` is settable."""

    def __init__(self, never_blocks: bool) -> None:
        super().__init__(clock=lambda: NOW)
        self.never_blocks = never_blocks  # type: ignore[misc]
        self.threads: list[int] = []

    def get(self, sid: str) -> Any:
        self.threads.append(threading.get_ident())
        return super().get(sid)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self.threads.append(threading.get_ident())
        super().set(sid, record)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self.threads.append(threading.get_ident())
        super().touch(sid, record)


# -- run_sync / run_async ---------------------------------------------------------------------


def test_run_sync_runs_operations_in_order_and_returns_get_results() -> None:
    store = MemoryStore(clock=lambda: NOW)
    assert run_sync(store, ALL_OPERATIONS) == [REC, None, None]
    assert store.length() == 0


async def test_run_async_runs_operations_in_order_and_returns_get_results() -> None:
    store = AsyncDictStore()
    results = await run_async(
        store, [op for op in ALL_OPERATIONS if not isinstance(op, StoreTouch)]
    )
    assert results == [REC, None, None]
    assert store.calls == [
        ("set", "s1"),
        ("get", "s1"),
        ("get", "missing"),
        ("destroy", "s1"),
        ("get", "s1"),
    ]


@pytest.mark.parametrize(
    ("op", "name"),
    [
        (StoreGet(STORED_ID), "get"),
        (StoreSet(STORED_ID, REC), "set"),
        (StoreTouch(STORED_ID, REC), "touch"),
        (StoreDestroy(STORED_ID), "destroy"),
    ],
)
def test_run_sync_wraps_store_exceptions_naming_the_operation(
    op: StoreOperation, name: str
) -> None:
    cause = ConnectionError("connection refused")
    with pytest.raises(StoreError) as raised:
        run_sync(FailingStore(cause), [op])
    error = raised.value
    assert error.operation == name
    assert error.cause is cause
    assert error.__cause__ is cause
    assert error.sid_prefix == STORED_ID[:6] + "…"
    assert str(error) == (
        f"store {name} failed (session {STORED_ID[:6]}…): ConnectionError: connection refused"
    )


@pytest.mark.parametrize(
    ("op", "name"),
    [
        (StoreGet("s"), "get"),
        (StoreSet("s", REC), "set"),
        (StoreTouch("s", REC), "touch"),
        (StoreDestroy("s"), "destroy"),
    ],
)
async def test_run_async_wraps_store_exceptions_naming_the_operation(
    op: StoreOperation, name: str
) -> None:
    with pytest.raises(StoreError, match=f"^store {name} failed") as raised:
        await run_async(AsyncFailingStore(TimeoutError("slow")), [op])
    assert raised.value.operation == name
    assert isinstance(raised.value.cause, TimeoutError)


def test_failure_stops_the_remaining_operations() -> None:
    store = FailingStore(OSError("boom"))
    with pytest.raises(StoreError):
        run_sync(store, [StoreSet("a", REC), StoreDestroy("a")])
    assert store.calls == ["set"]


def test_file_not_found_on_get_is_not_found() -> None:
    assert run_sync(FailingStore(FileNotFoundError("ENOENT")), [StoreGet("s")]) == [None]


async def test_file_not_found_on_async_get_is_not_found() -> None:
    store = AsyncFailingStore(FileNotFoundError("ENOENT"))
    assert await run_async(store, [StoreGet("s")]) == [None]


@pytest.mark.parametrize(
    "op",
    [StoreSet("s", REC), StoreTouch("s", REC), StoreDestroy("s")],
    ids=["set", "touch", "destroy"],
)
def test_file_not_found_elsewhere_is_a_failure(op: StoreOperation) -> None:
    with pytest.raises(StoreError):
        run_sync(FailingStore(FileNotFoundError("gone")), [op])


def test_coatcheck_errors_from_a_store_pass_through() -> None:
    """A record the store refuses is our caller's bug, not a store failure."""
    with pytest.raises(InvalidRecordError):
        run_sync(MemoryStore(), [StoreSet("s", {"no": "cookie"})])


def test_base_exceptions_are_not_wrapped() -> None:
    with pytest.raises(KeyboardInterrupt):
        run_sync(FailingStore(KeyboardInterrupt()), [StoreGet("s")])


# -- SyncDriver ----------------------------------------------------------------------------------


def test_sync_driver_begin_loads_and_end_writes() -> None:
    config = make_config(resave=False)
    cookie = given_stored(config, a=1)
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=NOW, cookie_header=cookie))
    assert cycle is not None
    assert isinstance(cycle.session, SyncSession)
    assert dict(cycle.session) == {"a": 1}
    cycle.session["a"] = 2
    decision = driver.end(cycle)
    assert config.store.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert config.store.stored(STORED_ID)["a"] == 2
    assert decision.operations == (StoreSet(STORED_ID, record(60, a=2)),)


def test_sync_driver_outside_the_cookie_path_is_none() -> None:
    config = make_config(cookie={"path": "/app"})
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    cookie = given_stored(config)
    assert driver.begin(RequestReceived(now=NOW, path="/", cookie_header=cookie)) is None
    assert config.store.calls == []


def test_sync_driver_end_failure_raises_after_deciding() -> None:
    config = make_config()
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=NOW))
    assert cycle is not None
    config.store.fail["set"] = OSError("read-only file system")
    with pytest.raises(StoreError, match=r"^store set failed"):
        driver.end(cycle)


def test_sync_driver_end_late() -> None:
    config = make_config(save_uninitialized=False)
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=NOW))
    assert cycle is not None
    assert driver.end(cycle).operations == ()
    cycle.session["streamed"] = True
    driver.end_late(cycle)
    assert config.store.calls == [("set", ID1)]
    driver.end_late(cycle)  # nothing new: nothing written
    assert config.store.calls == [("set", ID1)]


# -- AsyncDriver ---------------------------------------------------------------------------------


async def run_async_cycle(store: Any, cookie: str | None = None) -> None:
    config = make_config(store=store, resave=False, save_uninitialized=True)
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    cycle = await driver.begin(RequestReceived(now=NOW, cookie_header=cookie))
    assert cycle is not None
    await driver.end(cycle)


async def test_async_driver_calls_a_never_blocking_sync_store_on_the_loop() -> None:
    store = ThreadRecordingStore(never_blocks=True)
    await run_async_cycle(store)
    await run_async_cycle(store, f"connect.sid={signed(ID1)}")
    loop_thread = threading.get_ident()
    assert len(store.threads) == 3  # set; get, touch
    assert set(store.threads) == {loop_thread}


async def test_async_driver_runs_a_blocking_sync_store_in_a_thread() -> None:
    store = ThreadRecordingStore(never_blocks=False)
    await run_async_cycle(store)
    await run_async_cycle(store, f"connect.sid={signed(ID1)}")
    assert len(store.threads) == 3
    assert threading.get_ident() not in store.threads


async def test_async_driver_with_a_native_async_store() -> None:
    store = AsyncDictStore()
    config = make_config(store=store, resave=False)
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    assert not config.store_implements_touch
    cycle = await driver.begin(RequestReceived(now=NOW))
    assert cycle is not None
    cycle.session["a"] = 1
    decision = await driver.end(cycle)
    assert decision.set_cookie is not None
    again = await driver.begin(RequestReceived(now=NOW, cookie_header=decision.set_cookie))
    assert again is not None
    assert dict(again.session) == {"a": 1}
    await driver.end(again)
    assert store.calls == [("set", ID1), ("get", ID1)]  # no touch: the store has none


async def test_async_driver_outside_the_cookie_path_is_none() -> None:
    config = make_config(cookie={"path": "/app"})
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    assert await driver.begin(RequestReceived(now=NOW, path="/other")) is None


async def test_async_driver_failures_are_store_errors() -> None:
    config = make_config(store=AsyncFailingStore(ConnectionError("down")))
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    with pytest.raises(StoreError, match=r"^store get failed"):
        await driver.begin(RequestReceived(now=NOW, cookie_header=f"connect.sid={signed('x')}"))
    cycle = await driver.begin(RequestReceived(now=NOW))
    assert cycle is not None
    with pytest.raises(StoreError, match=r"^store set failed"):
        await driver.end(cycle)


async def test_async_driver_end_late() -> None:
    config = make_config(save_uninitialized=False)
    driver: AsyncDriver[AsyncSession] = AsyncDriver(config)
    cycle = await driver.begin(RequestReceived(now=NOW))
    assert cycle is not None
    await driver.end(cycle)
    cycle.session["streamed"] = True
    await driver.end_late(cycle)
    assert config.store.calls == [("set", ID1)]
