"""The store contract's concurrency capabilities (``stores/_protocol.py``, DESIGN
"Concurrency"): versions (``get_versioned``, ``set_if``) and locks (``lock``, ``unlock``,
``get_locked``). Each rule skips unless the store has the methods it needs. Mixed into
``StoreContract`` and ``AsyncStoreContract``.
"""

from __future__ import annotations

from functools import partial

import pytest

from .._errors import InvalidRecordError
from ..stores._codec import parse_expires
from ._harness import LONG, Harness, scenario
from ._steps import as_json, expired, locked, new_sid, user_data, written

_scenario = scenario


class CapabilityContract:
    """The capability rules; see the module docstring."""

    # -- concurrency capabilities: versions (stores/_protocol.py) -------------------------------

    @_scenario
    async def test_get_versioned_returns_the_record_and_a_version(self, h: Harness) -> None:
        h.store.require("get_versioned")
        sid, record = new_sid(), h.record(LONG, user="bob")
        assert await h.store.get_versioned(sid) is None
        found = await written(h, sid, record)
        assert as_json(found.record) == as_json(record)
        if found.expires_at is not None:  # the store's own expiry: the cookie's, give or take
            lag = abs(
                (found.expires_at - parse_expires(record["cookie"]["expires"])).total_seconds()
            )
            assert lag <= 2, f"expires_at {found.expires_at} is not the record's expiry"

    @_scenario
    async def test_get_versioned_hides_an_expired_record(self, h: Harness) -> None:
        h.store.require("get_versioned")
        sid = await expired(h, user="bob")
        assert await h.store.get_versioned(sid) is None

    @_scenario
    async def test_version_changes_on_every_write(self, h: Harness) -> None:
        h.store.require("get_versioned", "set_if")
        sid, seen = new_sid(), []
        for n in range(3):
            first = await written(h, sid, h.record(LONG, n=n))
            seen.append(first.version)
            assert await h.store.set_if(sid, h.record(LONG, n=n, again=True), first.version)
            found = await h.store.get_versioned(sid)
            assert found is not None
            seen.append(found.version)
        assert len(set(seen)) == len(seen), f"a write left the version unchanged: {seen}"

    @_scenario
    async def test_set_if_writes_when_the_version_is_current(self, h: Harness) -> None:
        h.store.require("get_versioned", "set_if")
        sid, update = new_sid(), h.record(LONG, user="bob", n=2)
        found = await written(h, sid, h.record(LONG, user="bob", n=1))
        assert await h.store.set_if(sid, update, found.version) is True
        assert as_json(await h.store.get(sid)) == as_json(update)

    @_scenario
    async def test_set_if_refuses_a_stale_version(self, h: Harness) -> None:
        h.store.require("get_versioned", "set_if")
        sid, theirs = new_sid(), h.record(LONG, user="bob", by="them")
        loaded = await written(h, sid, h.record(LONG, user="bob"))
        await h.store.set(sid, theirs)  # a concurrent writer
        assert await h.store.set_if(sid, h.record(LONG, by="me"), loaded.version) is False
        assert as_json(await h.store.get(sid)) == as_json(theirs)

    @_scenario
    async def test_set_if_does_not_recreate_a_destroyed_record(self, h: Harness) -> None:
        """No resurrection: a logout racing a slow request stays a logout."""
        h.store.require("get_versioned", "set_if")
        sid = new_sid()
        loaded = await written(h, sid, h.record(LONG, user="bob"))
        await h.store.destroy(sid)
        assert await h.store.set_if(sid, h.record(LONG, user="bob"), loaded.version) is False
        assert await h.store.get(sid) is None

    @_scenario
    async def test_set_if_does_not_revive_an_expired_record(self, h: Harness) -> None:
        h.store.require("get_versioned", "set_if")
        sid = new_sid()
        loaded = await written(h, sid, h.record(h.short, user="bob"))
        await h.pass_time(h.short * 2)
        assert await h.store.set_if(sid, h.record(LONG, user="bob"), loaded.version) is False
        assert await h.store.get(sid) is None

    @_scenario
    async def test_set_if_none_creates_only_when_absent(self, h: Harness) -> None:
        h.store.require("set_if")
        sid, first = new_sid(), h.record(LONG, user="bob")
        assert await h.store.set_if(sid, first, None) is True
        assert as_json(await h.store.get(sid)) == as_json(first)
        assert await h.store.set_if(sid, h.record(LONG, user="eve"), None) is False
        assert as_json(await h.store.get(sid)) == as_json(first)

    @_scenario
    async def test_set_if_none_replaces_an_expired_record(self, h: Harness) -> None:
        h.store.require("set_if")
        sid, fresh = await expired(h, user="old"), h.record(LONG, user="new")
        assert await h.store.set_if(sid, fresh, None) is True
        assert as_json(await h.store.get(sid)) == as_json(fresh)

    @_scenario
    async def test_set_if_rejects_a_bad_record_and_writes_nothing(self, h: Harness) -> None:
        h.store.require("set_if")
        sid = new_sid()
        with pytest.raises(InvalidRecordError):
            await h.store.set_if(sid, h.record(LONG, bad={1, 2}), None)
        assert await h.store.get(sid) is None

    @_scenario
    async def test_concurrent_creators_only_one_wins(self, h: Harness) -> None:
        """``set_if(None)`` is atomic: of 20 racing creators of one id exactly one writes."""
        h.store.require("set_if")
        sid, wins = new_sid(), []

        async def create(n: int) -> None:
            if await h.store.set_if(sid, h.record(LONG, writer=n), None):
                wins.append(n)

        await h.concurrently([partial(create, n) for n in range(20)])
        assert len(wins) == 1, f"{len(wins)} creators wrote"
        got = await h.store.get(sid)
        assert got is not None
        assert got["writer"] == wins[0]

    # -- concurrency capabilities: locks ---------------------------------------------------------

    @_scenario
    async def test_lock_excludes_a_second_holder(self, h: Harness) -> None:
        h.store.require("lock", "unlock")
        sid, token = await locked(h)
        assert await h.store.lock(sid, LONG) is None
        assert await h.store.lock(new_sid(), LONG), "a lock of one id blocked another id"
        await h.store.unlock(sid, token)
        again = await h.store.lock(sid, LONG)
        assert again, "a released lock must be free"
        assert again != token, "a new holder must get a fresh token"

    @_scenario
    async def test_lock_expires_after_its_ttl(self, h: Harness) -> None:
        """A crashed holder blocks the session only until the lock's TTL runs out."""
        h.store.require("lock")
        sid = new_sid()
        assert await h.store.lock(sid, h.short)
        await h.pass_time(h.short * 2)
        assert await h.store.lock(sid, LONG), "the lock outlived its TTL"

    @_scenario
    async def test_unlock_by_a_non_holder_does_nothing(self, h: Harness) -> None:
        h.store.require("lock", "unlock")
        sid, token = await locked(h)
        await h.store.unlock(sid, token + "x")
        await h.store.unlock(sid, new_sid())
        assert await h.store.lock(sid, LONG) is None, "a non-holder released the lock"
        await h.store.unlock(new_sid(), token)  # an unlocked id: not an error

    @_scenario
    async def test_unlock_after_expiry_does_not_release_the_next_holder(self, h: Harness) -> None:
        h.store.require("lock", "unlock")
        sid = new_sid()
        stale = await h.store.lock(sid, h.short)
        assert stale
        await h.pass_time(h.short * 2)
        assert await h.store.lock(sid, LONG)
        await h.store.unlock(sid, stale)
        assert await h.store.lock(sid, LONG) is None, "a stale token released another's lock"

    @_scenario
    async def test_unlock_with_touch_refreshes_the_expiry(self, h: Harness) -> None:
        h.store.require("lock", "unlock")
        sid, original = new_sid(), h.record(h.short, user="bob")
        await h.store.set(sid, original)
        token = await h.store.lock(sid, LONG)
        assert token
        await h.store.unlock(sid, token, touch=h.record(LONG, user="ignored"))
        assert await h.store.lock(sid, LONG), "unlock(touch=) did not release the lock"
        await h.pass_time(h.short * 2)
        got = await h.store.get(sid)
        assert got is not None, "unlock(touch=) did not extend the session's life"
        assert as_json(user_data(got)) == as_json(user_data(original))

    @_scenario
    async def test_unlock_with_touch_does_not_create_a_record(self, h: Harness) -> None:
        h.store.require("lock", "unlock")
        sid, token = await locked(h)
        await h.store.unlock(sid, token, touch=h.record(LONG, user="bob"))
        assert await h.store.get(sid) is None

    @_scenario
    async def test_set_if_with_unlock_releases_the_lock(self, h: Harness) -> None:
        """``set_if(..., unlock=token)`` releases the lock whether or not it wrote."""
        h.store.require("set_if", "lock")
        sid, record = new_sid(), h.record(LONG, user="bob")
        token = await h.store.lock(sid, LONG)
        assert token
        assert await h.store.set_if(sid, record, None, unlock=token) is True
        assert as_json(await h.store.get(sid)) == as_json(record)
        token = await h.store.lock(sid, LONG)
        assert token, "set_if(unlock=) did not release the lock"
        assert await h.store.set_if(sid, record, None, unlock=token) is False
        assert await h.store.lock(sid, LONG), "a refused set_if(unlock=) kept the lock"

    @_scenario
    async def test_set_if_unlock_by_a_non_holder_keeps_the_lock(self, h: Harness) -> None:
        h.store.require("set_if", "lock")
        sid = new_sid()
        assert await h.store.lock(sid, LONG)
        await h.store.set_if(sid, h.record(LONG), None, unlock=new_sid())
        assert await h.store.lock(sid, LONG) is None

    @_scenario
    async def test_get_locked_locks_and_reads_at_once(self, h: Harness) -> None:
        h.store.require("get_locked", "unlock")
        sid, record = new_sid(), h.record(LONG, user="bob")
        await h.store.set(sid, record)
        token, found = await h.store.get_locked(sid, LONG)
        assert token
        assert found is not None
        assert as_json(found.record) == as_json(record)
        assert await h.store.get_locked(sid, LONG) == (None, None), "held: no token, no record"
        await h.store.unlock(sid, token)
        missing = new_sid()
        token, found = await h.store.get_locked(missing, LONG)
        assert token, "a missing record is still lockable"
        assert found is None

    @_scenario
    async def test_get_locked_version_is_get_versioned_version(self, h: Harness) -> None:
        h.store.require("get_locked", "get_versioned")
        sid = new_sid()
        await h.store.set(sid, h.record(LONG, user="bob"))
        plain = await h.store.get_versioned(sid)
        _, held = await h.store.get_locked(sid, LONG)
        assert plain is not None
        assert held is not None
        assert plain.version == held.version

    @_scenario
    async def test_concurrent_lockers_only_one_wins(self, h: Harness) -> None:
        h.store.require("lock")
        sid, tokens = new_sid(), []

        async def take() -> None:
            if token := await h.store.lock(sid, LONG):
                tokens.append(token)

        await h.concurrently([take for _ in range(20)])
        assert len(tokens) == 1, f"{len(tokens)} holders of one lock"
