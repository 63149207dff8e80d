"""``coatcheck.testing.stateful``: a Hypothesis state machine checking a store against a model.

The same random operations (set, get, destroy, touch, all, length, the concurrency
capabilities) and clock advances go to the store under test and to a ``MemoryStore`` (the
model); every answer must agree. Versions and lock tokens are opaque, so the machine pairs the
store's with the model's as they are handed out and uses each pair in both. Imports Hypothesis:
use it from tests only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from ..stores.memory import MemoryStore
from ._clock import FakeClock
from ._records import make_record

#: A few ids, so operations keep hitting the same sessions.
IDS = ("sid-a", "sid-b", "sid-C", "sid-c")
#: Record lifetimes (s): browser session, already expired, a minute, an hour.
LIFETIMES = (None, -1.0, 60.0, 3600.0)
#: Clock steps (s): around a minute's boundary, an hour, a day.
STEPS = (1.0, 59.0, 60.0, 61.0, 3600.0, 86400.0)


def _same(got: Any, expected: Any) -> bool:
    """Order-sensitive equality of JSON values (dict ``==`` ignores key order)."""
    return json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def _user_data(record: dict[str, Any] | None) -> Any:
    return None if record is None else {k: v for k, v in record.items() if k != "cookie"}


def store_state_machine(
    make_store: Callable[[FakeClock], Any],
    *,
    real_time: bool = False,
    touch_updates_stored_cookie: bool = True,
    browser_session_ttl: float | None = 86400.0,
    locks: bool = True,
    teardown: Callable[[Any], None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A state machine class for the sync store ``make_store(clock)`` builds (fresh and empty).

    ``real_time``: the store's server enforces expiry on its own clock (Redis): the machine
    then never advances the clock and uses lifetimes far from any boundary. Records the store
    keeps without ``cookie.expires`` live ``browser_session_ttl`` seconds (``None``: forever).
    ``locks=False`` leaves out the lock rules. ``teardown(store)`` runs after each example.
    """
    lifetimes = tuple(x for x in LIFETIMES if not (real_time and x == 60.0))

    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # A whole second, so stores keeping whole seconds (connect-pg-simple) agree exactly.
            now = datetime.now(timezone.utc).replace(microsecond=0)
            self.clock = FakeClock(now)
            self.store = make_store(self.clock)
            self.model = MemoryStore(
                clock=self.clock, max_sessions=None, browser_session_ttl=browser_session_ttl
            )
            self.writes = 0
            self.touched: set[str] = set()  # touched since the last write (non-updating touch)
            self.versions: list[tuple[str, str, str]] = []  # (sid, store's, model's)
            self.tokens: list[tuple[str, str, str]] = []

        def teardown(self) -> None:
            try:
                for sid in IDS:  # a last comparison (no invariant after each step: a read
                    # deletes expired entries, which would hide storage and length bugs)
                    self.check_get(sid, self.store.get(sid), self.model.get(sid))
            finally:
                if teardown is not None:
                    teardown(self.store)

        def has(self, method: str) -> bool:
            if not locks and method in ("lock", "unlock", "get_locked"):
                return False
            return callable(getattr(self.store, method, None))

        def record(self, life: float | None) -> dict[str, Any]:
            self.writes += 1
            return make_record(self.clock(), life, n=self.writes)

        def wrote(self, sid: str) -> None:
            self.touched.discard(sid)

        def check_get(self, sid: str, got: Any, expected: Any) -> None:
            if sid in self.touched and expected is not None and got is not None:
                assert _same(_user_data(got), _user_data(expected)), (sid, got, expected)
            else:
                assert _same(got, expected), (sid, got, expected)

        def remember(self, store_list: list[tuple[str, str, str]], item: Any) -> None:
            store_list.append(item)
            del store_list[:-6]

        def follow_versions(self, sid: str) -> None:
            """After a touch, a store version still current maps to the model's current one."""
            current = self.store.get_versioned(sid) if self.has("get_versioned") else None
            model = self.model.get_versioned(sid)
            if current is None or model is None:
                return
            self.versions = [
                (s, v, model.version if s == sid and v == current.version else m)
                for s, v, m in self.versions
            ]

        # -- the store contract ---------------------------------------------------------------

        @rule(sid=st.sampled_from(IDS), life=st.sampled_from(lifetimes))
        def set(self, sid: str, life: float | None) -> None:
            record = self.record(life)
            self.store.set(sid, record)
            self.model.set(sid, record)
            self.wrote(sid)

        @rule(sid=st.sampled_from(IDS))
        def get(self, sid: str) -> None:
            self.check_get(sid, self.store.get(sid), self.model.get(sid))

        @rule(sid=st.sampled_from(IDS))
        def destroy(self, sid: str) -> None:
            self.store.destroy(sid)
            self.model.destroy(sid)
            self.wrote(sid)

        @precondition(lambda self: self.has("touch"))
        @rule(sid=st.sampled_from(IDS), life=st.sampled_from(lifetimes))
        def touch(self, sid: str, life: float | None) -> None:
            record = self.record(life)
            self.store.touch(sid, record)
            self.model.touch(sid, record)
            if not touch_updates_stored_cookie:
                self.touched.add(sid)
            self.follow_versions(sid)

        @precondition(lambda self: not real_time)
        @rule(seconds=st.sampled_from(STEPS))
        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @precondition(lambda self: self.has("length"))
        @rule()
        def length(self) -> None:
            assert self.store.length() == self.model.length()

        @precondition(lambda self: self.has("all"))
        @rule()
        def all(self) -> None:
            got, expected = self.store.all(), self.model.all()
            assert sorted(got) == sorted(expected)
            for sid, record in expected.items():
                self.check_get(sid, got[sid], record)

        # -- concurrency capabilities -----------------------------------------------------------

        @precondition(lambda self: self.has("get_versioned"))
        @rule(sid=st.sampled_from(IDS))
        def get_versioned(self, sid: str) -> None:
            got, expected = self.store.get_versioned(sid), self.model.get_versioned(sid)
            assert (got is None) == (expected is None), (sid, got, expected)
            if got is not None and expected is not None:
                self.check_get(sid, got[0], expected.record)
                self.remember(self.versions, (sid, got[1], expected.version))

        @precondition(lambda self: self.has("set_if"))
        @rule(data=st.data(), sid=st.sampled_from(IDS), life=st.sampled_from(lifetimes))
        def set_if(self, data: st.DataObject, sid: str, life: float | None) -> None:
            known = [(v, m) for s, v, m in self.versions if s == sid]
            choice = data.draw(st.sampled_from([None, *known]))
            token = None
            use_token: bool = data.draw(st.booleans())
            if self.tokens and use_token and locks:
                _, token, model_token = data.draw(st.sampled_from(self.tokens))
            record = self.record(life)
            store_version, model_version = choice if choice is not None else (None, None)
            wrote = self.store.set_if(sid, record, store_version, unlock=token)
            expected = self.model.set_if(
                sid, record, model_version, unlock=None if token is None else model_token
            )
            assert wrote == expected, (sid, choice, wrote)
            if wrote:
                self.wrote(sid)

        @precondition(lambda self: self.has("lock"))
        @rule(sid=st.sampled_from(IDS), ttl=st.sampled_from((30.0, 3600.0)))
        def lock(self, sid: str, ttl: float) -> None:
            ttl = 3600.0 if real_time else ttl
            got, expected = self.store.lock(sid, ttl), self.model.lock(sid, ttl)
            assert (got is None) == (expected is None), (sid, got, expected)
            if got is not None and expected is not None:
                self.remember(self.tokens, (sid, got, expected))

        @precondition(lambda self: self.has("unlock") and bool(self.tokens))
        @rule(data=st.data(), life=st.sampled_from((None, *lifetimes)))
        def unlock(self, data: st.DataObject, life: float | None) -> None:
            sid, token, model_token = data.draw(st.sampled_from(self.tokens))
            touch = None if data.draw(st.booleans()) else self.record(life)
            self.store.unlock(sid, token, touch=touch)
            self.model.unlock(sid, model_token, touch=touch)
            if touch is not None:
                if not touch_updates_stored_cookie:
                    self.touched.add(sid)
                self.follow_versions(sid)

        @precondition(lambda self: self.has("get_locked"))
        @rule(sid=st.sampled_from(IDS))
        def get_locked(self, sid: str) -> None:
            token, got = self.store.get_locked(sid, 3600.0)
            model_token, expected = self.model.get_locked(sid, 3600.0)
            assert (token is None) == (model_token is None), (sid, token, model_token)
            assert (got is None) == (expected is None), (sid, got, expected)
            if token is not None and model_token is not None:
                self.remember(self.tokens, (sid, token, model_token))
            if got is not None and expected is not None:
                self.check_get(sid, got[0], expected.record)
                self.remember(self.versions, (sid, got[1], expected.version))

    return StoreMachine
