"""The store contract: express-session's store rules as one set of tests, sync and async.

Each rule is written once as an ``async`` scenario over a ``Harness``; ``@_scenario`` turns it
into a plain (sync) pytest test method that the two public classes run their own way. The rules
of the basic store methods are here; the stored bytes (``_wire.py``), the concurrency
capabilities (``_capabilities.py``) and the lifetime rules (``_lifetimes.py``) are mixed in.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Coroutine, Iterator
from functools import partial
from typing import Any, ClassVar

import pytest

from ..stores._async import is_async_store
from ._capabilities import CapabilityContract
from ._clock import FakeClock
from ._harness import (
    HALF_DAY,
    LONG,
    Harness,
    Scenario,
    harness_for,
    in_time_zone,
    run_sync,
    scenario,
)
from ._lifetimes import LifetimeContract
from ._steps import as_json, expired, new_sid, user_data
from ._wire import WireContract

_scenario = scenario


def _snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """A deep copy to compare against (a store handing out its own object must not pass)."""
    copy: dict[str, Any] = json.loads(json.dumps(record))
    return copy


async def _then_aclose(scenario: Coroutine[Any, Any, None], store: Any) -> None:
    try:
        await scenario
    finally:
        aclose = getattr(store, "aclose", None)
        if aclose is not None:
            await aclose()


class _ContractBase(LifetimeContract, WireContract, CapabilityContract):
    #: True when expiry is enforced by a server's own clock (Redis TTL): expiry tests then use
    #: ~0.3 s lifetimes and real waits instead of advancing the ``clock`` fixture.
    server_side_expiry: ClassVar[bool] = False
    #: False for stores whose touch only extends the lifetime and leaves the stored JSON as is
    #: (connect-redis's ``EXPIRE``): the touch test then skips its stored-cookie assertion.
    touch_updates_stored_cookie: ClassVar[bool] = True
    #: Seconds by which a store may round ``cookie.expires`` up (connect-pg-simple keeps whole
    #: seconds, rounded up); 0: expired exactly when ``expires <= now``, express's rule.
    expiry_resolution: ClassVar[float] = 0.0
    #: The documented life (s) of a record without ``cookie.expires`` after its last write or
    #: touch: connect-redis and connect-pg-simple keep one a day, and so must a store replacing
    #: them; after twice that it must be gone from storage too. ``None``: kept until destroyed.
    browser_session_lifetime: ClassVar[float | None] = 86400.0
    #: The longest an async store may hold the event loop in one step (a blocking call).
    max_loop_stall: ClassVar[float] = 0.2
    #: Run every test in this time zone (a store computing expiry in naive local time breaks).
    time_zone: ClassVar[str | None] = "America/New_York"

    @pytest.fixture(autouse=True)
    def _in_time_zone(self) -> Iterator[None]:
        """Set ``TZ`` to ``time_zone`` for the test (POSIX ``time.tzset``), restored after."""
        with in_time_zone(self.time_zone):
            yield

    @pytest.fixture
    def store(self) -> Any:
        """Override: return a fresh, empty store built with ``clock=clock``."""
        pytest.fail(f"{type(self).__name__} must define a `store` fixture")

    #: Which kind of store the public class runs, and what it says when given the other kind.
    _async_store: ClassVar[bool]
    _wrong_kind: ClassVar[str]

    def _drive(self, body: Scenario, store: Any, clock: FakeClock) -> None:
        """Run one scenario: loop-free over a sync store, in a fresh ``asyncio.run`` loop over
        an async one (then its ``aclose()``, if any, in that loop)."""
        if is_async_store(store) is not self._async_store:
            pytest.fail(self._wrong_kind)
        harness = harness_for(
            store, clock, is_async=self._async_store, real_time=self.server_side_expiry
        )
        if self._async_store:
            asyncio.run(_then_aclose(body(self, harness), store))
        else:
            run_sync(body(self, harness))

    # -- get / set round trips ----------------------------------------------------------------

    @_scenario
    async def test_get_unknown_returns_none(self, h: Harness) -> None:
        assert await h.store.get(new_sid()) is None

    @_scenario
    async def test_set_then_get_round_trips(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(LONG, user="bob")
        await h.store.set(sid, record)
        assert await h.store.get(sid) == record

    @_scenario
    async def test_round_trip_keeps_non_ascii(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(LONG, greeting="Grüße 🎟️ 日本", **{"naïve-ключ": "é"})
        await h.store.set(sid, record)
        assert await h.store.get(sid) == record

    @_scenario
    async def test_round_trip_keeps_nested_values(self, h: Harness) -> None:
        cart = {"items": [{"sku": "a-1", "qty": 2, "tags": ["x", None]}], "total": 12.5}
        sid = new_sid()
        record = h.record(LONG, cart=cart, flags=[True, False, None], count=0, empty={})
        await h.store.set(sid, record)
        assert await h.store.get(sid) == record

    @_scenario
    async def test_round_trip_keeps_a_1mb_value(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(LONG, blob=secrets.token_hex(500_000) + "✓")
        await h.store.set(sid, record)
        assert await h.store.get(sid) == record

    @_scenario
    async def test_key_order_is_preserved(self, h: Harness) -> None:
        """express keeps the stored key order; a Node app reading the store sees the same."""
        sid = new_sid()
        record = h.record(LONG, zeta=1, alpha={"b": 1, "a": 2}, mid=3)
        await h.store.set(sid, record)
        assert as_json(await h.store.get(sid)) == as_json(record)

    @_scenario
    async def test_set_overwrites_all_data(self, h: Harness) -> None:
        sid = new_sid()
        await h.store.set(sid, h.record(LONG, user="bob", cart=[1, 2]))
        replacement = h.record(LONG, user="alice")
        await h.store.set(sid, replacement)
        assert as_json(await h.store.get(sid)) == as_json(replacement)

    @_scenario
    async def test_returned_record_is_a_copy(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(LONG, cart={"items": [1]})
        expected = _snapshot(record)
        await h.store.set(sid, record)
        got = await h.store.get(sid)
        assert got is not None
        got["cart"]["items"].append(2)
        got["cookie"]["path"] = "/elsewhere"
        got["intruder"] = True
        assert await h.store.get(sid) == expected

    @_scenario
    async def test_set_copies_its_argument(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(LONG, cart={"items": [1]})
        expected = _snapshot(record)
        await h.store.set(sid, record)
        record["cart"]["items"].append(2)
        assert await h.store.get(sid) == expected

    # -- destroy ------------------------------------------------------------------------------

    @_scenario
    async def test_destroy_removes_the_session(self, h: Harness) -> None:
        sid, other, kept = new_sid(), new_sid(), h.record(LONG, user="alice")
        await h.store.set(sid, h.record(LONG, user="bob"))
        await h.store.set(other, kept)
        await h.store.destroy(sid)
        assert await h.store.get(sid) is None
        assert await h.store.get(other) == kept

    @_scenario
    async def test_destroy_unknown_is_not_an_error(self, h: Harness) -> None:
        sid = new_sid()
        await h.store.destroy(sid)
        assert await h.store.get(sid) is None

    # -- expiry -------------------------------------------------------------------------------

    @_scenario
    async def test_already_expired_record_is_never_returned(self, h: Harness) -> None:
        sid = new_sid()
        await h.store.set(sid, h.record(-60, user="bob"))
        assert await h.store.get(sid) is None

    @_scenario
    async def test_record_expires_as_time_passes(self, h: Harness) -> None:
        sid, record = new_sid(), h.record(h.short, user="bob")
        await h.store.set(sid, record)
        assert await h.store.get(sid) == record
        await h.pass_time(h.short * 2)
        assert await h.store.get(sid) is None

    @_scenario
    async def test_browser_session_record_survives_a_long_wait(self, h: Harness) -> None:
        """``expires: null`` is a browser-session cookie: the store keeps it (stores with a
        TTL may give it a default of at least a day, as connect-redis does)."""
        sid, record = new_sid(), h.record(None, user="bob")
        await h.store.set(sid, record)
        await h.pass_time(h.short * 2 if h.real_time else HALF_DAY)
        await h.store.set(new_sid(), h.record(h.short))  # a write, where stores like to prune
        assert await h.store.get(sid) == record

    @_scenario
    async def test_record_is_expired_at_exactly_its_expiry(self, h: Harness) -> None:
        """express's MemoryStore rule: expired when ``expires <= now`` (not ``<``)."""
        sid, record = new_sid(), h.record(h.short, user="bob")
        await h.store.set(sid, record)
        if not h.real_time:
            await h.pass_time(h.short - 0.001)
            assert await h.store.get(sid) == record, "expired before its time"
            await h.pass_time(0.001 + self.expiry_resolution)
        else:
            await h.pass_time(h.short * 2)
        assert await h.store.get(sid) is None, "alive at expires == now"

    @_scenario
    async def test_browser_session_record_lives_its_documented_lifetime(self, h: Harness) -> None:
        """A record without ``cookie.expires`` lives at least ``browser_session_lifetime``."""
        lifetime = self.browser_session_lifetime
        sid, record = new_sid(), h.record(None, user="bob")
        await h.store.set(sid, record)
        if lifetime is None:  # kept until destroyed: a long wait changes nothing
            lifetime = HALF_DAY * 4
            if h.real_time:
                return
        if h.real_time:  # no day-long waits: ask the store when it will drop the record
            h.store.require("get_versioned")
            found = await h.store.get_versioned(sid)
            assert found is not None
            if found.expires_at is None:
                pytest.skip("store does not report expires_at")
            left = (found.expires_at - h.clock()).total_seconds()
            assert left >= lifetime - 60, f"dropped after {left} s"
            return
        await h.pass_time(lifetime - 60)
        for _ in range(3):  # writes, where stores like to prune
            await h.store.set(new_sid(), h.record(LONG))
        if h.store.has("prune"):
            await h.store.prune()
        assert await h.store.get(sid) == record

    @_scenario
    async def test_expired_records_are_deleted_from_storage(self, h: Harness) -> None:
        """Expired records must not pile up: storage is reclaimed by the store's TTL, by its
        own pruning on writes, or by ``prune()`` — checked through the ``raw_get`` hook."""
        h.store.require("raw_get")
        sids = [new_sid() for _ in range(3)]
        for sid in sids:
            await h.store.set(sid, h.record(h.short, user="gone"))
        await h.store.set(browser := new_sid(), h.record(None, user="browser"))
        lifetime = self.browser_session_lifetime
        await h.pass_time(h.short * 2 if h.real_time or lifetime is None else lifetime * 2)
        for _ in range(20):
            await h.store.set(new_sid(), h.record(LONG))
        if h.store.has("prune"):
            await h.store.prune()
        assert [await h.store.raw_get(sid) for sid in sids] == [None] * 3, "expired rows kept"
        if not h.real_time and lifetime is not None:
            assert await h.store.raw_get(browser) is None, "an abandoned browser session kept"

    # -- ids ------------------------------------------------------------------------------------

    @_scenario
    async def test_ids_are_case_sensitive(self, h: Harness) -> None:
        base = new_sid()
        upper, lower = "A" + base.upper(), "a" + base.lower()
        await h.store.set(upper, h.record(LONG, who="upper"))
        await h.store.set(lower, h.record(LONG, who="lower"))
        got = [await h.store.get(upper), await h.store.get(lower)]
        assert [g and g["who"] for g in got] == ["upper", "lower"]
        await h.store.destroy(lower)
        assert await h.store.get(upper) is not None

    @_scenario
    async def test_long_ids_are_kept_whole(self, h: Harness) -> None:
        """Ids of 1,000 characters sharing a 999-character prefix stay apart (no truncation)."""
        prefix = (new_sid() * 32)[:999]
        ids = [prefix + tail for tail in "abAB"]
        for n, sid in enumerate(ids):
            await h.store.set(sid, h.record(LONG, n=n))
        assert [(await h.store.get(sid) or {}).get("n") for sid in ids] == [0, 1, 2, 3]
        if h.store.has("all"):
            assert set(ids) <= set(await h.store.all())

    @_scenario
    async def test_odd_ids_are_kept_apart_or_refused(self, h: Harness) -> None:
        """Ids a file-backed store could confuse (``/``, ``..``, NUL, spaces, non-ASCII): each is
        stored under itself, or refused with an exception; never one for another."""
        tag = new_sid()
        odd = [
            tag,
            f"{tag}/..",
            f"../{tag}",
            f"{tag}/x",
            f"{tag}\\x",
            f"{tag}\x00x",
            f"{tag} ",
            f"{tag}%2F",
            f"{tag}ü",
            f"{tag}*",
            f"{tag}?",
        ]
        stored = []
        for n, sid in enumerate(odd):
            try:
                await h.store.set(sid, h.record(LONG, n=n))
            except Exception:
                continue
            stored.append((sid, n))
        assert stored, "every id was refused"
        for sid, n in stored:
            got = await h.store.get(sid)
            assert got is not None, f"{sid!r} was lost"
            assert got["n"] == n, f"{sid!r} holds another id's record"

    # -- touch --------------------------------------------------------------------------------

    @_scenario
    async def test_touch_extends_life_without_changing_data(self, h: Harness) -> None:
        """express's touch replaces only the stored cookie: data written meanwhile survives."""
        h.store.require("touch")
        sid, original = new_sid(), h.record(h.short, user="bob", cart=[1, 2])
        await h.store.set(sid, original)
        later = h.record(LONG, user="mallory", cart=[])
        await h.store.touch(sid, later)
        await h.pass_time(h.short * 2)
        got = await h.store.get(sid)
        assert got is not None, "touch did not extend the session's life"
        assert as_json(user_data(got)) == as_json(user_data(original))
        if self.touch_updates_stored_cookie:
            assert got["cookie"] == later["cookie"]

    @_scenario
    async def test_touch_unknown_does_not_create_it(self, h: Harness) -> None:
        h.store.require("touch")
        sid = new_sid()
        await h.store.touch(sid, h.record(LONG, user="bob"))
        assert await h.store.get(sid) is None

    @_scenario
    async def test_touch_does_not_revive_an_expired_session(self, h: Harness) -> None:
        h.store.require("touch")
        sid = await expired(h, user="bob")
        await h.store.touch(sid, h.record(LONG, user="bob"))
        assert await h.store.get(sid) is None

    # -- all / length / clear -----------------------------------------------------------------

    async def _live_and_expired(self, h: Harness) -> dict[str, dict[str, Any]]:
        """Store two live sessions and one that then expires; return the live ones."""
        live = {new_sid(): h.record(LONG, user="bob"), new_sid(): h.record(None, user="alice")}
        for sid, record in live.items():
            await h.store.set(sid, record)
        await h.store.set(new_sid(), h.record(h.short, user="gone"))
        await h.pass_time(h.short * 2)
        return live

    @_scenario
    async def test_all_returns_live_sessions_keyed_by_sid(self, h: Harness) -> None:
        h.store.require("all")
        live = await self._live_and_expired(h)
        assert await h.store.all() == live

    @_scenario
    async def test_length_counts_live_sessions(self, h: Harness) -> None:
        h.store.require("length")
        live = await self._live_and_expired(h)
        assert await h.store.length() == len(live)
        if h.store.has("all"):
            assert await h.store.length() == len(await h.store.all())

    @_scenario
    async def test_clear_removes_every_session(self, h: Harness) -> None:
        """(A shared backend's ``clear`` must remove only this store's sessions.)"""
        h.store.require("clear")
        sids = [new_sid(), new_sid(), new_sid()]
        for sid, life in zip(sids, (LONG, None, h.short)):
            await h.store.set(sid, h.record(life, user="bob"))
        await h.store.clear()
        assert [await h.store.get(sid) for sid in sids] == [None, None, None]
        if h.store.has("length"):
            assert await h.store.length() == 0
        if h.store.has("all"):
            assert await h.store.all() == {}

    # -- concurrency ----------------------------------------------------------------------------

    @_scenario
    async def test_concurrent_writers_lose_nothing(self, h: Harness) -> None:
        """50 writers at once (threads for a sync store, tasks for an async one)."""
        records = {new_sid(): h.record(LONG, writer=n) for n in range(50)}
        await h.concurrently([partial(h.store.set, sid, rec) for sid, rec in records.items()])
        assert {sid: await h.store.get(sid) for sid in records} == records

    # -- an async store never blocks the event loop ----------------------------------------------

    @_scenario
    async def test_calls_do_not_block_the_event_loop(self, h: Harness) -> None:
        """A loop-lag probe: while the store works, the loop keeps running other tasks (a sync
        client inside ``async def`` would hold it for a whole round trip)."""
        if not h.is_async:
            pytest.skip("a sync store runs in a worker thread or declares never_blocks")

        async def work() -> None:
            for n in range(5):
                sid = new_sid()
                await h.store.set(sid, h.record(LONG, n=n))
                await h.store.get(sid)
                if h.store.has("touch"):
                    await h.store.touch(sid, h.record(LONG))
                await h.store.destroy(sid)

        stall = await h.loop_stall(work)
        if stall > self.max_loop_stall:  # once more: a busy machine may stall any loop once
            stall = min(stall, await h.loop_stall(work))
        assert stall <= self.max_loop_stall, f"the store held the event loop {stall:.3f} s"


class StoreContract(_ContractBase):
    """Subclass (as ``Test…``) and define a ``store`` fixture returning a fresh sync store."""

    _async_store = False
    _wrong_kind = "StoreContract got an async store; subclass AsyncStoreContract instead"


class AsyncStoreContract(_ContractBase):
    """Subclass (as ``Test…``) and define a *sync* ``store`` fixture returning an async store.

    Each test runs its body in a fresh ``asyncio.run`` loop, so the store must bind its
    connections lazily to the running loop (create them on first use, not in the fixture). If
    the store has an ``aclose()`` coroutine it is awaited at the end of each test, in that loop.
    """

    _async_store = True
    _wrong_kind = (
        "AsyncStoreContract needs an async store; wrap a sync one with "
        "coatcheck.stores.to_async or subclass StoreContract"
    )
