"""The store contract's lifetime rules (DESIGN "Lifetimes and ids at rest"), one block.

``max_lifetime`` only holds if a store honours the expiry it is given exactly (to the
millisecond) and never lets a record outlive the absolute deadline coatcheck stores in the
record (``"_coatcheck": {"deadline": ms}``, read by ``coatcheck.stores.expires_at``), even when a
touch brings a later cookie expiry. ``touch_after`` only saves round trips if the store reports
the record's expiry with the read, and only expires sessions on time if that report is true.

Mixed into ``StoreContract`` and ``AsyncStoreContract``; class attributes: the contract's
``expiry_resolution`` (seconds a store rounds ``cookie.expires`` up, 1.0 for connect-pg-simple's
whole seconds; deadlines are never rounded) and ``reports_expiry = True`` (``get_versioned``'s
``expires_at`` is the store's own expiry; a store with ``get_with_expiry`` always claims it).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from ._harness import HALF_DAY, LONG, Harness, scenario
from ._steps import new_sid

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
#: How far a store on a real server clock may report an expiry early (the read's own latency).
_REAL_TIME_SLACK = timedelta(seconds=1)


def _with_deadline(record: dict[str, Any], created: datetime, deadline: datetime) -> dict[str, Any]:
    """``record`` with coatcheck's reserved object, as ``max_lifetime`` writes it."""
    meta = {"created": (created - _EPOCH) // _MS, "deadline": (deadline - _EPOCH) // _MS}
    return {"cookie": record["cookie"], "_coatcheck": meta, **record}


class LifetimeContract:
    """The lifetime rules; see the module docstring."""

    expiry_resolution: ClassVar[float] = 0.0  # the contract's own, see its docstring
    reports_expiry: ClassVar[bool] = False

    async def _reported(self, h: Harness, sid: str) -> tuple[bool, datetime | None]:
        """``(found, expires_at)`` from the store's expiry-reporting read (skip without one)."""
        if h.store.has("get_with_expiry"):
            found = await h.store.get_with_expiry(sid)
            return (False, None) if found is None else (True, found[1])
        if not self.reports_expiry:
            pytest.skip("store does not report expiry (no get_with_expiry, reports_expiry unset)")
        h.store.require("get_versioned")
        versioned = await h.store.get_versioned(sid)
        return (False, None) if versioned is None else (True, versioned.expires_at)

    def _check_reported(self, h: Harness, reported: datetime | None, expected: datetime) -> None:
        assert reported is not None, f"no expiry reported; the record expires at {expected}"
        late = (reported - expected).total_seconds()
        assert late <= self.expiry_resolution, f"reported {reported}, later than {expected}"
        slack = _REAL_TIME_SLACK if h.real_time else timedelta(0)
        assert reported >= expected - slack, f"reported {reported}, before {expected}"

    # -- the expiry given, to the millisecond --------------------------------------------------

    @scenario
    async def test_expiry_is_honoured_to_the_millisecond(self, h: Harness) -> None:
        """Alive 1 ms before ``cookie.expires``, gone at it (plus ``expiry_resolution`` for a
        store that rounds up)."""
        if h.real_time:
            pytest.skip("a server's clock cannot be stepped by a millisecond (see reports test)")
        sid, record = new_sid(), h.record(h.short + 0.001, user="bob")
        await h.store.set(sid, record)
        await h.pass_time(h.short)
        assert await h.store.get(sid) == record, "expired before cookie.expires"
        await h.pass_time(max(0.001, self.expiry_resolution))
        assert await h.store.get(sid) is None, "still there after cookie.expires"

    @scenario
    async def test_the_absolute_deadline_caps_the_expiry(self, h: Harness) -> None:
        """A record whose cookie lives an hour but whose ``max_lifetime`` deadline comes first
        dies at the deadline, exactly: deadlines are never rounded."""
        now = h.clock()
        deadline = now + timedelta(seconds=h.short) + _MS
        sid = new_sid()
        record = _with_deadline(h.record(LONG, user="bob"), now, deadline)
        await h.store.set(sid, record)
        if not h.real_time:
            await h.pass_time(h.short)
            assert await h.store.get(sid) == record, "expired before the deadline"
            await h.pass_time(0.001)
        else:
            assert await h.store.get(sid) == record
            await h.pass_time(h.short * 2)
        assert await h.store.get(sid) is None, "a record outlived its absolute deadline"

    @scenario
    async def test_a_touch_never_extends_past_the_deadline(self, h: Harness) -> None:
        h.store.require("touch")
        now = h.clock()
        deadline = now + timedelta(seconds=h.short) + _MS
        sid = new_sid()
        await h.store.set(sid, _with_deadline(h.record(h.short / 2, user="bob"), now, deadline))
        await h.store.touch(sid, _with_deadline(h.record(LONG, user="bob"), now, deadline))
        await h.pass_time(h.short / 2 + 0.01)
        assert await h.store.get(sid) is not None, "the touch did not extend the cookie's life"
        await h.pass_time(h.short)
        assert await h.store.get(sid) is None, "a touch extended a record past its deadline"

    @scenario
    async def test_a_browser_session_record_dies_at_its_deadline(self, h: Harness) -> None:
        now = h.clock()
        deadline = now + timedelta(seconds=h.short)
        sid = new_sid()
        await h.store.set(sid, _with_deadline(h.record(None, user="bob"), now, deadline))
        assert await h.store.get(sid) is not None
        await h.pass_time(h.short * 2)
        assert await h.store.get(sid) is None, "a browser-session record outlived its deadline"

    # -- the expiry reported with the read (touch_after) ---------------------------------------

    @scenario
    async def test_the_read_reports_the_stored_expiry(self, h: Harness) -> None:
        sid = new_sid()
        record = h.record(LONG + 0.001, user="bob")
        await h.store.set(sid, record)
        found, reported = await self._reported(h, sid)
        assert found
        self._check_reported(h, reported, h.clock() + timedelta(seconds=LONG + 0.001))
        assert await self._reported(h, new_sid()) == (False, None)

    @scenario
    async def test_the_reported_expiry_follows_a_touch(self, h: Harness) -> None:
        h.store.require("touch")
        sid = new_sid()
        await h.store.set(sid, h.record(h.short, user="bob"))
        await self._reported(h, sid)  # skips before touching when nothing is reported
        await h.store.touch(sid, h.record(LONG, user="bob"))
        _, reported = await self._reported(h, sid)
        self._check_reported(h, reported, h.clock() + timedelta(seconds=LONG))

    @scenario
    async def test_the_reported_expiry_is_the_deadline_when_it_comes_first(
        self, h: Harness
    ) -> None:
        now = h.clock()
        deadline = now + timedelta(seconds=h.short * 10) + _MS
        sid = new_sid()
        await h.store.set(sid, _with_deadline(h.record(LONG, user="bob"), now, deadline))
        _, reported = await self._reported(h, sid)
        assert reported is not None
        assert reported <= deadline, f"reported {reported}, past the deadline {deadline}"
        self._check_reported(h, reported, deadline)

    @scenario
    async def test_a_browser_session_record_reports_none_or_a_default_lifetime(
        self, h: Harness
    ) -> None:
        """``None`` (kept until destroyed) or a store default of at least half a day."""
        sid = new_sid()
        await h.store.set(sid, h.record(None, user="bob"))
        found, reported = await self._reported(h, sid)
        assert found
        if reported is not None:
            assert reported >= h.clock() + timedelta(seconds=HALF_DAY)
