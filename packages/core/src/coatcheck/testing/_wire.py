"""The store contract's rules on what is stored: the bytes a Node store writes
(``JSON.stringify``'s text, through the ``raw_get``/``raw_set`` hooks) and the records no store
may write (not JSON, no ``cookie``). Mixed into ``StoreContract`` and ``AsyncStoreContract``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import pytest

from .._errors import InvalidRecordError
from ..stores._codec import encode_record
from ._harness import LONG, Harness, scenario
from ._records import EXPRESS_SAMPLES, retime
from ._steps import as_json, new_sid, written

_scenario = scenario

#: How far ahead of the clock the wire samples' expiry is moved (their own lifetime is 60 s).
_AHEAD = timedelta(hours=1)


class WireContract:
    """The stored-bytes and bad-record rules; see the module docstring."""

    #: JSON texts as a Node store writes them (``raw_get``/``raw_set`` hooks): by default what
    #: express-session hands every store; a store with its own wire format (connect-redis ...)
    #: may give fixtures of it. Their ``cookie.expires`` are moved to the test's clock.
    wire_samples: ClassVar[Sequence[str]] = EXPRESS_SAMPLES

    # -- the stored bytes (raw_get / raw_set hooks) ---------------------------------------------

    def _samples(self, h: Harness) -> list[str]:
        return [retime(sample, h.clock() + _AHEAD) for sample in self.wire_samples]

    @_scenario
    async def test_raw_bytes_are_what_node_stores(self, h: Harness) -> None:
        """A record set through the store is stored as the Node store would store it: exactly
        ``JSON.stringify``'s text (compact, key order, non-ASCII as is, UTF-8)."""
        h.store.require("raw_get")
        for text in self._samples(h):
            sid = new_sid()
            await h.store.set(sid, json.loads(text))
            assert await h.store.raw_get(sid) == text.encode("utf-8")
        assert await h.store.raw_get(new_sid()) is None

    @_scenario
    async def test_raw_bytes_follow_writes(self, h: Harness) -> None:
        h.store.require("raw_get")
        sid, first, second = new_sid(), h.record(LONG, n=1), h.record(LONG, n=2, more=[1])
        await h.store.set(sid, first)
        assert json.loads(await h.store.raw_get(sid) or b"null") == first
        await h.store.set(sid, second)
        assert json.loads(await h.store.raw_get(sid) or b"null") == second
        await h.store.destroy(sid)
        assert await h.store.raw_get(sid) is None

    @_scenario
    async def test_reads_what_node_stores(self, h: Harness) -> None:
        """Bytes written as a Node store writes them read back as that record, key order kept."""
        h.store.require("raw_set")
        for text in self._samples(h):
            sid = new_sid()
            await h.store.raw_set(sid, text.encode("utf-8"))
            assert as_json(await h.store.get(sid)) == as_json(json.loads(text))
            if h.store.has("raw_get"):
                assert await h.store.raw_get(sid) == text.encode("utf-8")

    @_scenario
    async def test_a_node_write_changes_the_version(self, h: Harness) -> None:
        h.store.require("raw_set", "get_versioned", "set_if")
        sid = new_sid()
        loaded = await written(h, sid, h.record(LONG, n=1))
        await h.store.raw_set(sid, encode_record(h.record(LONG, n=1, node=True)).encode())
        assert await h.store.set_if(sid, h.record(LONG, n=2), loaded.version) is False

    @_scenario
    async def test_unreadable_bytes_read_as_missing(self, h: Harness) -> None:
        """Garbage under an id (a foreign writer, a truncated value) reads as no session."""
        h.store.require("raw_set")
        for garbage in (b"not json", b'{"user":"bob"}', b"[1,2]", b'{"cookie":'):
            sid = new_sid()
            try:
                await h.store.raw_set(sid, garbage)
            except Exception:
                continue
            assert await h.store.get(sid) is None

    # -- bad records ----------------------------------------------------------------------------

    @_scenario
    async def test_unserialisable_record_is_rejected_and_nothing_written(self, h: Harness) -> None:
        sid, fresh, original = new_sid(), new_sid(), h.record(LONG, user="bob")
        await h.store.set(sid, original)
        for bad in ({1, 2}, object(), {"deep": [b"bytes"]}):
            for target in (sid, fresh):
                with pytest.raises(InvalidRecordError):
                    await h.store.set(target, h.record(LONG, user="eve", bad=bad))
        assert await h.store.get(sid) == original
        assert await h.store.get(fresh) is None

    @_scenario
    async def test_nan_and_infinity_are_rejected(self, h: Harness) -> None:
        """Node's ``JSON.parse`` cannot read ``NaN``/``Infinity``: never store them."""
        sid = new_sid()
        for bad in (math.nan, math.inf, -math.inf, {"deep": [math.nan]}):
            with pytest.raises(InvalidRecordError):
                await h.store.set(sid, h.record(LONG, bad=bad))
        assert await h.store.get(sid) is None

    @_scenario
    async def test_lone_surrogate_round_trips_or_is_rejected(self, h: Harness) -> None:
        """``JSON.stringify`` writes lone surrogates as ``\\udXXX`` escapes; a store either keeps
        them or refuses the record with ``InvalidRecordError`` — it never crashes."""
        sid, record = new_sid(), h.record(LONG, half="a\ud83db", low="\udc00", ok="🎟️")
        try:
            await h.store.set(sid, record)
        except InvalidRecordError:
            assert await h.store.get(sid) is None
        else:
            assert await h.store.get(sid) == record
        await h.store.set(other := new_sid(), h.record(LONG, user="bob"))
        assert await h.store.get(other) is not None

    @_scenario
    async def test_record_without_cookie_is_rejected(self, h: Harness) -> None:
        sid = new_sid()
        for bad in ({"user": "bob"}, {"cookie": "s:abc", "user": "bob"}, {"cookie": None}):
            with pytest.raises(InvalidRecordError):
                await h.store.set(sid, bad)
        assert await h.store.get(sid) is None
