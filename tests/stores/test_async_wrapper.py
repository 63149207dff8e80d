"""``to_async``: the adapter mirrors the store's methods and never blocks the event loop."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from coatcheck._errors import StoreError
from coatcheck.stores import AsyncStore, MemoryStore, SQLiteStore, to_async
from coatcheck.stores._async import CAPABILITY_METHODS, OPTIONAL_METHODS
from coatcheck.testing import FakeClock, make_record


class RecordingStore:
    """A sync store that notes which thread ran each call."""

    never_blocks = False

    def __init__(self) -> None:
        self.threads: dict[str, int] = {}
        self.data: dict[str, Any] = {}

    def _note(self, method: str) -> None:
        self.threads[method] = threading.get_ident()

    def get(self, sid: str) -> dict[str, Any] | None:
        self._note("get")
        return self.data.get(sid)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._note("set")
        self.data[sid] = dict(record)

    def destroy(self, sid: str) -> None:
        self._note("destroy")
        self.data.pop(sid, None)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self._note("touch")

    def all(self) -> dict[str, Any]:
        self._note("all")
        return dict(self.data)

    def length(self) -> int:
        self._note("length")
        return len(self.data)

    def clear(self) -> None:
        self._note("clear")
        self.data.clear()


class NonBlockingStore(RecordingStore):
    never_blocks = True


def _store_with(methods: tuple[str, ...]) -> Any:
    """A sync store class having only get/set/destroy plus ``methods``."""
    namespace = {name: getattr(RecordingStore, name) for name in ("get", "set", "destroy")}
    namespace.update({name: getattr(RecordingStore, name) for name in methods})
    namespace.update(__init__=RecordingStore.__init__, _note=RecordingStore._note)
    return type("PartialStore", (), namespace)()


SUBSETS = [
    combo
    for n in range(len(OPTIONAL_METHODS) + 1)
    for combo in itertools.combinations(OPTIONAL_METHODS, n)
]


@pytest.mark.parametrize("methods", SUBSETS, ids=lambda m: "+".join(m) or "required-only")
async def test_exposes_exactly_the_optional_methods_the_store_has(methods: tuple[str, ...]) -> None:
    sync_store = _store_with(methods)
    adapter = to_async(sync_store)
    assert {name for name in OPTIONAL_METHODS if hasattr(adapter, name)} == set(methods)
    assert isinstance(adapter, AsyncStore)
    record = {"cookie": {"expires": None}, "user": "bob"}
    await adapter.set("sid", record)
    assert await adapter.get("sid") == record
    if "length" in methods:
        assert await adapter.length() == 1  # type: ignore[attr-defined]
    if "all" in methods:
        assert await adapter.all() == {"sid": record}  # type: ignore[attr-defined]
    if "touch" in methods:
        await adapter.touch("sid", record)  # type: ignore[attr-defined]
    if "clear" in methods:
        await adapter.clear()  # type: ignore[attr-defined]
        assert await adapter.get("sid") is None
    await adapter.destroy("sid")
    assert set(sync_store.threads) == {"get", "set", "destroy", *methods}


def test_non_callable_attribute_is_not_a_method() -> None:
    sync_store = _store_with(())
    sync_store.touch = None
    assert not hasattr(to_async(sync_store), "touch")


def test_shipped_stores_keep_all_their_methods(tmp_path: Any) -> None:
    with SQLiteStore(tmp_path / "s.sqlite3") as sqlite_store:
        for store in (MemoryStore(), sqlite_store):
            adapter = to_async(store)
            assert all(hasattr(adapter, name) for name in OPTIONAL_METHODS)
            assert getattr(adapter, "store", None) is store


async def test_get_with_expiry_is_forwarded(clock: FakeClock) -> None:
    store = _store_with(())
    when = clock()
    store.get_with_expiry = lambda sid: ({"cookie": {"expires": None}}, when)
    adapter: Any = to_async(store)
    assert await adapter.get_with_expiry("sid") == ({"cookie": {"expires": None}}, when)
    assert not hasattr(to_async(_store_with(())), "get_with_expiry")


async def test_capabilities_are_forwarded(clock: FakeClock) -> None:
    adapter: Any = to_async(MemoryStore(clock=clock))
    assert all(hasattr(adapter, name) for name in CAPABILITY_METHODS)
    assert not any(hasattr(to_async(_store_with(())), name) for name in CAPABILITY_METHODS)
    record = make_record(clock(), 60, user="bob")
    assert await adapter.set_if("sid", record, None) is True
    token, found = await adapter.get_locked("sid", 10)
    assert token
    assert found.record == record
    assert await adapter.lock("sid", 10) is None
    assert await adapter.set_if("sid", record, found.version, unlock=token) is True
    token = await adapter.lock("sid", 10)
    await adapter.unlock("sid", token, touch=record)
    assert (await adapter.get_versioned("sid")).record == record
    assert await adapter.lock("sid", 10)


async def test_async_store_is_returned_unchanged() -> None:
    adapter = to_async(MemoryStore())
    assert to_async(adapter) is adapter


@pytest.mark.parametrize(
    ("store_class", "on_loop_thread"), [(NonBlockingStore, True), (RecordingStore, False)]
)
async def test_never_blocks_decides_the_thread(
    store_class: type[RecordingStore], on_loop_thread: bool
) -> None:
    sync_store = store_class()
    adapter: Any = to_async(sync_store)
    loop_thread = threading.get_ident()
    record = {"cookie": {"expires": None}}
    await adapter.set("sid", record)
    await adapter.get("sid")
    await adapter.touch("sid", record)
    await adapter.all()
    await adapter.length()
    await adapter.clear()
    await adapter.destroy("sid")
    assert len(sync_store.threads) == 7
    for method, thread in sync_store.threads.items():
        assert (thread == loop_thread) is on_loop_thread, method


async def test_blocking_store_does_not_stall_the_loop() -> None:
    """While a slow sync get runs in its thread, other tasks keep running."""
    release = threading.Event()

    class SlowStore(RecordingStore):
        def get(self, sid: str) -> dict[str, Any] | None:
            release.wait(timeout=10)
            return None

    adapter = to_async(SlowStore())
    pending = asyncio.ensure_future(adapter.get("sid"))
    await asyncio.sleep(0.01)
    assert not pending.done()  # the loop got control back while get was blocked
    release.set()
    assert await pending is None


async def test_errors_propagate_unchanged(clock: FakeClock) -> None:
    store = SQLiteStore(":memory:", clock=clock)
    adapter = to_async(store)
    store.close()
    with pytest.raises(StoreError) as info:
        await adapter.set("sid", make_record(clock(), 60))
    assert info.value.operation == "set"


async def test_exposes_exactly_the_concurrency_capabilities_the_store_has() -> None:
    from coatcheck.stores import Versioned
    from coatcheck.stores._async import CAPABILITY_METHODS as CAPABILITIES

    class VersionsOnly:
        """get/set/destroy plus get_versioned and set_if (no lock)."""

        def __init__(self) -> None:
            self.data: dict[str, Any] = {}
            self.calls: list[tuple[str, tuple[Any, ...]]] = []

        def get(self, sid: str) -> Any:
            return self.data.get(sid)

        def set(self, sid: str, record: Mapping[str, Any]) -> None:
            self.data[sid] = dict(record)

        def destroy(self, sid: str) -> None:
            self.data.pop(sid, None)

        def get_versioned(self, sid: str) -> Versioned | None:
            self.calls.append(("get_versioned", (sid,)))
            record = self.data.get(sid)
            return None if record is None else Versioned(record, str(len(self.calls)))

        def set_if(self, sid: str, record: Mapping[str, Any], version: str | None) -> bool:
            self.calls.append(("set_if", (sid, version)))
            self.data[sid] = dict(record)
            return True

    store = VersionsOnly()
    adapter: Any = to_async(store)
    assert {name for name in CAPABILITIES if hasattr(adapter, name)} == {"get_versioned", "set_if"}
    record = {"cookie": {"expires": None}, "n": 1}
    assert await adapter.set_if("sid", record, None) is True  # no unlock keyword passed on
    assert await adapter.get_versioned("sid") == Versioned(record, "2")
    assert store.calls == [("set_if", ("sid", None)), ("get_versioned", ("sid",))]
