"""Mutation testing of the contract suite: ~45 subtly broken stores, each must be killed.

Every mutant is a ``MemoryStore`` subclass (or a thin async wrapper) with one realistic bug:
the kind a store author writes by accident. ``run_contract`` runs every test of the contract
suite against it in-process, on the fake clock (no pytest collection, no I/O), and the tests
below assert that at least one contract test fails for each mutant, and none for the controls
(correct stores, including one using express's ENOENT rule). ``python -m
tests.stores.test_contract_mutants`` prints the table (mutant -> killing tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from coatcheck._errors import InvalidRecordError
from coatcheck.stores import MemoryStore, to_async
from coatcheck.stores._codec import encode_record, validate_record
from coatcheck.stores._protocol import Record, Versioned
from coatcheck.testing import AsyncStoreContract, FakeClock, StoreContract
from coatcheck.testing._harness import in_time_zone

Factory = Callable[[FakeClock], Any]


# -- the mutants ------------------------------------------------------------------------------


def _dumps(record: Mapping[str, Any], **options: Any) -> str:
    """``json.dumps`` with the suite's error contract, so each mutant keeps one bug only."""
    validate_record(record)
    options = {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False, **options}
    try:
        return json.dumps(record, **options)
    except (TypeError, ValueError) as exc:
        raise InvalidRecordError(str(exc)) from exc


class _Writes(MemoryStore):
    """Helpers for mutants that replace how ``set`` encodes or decides."""

    def _store_text(self, sid: str, text: str, record: Mapping[str, Any]) -> None:
        with self._lock:
            now = self._now()
            self._prune(now, 8)
            self._write(sid, text, self._expiry(record, now), now)


class SortedKeys(_Writes):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._store_text(sid, _dumps(record, sort_keys=True), record)


class AsciiEscapes(_Writes):
    """Round-trips fine; only the stored bytes differ from ``JSON.stringify``'s."""

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._store_text(sid, _dumps(record, ensure_ascii=True), record)


class SpacedJson(_Writes):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._store_text(sid, _dumps(record, separators=None), record)


class AcceptsNaN(_Writes):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._store_text(sid, _dumps(record, allow_nan=True), record)


class SurrogateCrash(_Writes):
    """Stores UTF-8 bytes without escaping lone surrogates first: UnicodeEncodeError."""

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        text = _dumps(record)  # lone surrogates left as they are: not valid UTF-8
        self._store_text(sid, text.encode("utf-8").decode("utf-8"), record)


class AcceptsAnything(_Writes):
    """``default=str``: sets, objects and bytes are stored as their repr."""

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._store_text(sid, _dumps(record, default=str), record)


class NoValidation(_Writes):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        try:
            text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidRecordError(str(exc)) from exc
        cookie = record.get("cookie") if isinstance(record, Mapping) else None
        self._store_text(sid, text, record if isinstance(cookie, Mapping) else {})


class DestroysBeforeValidating(MemoryStore):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self.destroy(sid)
        super().set(sid, record)


class TruncatesLargeValues(_Writes):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        text = encode_record(record)
        if len(text) > 65_536:  # "too big": silently keep only the cookie
            text = encode_record({"cookie": record["cookie"]})
        self._store_text(sid, text, record)


class DropsEmptyValues(MemoryStore):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        super().set(sid, {k: v for k, v in record.items() if v not in ({}, [], "", 0)})


class SetMerges(MemoryStore):
    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        old = self.get(sid) or {}
        super().set(sid, {**old, **record})


class SharesReturnedRecord(MemoryStore):
    """Caches decoded records and hands out the cached object."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache: dict[str, Record] = {}

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        super().set(sid, record)
        self._cache.pop(sid, None)

    def get(self, sid: str) -> Record | None:
        if sid not in self._cache:
            found = super().get(sid)
            if found is None:
                return None
            self._cache[sid] = found
        return self._cache[sid] if super().get(sid) is not None else None


class KeepsArgument(MemoryStore):
    """Keeps the caller's dict and serialises it on every read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._objects: dict[str, Mapping[str, Any]] = {}

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        super().set(sid, record)
        self._objects[sid] = record

    def get(self, sid: str) -> Record | None:
        if super().get(sid) is None:
            return None
        return json.loads(encode_record(self._objects[sid])) if sid in self._objects else None


class DestroyDoesNothing(MemoryStore):
    def destroy(self, sid: str) -> None:
        pass


class DestroyClearsAll(MemoryStore):
    def destroy(self, sid: str) -> None:
        self.clear()


class DestroyUnknownRaises(MemoryStore):
    def destroy(self, sid: str) -> None:
        if sid not in self._entries:
            raise KeyError(sid)
        super().destroy(sid)


class ExpiryOffByOne(MemoryStore):
    """Alive at ``expires == now`` (``<`` where express has ``<=``)."""

    @staticmethod
    def _due(entry: Any, now: datetime) -> bool:
        return entry.expires is None or entry.expires >= now


class ExpiresASecondEarly(MemoryStore):
    @staticmethod
    def _due(entry: Any, now: datetime) -> bool:
        return entry.expires is None or entry.expires - timedelta(seconds=1) > now


class IgnoresExpiry(MemoryStore):
    @staticmethod
    def _due(entry: Any, now: datetime) -> bool:
        return True

    def _prune(self, now: datetime, budget: int) -> None:
        pass


class NaiveLocalExpiry(MemoryStore):
    """Parses ``expires`` without its ``Z`` and lets ``astimezone`` assume local time."""

    def _expiry(self, record: Mapping[str, Any], now: datetime) -> datetime | None:
        expires = record.get("cookie", {}).get("expires")
        if expires is None:
            return super()._expiry(record, now)
        return datetime.fromisoformat(expires.rstrip("Z")).astimezone(timezone.utc)


class NeverDeletesExpired(MemoryStore):
    """Hides expired records but never frees them: storage grows forever."""

    def _remove(self, sid: str) -> None:
        entry = self._entries.get(sid)
        if entry is not None and entry.expires is not None and entry.expires <= self._now():
            return
        super()._remove(sid)

    def _live(self, sid: str, now: datetime) -> Any:
        entry = self._entries.get(sid)
        return entry if entry is not None and self._due(entry, now) else None


def short_browser_lifetime(clock: FakeClock) -> MemoryStore:
    """Browser-session records kept 13 hours where one day is documented."""
    return MemoryStore(clock=clock, browser_session_ttl=13 * 3600)


class TouchRewritesData(MemoryStore):
    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        if self.get(sid) is not None:
            self.set(sid, record)


class TouchDoesNothing(MemoryStore):
    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        validate_record(record)


class TouchCreates(MemoryStore):
    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        if self.get(sid) is None:
            self.set(sid, record)
        else:
            super().touch(sid, record)


class TouchRevives(MemoryStore):
    """Touch looks at the raw entry, expired or not."""

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        raw = self.raw_get(sid)
        if raw is None:
            return
        stored = json.loads(raw)
        stored["cookie"] = record["cookie"]
        self.set(sid, stored)


class AllIncludesExpired(MemoryStore):
    def all(self) -> dict[str, Record]:
        return {sid: json.loads(e.text) for sid, e in self._entries.items()}


class LengthCountsExpired(MemoryStore):
    def length(self) -> int:
        return len(self._entries)


class ClearKeepsBrowserSessions(MemoryStore):
    """Clears what has an expiry; ``expires: null`` records are "not ours" and stay."""

    def clear(self) -> None:
        with self._lock:
            for sid, entry in list(self._entries.items()):
                if json.loads(entry.text)["cookie"].get("expires") is not None:
                    self._remove(sid)


class _MapsIds(MemoryStore):
    """Every public method sees ``key(sid)`` instead of ``sid``."""

    def key(self, sid: str) -> str:
        raise NotImplementedError

    def get(self, sid: str) -> Record | None:
        return super().get(self.key(sid))

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        super().set(self.key(sid), record)

    def destroy(self, sid: str) -> None:
        super().destroy(self.key(sid))

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        super().touch(self.key(sid), record)

    def get_versioned(self, sid: str) -> Versioned | None:
        return super().get_versioned(self.key(sid))

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        return super().set_if(self.key(sid), record, version, unlock=unlock)

    def raw_get(self, sid: str) -> bytes | None:
        return super().raw_get(self.key(sid))

    def raw_set(self, sid: str, data: bytes) -> None:
        super().raw_set(self.key(sid), data)


class CaseInsensitiveIds(_MapsIds):
    def key(self, sid: str) -> str:
        return sid.lower()


class TruncatesIds(_MapsIds):
    """A column or file name limit of 255 characters."""

    def key(self, sid: str) -> str:
        return sid[:255]


class RefusesLongIds(_MapsIds):
    def key(self, sid: str) -> str:
        if len(sid) > 255:
            raise ValueError("id too long")
        return sid


class BasenameIds(_MapsIds):
    """A file-backed store that "sanitises" ids with ``os.path.basename``."""

    def key(self, sid: str) -> str:
        return os.path.basename(sid) or sid


class RacySet(MemoryStore):
    """Copy-on-write of the whole map without the lock: concurrent writers lose entries."""

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        text = encode_record(record)
        snapshot = self._entries.copy()
        time.sleep(0.002)
        self._entries = snapshot
        with self._lock:
            now = self._now()
            self._write(sid, text, self._expiry(record, now), now)


class SetIfIgnoresVersion(MemoryStore):
    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        if version is None:
            return super().set_if(sid, record, None, unlock=unlock)
        self.set(sid, record)
        if unlock is not None:
            self.unlock(sid, unlock)
        return True


class SetIfResurrects(MemoryStore):
    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        if version is not None and self.get(sid) is None:
            self.set(sid, record)
            return True
        return super().set_if(sid, record, version, unlock=unlock)


class SetIfNoneOverwrites(MemoryStore):
    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        if version is None:
            self.set(sid, record)
            if unlock is not None:
                self.unlock(sid, unlock)
            return True
        return super().set_if(sid, record, version, unlock=unlock)


class SetIfNotAtomic(MemoryStore):
    """Get, then set: two racing creators both "win"."""

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        found = self.get_versioned(sid)
        current = None if found is None else found.version
        time.sleep(0.002)
        if current != version:
            return False
        self.set(sid, record)
        return True


class ConstantVersion(MemoryStore):
    def get_versioned(self, sid: str) -> Versioned | None:
        found = super().get_versioned(sid)
        return None if found is None else found._replace(version="1")

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        current = self.get_versioned(sid)
        real = None if current is None else super().get_versioned(sid)
        return super().set_if(sid, record, None if real is None else real.version, unlock=unlock)


class LockNeverExcludes(MemoryStore):
    def lock(self, sid: str, ttl: float) -> str | None:
        with self._lock:
            self._locks.pop(sid, None)
            return self._acquire(sid, ttl, self._now())


class LockNeverExpires(MemoryStore):
    def lock(self, sid: str, ttl: float) -> str | None:
        return super().lock(sid, 10 * 365 * 86400)


class UnlockIgnoresToken(MemoryStore):
    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        held = self._locks.get(sid)
        super().unlock(sid, token if held is None else held[0], touch=touch)


class UnlockForgetsTouch(MemoryStore):
    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        super().unlock(sid, token)


class GetLockedReadsWhenHeld(MemoryStore):
    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        token = self.lock(sid, ttl)
        return token, self.get_versioned(sid)


class EnoentStore(MemoryStore):
    """Control (issue 10.15): ``get`` raises ``FileNotFoundError`` for a missing id, as
    express's ENOENT rule allows (a file-backed store). A correct store: it must pass."""

    def get(self, sid: str) -> Record | None:
        found = super().get(sid)
        if found is None:
            raise FileNotFoundError(sid)
        return found

    def get_versioned(self, sid: str) -> Versioned | None:
        found = super().get_versioned(sid)
        if found is None:
            raise FileNotFoundError(sid)
        return found


class BlockingAsyncStore:
    """An "async" store whose ``destroy`` makes a blocking call on the event loop (a sync
    client inside ``async def``)."""

    def __init__(self, clock: FakeClock) -> None:
        self._inner: Any = to_async(MemoryStore(clock=clock))

    async def get(self, sid: str) -> Record | None:
        found: Record | None = await self._inner.get(sid)
        return found

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._inner.set(sid, record)

    async def destroy(self, sid: str) -> None:
        time.sleep(0.25)
        await self._inner.destroy(sid)

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        await self._inner.touch(sid, record)


class SleepingAsyncStore(BlockingAsyncStore):
    """Control: the same delay, awaited; the loop stays free."""

    async def destroy(self, sid: str) -> None:
        await asyncio.sleep(0.01)
        await self._inner.destroy(sid)


def _sync(cls: type[MemoryStore]) -> Factory:
    return lambda clock: cls(clock=clock)


MUTANTS: dict[str, tuple[Factory, type[Any]]] = {
    name: (_sync(cls), StoreContract)
    for name, cls in {
        "sorted_keys": SortedKeys,
        "ascii_escapes_on_the_wire": AsciiEscapes,
        "spaced_json_on_the_wire": SpacedJson,
        "accepts_nan": AcceptsNaN,
        "lone_surrogate_crash": SurrogateCrash,
        "accepts_non_json_values": AcceptsAnything,
        "no_cookie_validation": NoValidation,
        "destroys_before_validating": DestroysBeforeValidating,
        "truncates_large_values": TruncatesLargeValues,
        "drops_empty_values": DropsEmptyValues,
        "set_merges": SetMerges,
        "shares_returned_record": SharesReturnedRecord,
        "keeps_argument": KeepsArgument,
        "destroy_does_nothing": DestroyDoesNothing,
        "destroy_clears_all": DestroyClearsAll,
        "destroy_unknown_raises": DestroyUnknownRaises,
        "expiry_off_by_one": ExpiryOffByOne,
        "expires_a_second_early": ExpiresASecondEarly,
        "ignores_expiry": IgnoresExpiry,
        "naive_local_expiry": NaiveLocalExpiry,
        "never_deletes_expired": NeverDeletesExpired,
        "touch_rewrites_data": TouchRewritesData,
        "touch_does_nothing": TouchDoesNothing,
        "touch_creates": TouchCreates,
        "touch_revives": TouchRevives,
        "all_includes_expired": AllIncludesExpired,
        "length_counts_expired": LengthCountsExpired,
        "clear_keeps_browser_sessions": ClearKeepsBrowserSessions,
        "case_insensitive_ids": CaseInsensitiveIds,
        "truncates_ids": TruncatesIds,
        "refuses_long_ids": RefusesLongIds,
        "basename_ids": BasenameIds,
        "racy_set": RacySet,
        "set_if_ignores_version": SetIfIgnoresVersion,
        "set_if_resurrects": SetIfResurrects,
        "set_if_none_overwrites": SetIfNoneOverwrites,
        "set_if_not_atomic": SetIfNotAtomic,
        "constant_version": ConstantVersion,
        "lock_never_excludes": LockNeverExcludes,
        "lock_never_expires": LockNeverExpires,
        "unlock_ignores_token": UnlockIgnoresToken,
        "unlock_forgets_touch": UnlockForgetsTouch,
        "get_locked_reads_when_held": GetLockedReadsWhenHeld,
    }.items()
}
MUTANTS["short_browser_session_lifetime"] = (short_browser_lifetime, StoreContract)
MUTANTS["async_blocks_the_loop"] = (BlockingAsyncStore, AsyncStoreContract)

CONTROLS: dict[str, tuple[Factory, type[Any]]] = {
    "memory_store": (_sync(MemoryStore), StoreContract),
    "memory_store_async": (lambda clock: to_async(MemoryStore(clock=clock)), AsyncStoreContract),
    "enoent_store": (_sync(EnoentStore), StoreContract),
    "enoent_store_async": (lambda clock: to_async(EnoentStore(clock=clock)), AsyncStoreContract),
    "awaiting_async_store": (SleepingAsyncStore, AsyncStoreContract),
}


# -- running the suite in-process ---------------------------------------------------------------


def contract_tests(contract: type[Any]) -> list[str]:
    return sorted(name for name in dir(contract) if name.startswith("test_"))


def run_contract(factory: Factory, contract: type[Any]) -> dict[str, str]:
    """Each contract test's outcome against a fresh store: "passed", "skipped" or the failure."""
    outcomes: dict[str, str] = {}
    for name in contract_tests(contract):
        suite = contract()
        clock = FakeClock()
        try:
            with in_time_zone(contract.time_zone):
                getattr(suite, name)(factory(clock), clock)
        except pytest.skip.Exception:
            outcomes[name] = "skipped"
        except (Exception, pytest.fail.Exception) as exc:
            first = (str(exc).splitlines() or [""])[0][:80]
            outcomes[name] = f"{type(exc).__name__}: {first}"
        else:
            outcomes[name] = "passed"
    return outcomes


def killers(outcomes: dict[str, str]) -> list[str]:
    return [name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_killed(name: str) -> None:
    factory, contract = MUTANTS[name]
    assert killers(run_contract(factory, contract)), f"mutant {name} survives the contract suite"


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_correct_store_passes(name: str) -> None:
    factory, contract = CONTROLS[name]
    outcomes = run_contract(factory, contract)
    assert {n: o for n, o in outcomes.items() if n in killers(outcomes)} == {}


def test_every_contract_test_runs_against_memory_store() -> None:
    """The controls exercise the whole suite: MemoryStore skips nothing (sync or async)."""
    for base, factory in (
        (StoreContract, _sync(MemoryStore)),
        (AsyncStoreContract, CONTROLS["memory_store_async"][0]),
    ):
        # MemoryStore's get_versioned reports its expiry (the lifetime rules' reports_expiry)
        contract = type(base.__name__, (base,), {"reports_expiry": True})
        skipped = [n for n, o in run_contract(factory, contract).items() if o == "skipped"]
        expected = ["test_calls_do_not_block_the_event_loop"] if base is StoreContract else []
        assert skipped == expected


def main() -> None:
    """Print the mutant table (markdown) for the closing note."""
    lines = ["| mutant | killed by |", "|---|---|"]
    killed = 0
    for name in sorted(MUTANTS):
        factory, contract = MUTANTS[name]
        found = killers(run_contract(factory, contract))
        killed += bool(found)
        lines.append(f"| {name} | {', '.join(found) or '**SURVIVES**'} |")
    print("\n".join(lines))
    print(f"\nkilled {killed}/{len(MUTANTS)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
