"""How one scenario runs against a sync or an async store.

Every scenario is written once, as a coroutine over ``StoreView``. For an async store the view
awaits the store and the scenario runs under ``asyncio.run``. For a sync store the view calls
the store directly, so the coroutine never suspends and ``run_sync`` drives it to completion
without any event loop — the sync store never sees asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import pytest

from ..stores._protocol import Versioned
from ._clock import FakeClock
from ._records import make_record

_T = TypeVar("_T")
Call = Callable[[], Awaitable[object]]

#: Lifetimes in seconds for (fake clock, real server-side clock) runs.
_SHORT = {False: 60.0, True: 0.3}
LONG = 3600.0
#: A "long" wait for browser-session records: half a day, below the one-day default TTL that
#: connect-redis and connect-pg-simple give records without ``cookie.expires``.
HALF_DAY = 12 * 3600.0


class StoreView:
    """The store under test behind one async interface (sync or async underneath)."""

    def __init__(self, store: object, *, is_async: bool) -> None:
        self._store: Any = store
        self._is_async = is_async

    @property
    def is_async(self) -> bool:
        return self._is_async

    def has(self, method: str) -> bool:
        """Whether the store implements an optional method (express's ``hasattr`` rule)."""
        return callable(getattr(self._store, method, None))

    def require(self, *methods: str) -> None:
        """Skip the current test unless the store implements every one of ``methods``."""
        for method in methods:
            if not self.has(method):
                pytest.skip(f"store does not implement {method}")

    async def _call(self, method: str, *args: object) -> Any:
        result = getattr(self._store, method)(*args)
        return await result if self._is_async else result

    async def get(self, sid: str) -> dict[str, Any] | None:
        """The store's ``get``; ``FileNotFoundError`` reads as ``None`` (express's ENOENT rule)."""
        try:
            result: dict[str, Any] | None = await self._call("get", sid)
        except FileNotFoundError:
            return None
        return result

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._call("set", sid, record)

    async def destroy(self, sid: str) -> None:
        await self._call("destroy", sid)

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._call("touch", sid, record)

    async def all(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = await self._call("all")
        return result

    async def length(self) -> int:
        result: int = await self._call("length")
        return result

    async def clear(self) -> None:
        await self._call("clear")

    async def get_with_expiry(self, sid: str) -> tuple[dict[str, Any], datetime | None] | None:
        """The optional expiry-reporting read (``touch_after``), its answer checked."""
        result = await self._call("get_with_expiry", sid)
        if result is None:
            return None
        record, when = result
        assert when is None or (isinstance(when, datetime) and when.tzinfo is not None), (
            f"get_with_expiry's expiry must be an aware datetime or None, not {when!r}"
        )
        return record, when

    # -- concurrency capabilities (stores/_protocol.py) -----------------------------------------

    async def get_versioned(self, sid: str) -> Versioned | None:
        """The store's answer, a plain ``(record, version)`` pair read as ``Versioned``."""
        try:
            result = await self._call("get_versioned", sid)
        except FileNotFoundError:
            return None
        return None if result is None else _versioned(result)

    async def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        method = self._store.set_if
        result = (
            method(sid, record, version)
            if unlock is None
            else method(sid, record, version, unlock=unlock)
        )
        wrote = await result if self._is_async else result
        assert isinstance(wrote, bool), f"set_if must return a bool, not {wrote!r}"
        return wrote

    async def lock(self, sid: str, ttl: float) -> str | None:
        token = await self._call("lock", sid, ttl)
        assert token is None or isinstance(token, str), f"lock returned {token!r}"
        return token

    async def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        method = self._store.unlock
        result = method(sid, token) if touch is None else method(sid, token, touch=touch)
        if self._is_async:
            await result

    async def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        token, found = await self._call("get_locked", sid, ttl)
        return token, (None if found is None else _versioned(found))

    # -- optional hooks for the suite ------------------------------------------------------------

    async def raw_get(self, sid: str) -> bytes | None:
        """The bytes stored for ``sid`` exactly as stored (expired or not), or ``None``."""
        raw = await self._call("raw_get", sid)
        assert raw is None or isinstance(raw, bytes), f"raw_get must return bytes, not {raw!r}"
        return raw

    async def raw_set(self, sid: str, data: bytes) -> None:
        """Store ``data`` as ``sid``'s bytes, as the Node store would (expiry from the JSON)."""
        await self._call("raw_set", sid, data)

    async def prune(self) -> None:
        await self._call("prune")


def _versioned(answer: Any) -> Versioned:
    """A store's ``Versioned`` (or third-party ``(record, version)`` pair), checked."""
    if isinstance(answer, Versioned):
        found = answer
    else:
        record, version = answer
        found = Versioned(record, version)
    assert isinstance(found.version, str), f"a version must be a str, not {found.version!r}"
    when = found.expires_at
    assert when is None or (isinstance(when, datetime) and when.tzinfo is not None), (
        f"expires_at must be an aware datetime or None, not {when!r}"
    )
    return found


class Harness:
    """What a scenario gets: the store, the clock, and how to wait and run things at once.

    With ``real_time`` (a store whose expiry is enforced by a server's own clock) lifetimes
    are short and waits are real sleeps; the fake clock is kept in step with real time so a
    store that also checks ``cookie.expires`` against it agrees with the server.
    """

    def __init__(
        self,
        store: StoreView,
        clock: FakeClock,
        *,
        real_time: bool,
        sleep: Callable[[float], Awaitable[None]],
        concurrently: Callable[[Sequence[Call]], Awaitable[None]],
    ) -> None:
        self.store = store
        self.clock = clock
        self.is_async = store.is_async
        self.real_time = real_time
        self.short = _SHORT[real_time]
        self._sleep = sleep
        self.concurrently = concurrently
        if real_time:
            self._catch_up()

    def record(self, max_age_s: float | None, **data: Any) -> dict[str, Any]:
        """An express-shaped record living ``max_age_s`` from the clock's now."""
        return make_record(self.clock(), max_age_s, **data)

    async def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` go by: advance the fake clock, or really sleep."""
        if self.real_time:
            await self._sleep(seconds)
            self._catch_up()
        else:
            self.clock.advance(seconds)

    async def loop_stall(self, work: Callable[[], Awaitable[None]]) -> float:
        """The longest time (s) the event loop was held by one step while ``work`` ran: a
        probe task that wants to wake every millisecond notes its worst lateness."""
        worst = 0.0
        done = False

        async def probe() -> None:
            nonlocal worst
            while not done:
                start = time.perf_counter()
                await asyncio.sleep(0.001)
                worst = max(worst, time.perf_counter() - start - 0.001)

        task = asyncio.ensure_future(probe())
        await asyncio.sleep(0)
        try:
            await work()
        finally:
            done = True
            await task
        return worst

    def _catch_up(self) -> None:
        lag = (datetime.now(timezone.utc) - self.clock()).total_seconds()
        if lag > 0:
            self.clock.advance(lag)


def harness_for(store: object, clock: FakeClock, *, is_async: bool, real_time: bool) -> Harness:
    """The harness of one scenario: an async store is awaited and raced with tasks on the
    running loop; a sync one is called directly and raced with threads, no loop anywhere."""
    return Harness(
        StoreView(store, is_async=is_async),
        clock,
        real_time=real_time,
        sleep=asyncio.sleep if is_async else sync_sleep,
        concurrently=gathered if is_async else in_threads,
    )


Scenario = Callable[[Any, Harness], Coroutine[Any, Any, None]]
TestMethod = Callable[[Any, Any, FakeClock], None]


def scenario(body: Scenario) -> TestMethod:
    """Make ``body`` a test method taking the ``store`` and ``clock`` fixtures; the class runs
    it with its ``_drive`` (sync or async store)."""

    def test(self: Any, store: Any, clock: FakeClock) -> None:
        self._drive(body, store, clock)

    # Not functools.wraps: pytest would follow __wrapped__ and ask for a fixture named "h".
    test.__name__ = body.__name__
    test.__qualname__ = body.__qualname__
    test.__doc__ = body.__doc__
    return test


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never suspends (a scenario over a sync store), loop-free."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a sync-store scenario suspended; it must only await the StoreView")


async def sync_sleep(seconds: float) -> None:
    """A real wait that does not suspend (sync scenarios run without an event loop)."""
    time.sleep(seconds)


async def in_threads(calls: Sequence[Call]) -> None:
    """Run each call in its own thread, all released at once; re-raise the first failure."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def worker(call: Call) -> None:
        try:
            barrier.wait(timeout=30)
            awaitable = call()
            assert isinstance(awaitable, Coroutine)
            run_sync(awaitable)
        except BaseException as exc:  # reported in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("concurrent store calls did not finish within 60 s")
    if errors:
        raise errors[0]


async def gathered(calls: Sequence[Call]) -> None:
    """Run the calls concurrently on the running loop."""
    await asyncio.gather(*(call() for call in calls))


@contextlib.contextmanager
def in_time_zone(zone: str | None) -> Iterator[None]:
    """Local time is ``zone`` inside (``TZ`` + POSIX ``time.tzset``; elsewhere, or for
    ``None``, nothing changes); the previous setting is restored after."""
    if zone is None or not hasattr(time, "tzset"):
        yield
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
