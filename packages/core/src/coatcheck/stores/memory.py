"""``MemoryStore``: express-session's development store, made safe to leave running.

Like express's MemoryStore it keeps each session as its JSON string (so a returned record is
always a fresh copy) and honours ``cookie.expires`` on every read. Unlike it, expired sessions
that are never read again do not pile up: every write pops a bounded number of expired entries
from a min-heap ordered by expiry, so a stream of one-request visitors cannot grow the process
without bound, and no request ever pays for a full scan.
"""

from __future__ import annotations

import heapq
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from .._errors import ConfigError
from ._codec import decode_record, encode_record, expires_at, utcnow, validate_record
from ._protocol import Record, Versioned
from ._users import UserKeyHolder, record_user

#: Expired heap entries popped per write: more than the one a write can add, so the heap drains.
_PRUNE_PER_WRITE = 8

_PRODUCTION_ENV_VARS = ("COATCHECK_ENV", "APP_ENV", "PYTHON_ENV", "ENV")


def looks_like_production() -> bool:
    """True when the environment says production (express warns about MemoryStore then)."""
    return any(
        os.environ.get(name, "").strip().lower() == "production" for name in _PRODUCTION_ENV_VARS
    )


class MemoryStore(UserKeyHolder):
    """Sessions in a dict of JSON strings; for development, tests and single-process apps.

    ``clock`` returns the current aware UTC time (injected so tests need no freezegun).

    ``max_sessions`` caps memory. When the store is full, storing a *new* id first drops expired
    entries, then evicts the live entry that expires soonest; browser-session entries (no
    ``cookie.expires``) are evicted only when no entry with an expiry is left, least recently
    written first. Overwriting an existing id never evicts anything.

    Thread-safe: one lock guards the maps, since Flask and Django serve requests from threads.

    Concurrency capabilities (``coatcheck.stores._protocol``): ``get_versioned``, ``set_if``,
    ``lock``/``unlock`` and ``get_locked``, each atomic under that same lock. A version is a
    per-store counter bumped by every write (``set``, ``set_if``, ``touch``), so even rewriting
    identical bytes changes it. Locks expire on the injected ``clock``. Nothing ever waits, so
    the store is task-safe too and async adapters call it inline (``never_blocks``).
    """

    #: Every method returns without I/O, so async adapters call it on the event loop directly.
    never_blocks: ClassVar[bool] = True

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        max_sessions: int | None = None,
    ) -> None:
        if max_sessions is not None and (
            not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1
        ):
            raise ConfigError("max_sessions", f"must be a positive int, not {max_sessions!r}")
        self._clock = clock or utcnow
        self._max_sessions = max_sessions
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}
        # sid -> expiry (None: browser session). The heap may hold stale (expires, sid) pairs
        # left by overwrites, touches and destroys; an entry is live only when it matches here.
        self._expires: dict[str, datetime | None] = {}
        self._heap: list[tuple[datetime, str]] = []
        # Browser-session sids, least recently written first (dicts keep insertion order).
        self._no_expiry: dict[str, None] = {}
        # sid -> version number of its stored text (bumped by every write, never reused).
        self._versions: dict[str, int] = {}
        self._counter = itertools.count(1)
        # sid -> (token, expiry) of its lock; insertion order is roughly expiry order.
        self._locks: dict[str, tuple[str, datetime]] = {}
        # The user index (``index_users``): user -> sids and sid -> user, kept in _put/_remove,
        # so every write path (set, touch, set_if ...) keeps it exact.
        self._by_user: dict[str, dict[str, None]] = {}
        self._user_of: dict[str, str] = {}

    # -- the store contract -------------------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        """The stored record as a fresh dict, or ``None`` if missing or expired."""
        with self._lock:
            text = self._live_text(sid, self._now())
        return None if text is None else decode_record(text)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` under ``sid`` (validated and encoded before anything changes)."""
        text = encode_record(record)
        when = expires_at(record)
        with self._lock:
            now = self._now()
            self._prune(now, _PRUNE_PER_WRITE)
            if when is not None and when <= now:
                self._remove(sid)  # stored already expired: as good as gone
                return
            if sid not in self._sessions:
                self._make_room(now)
            self._put(sid, text, when)

    def destroy(self, sid: str) -> None:
        """Forget ``sid``; an unknown id is not an error."""
        with self._lock:
            self._remove(sid)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        """Replace only the stored ``cookie`` with ``record["cookie"]`` (express's rule).

        The stored user data is kept, so a touch never undoes a concurrent write. A missing or
        expired session is left alone.
        """
        validate_record(record)
        with self._lock:
            now = self._now()
            self._prune(now, _PRUNE_PER_WRITE)
            self._touch(sid, record, now)

    def all(self) -> dict[str, Record]:
        """Every live session keyed by id (expired ones are dropped on the way)."""
        with self._lock:
            now = self._now()
            texts = [(sid, self._live_text(sid, now)) for sid in list(self._sessions)]
        decoded = ((sid, decode_record(text)) for sid, text in texts if text is not None)
        return {sid: record for sid, record in decoded if record is not None}

    def length(self) -> int:
        """How many live sessions there are."""
        with self._lock:
            now = self._now()
            return sum(self._live_text(sid, now) is not None for sid in list(self._sessions))

    def clear(self) -> None:
        """Drop every session."""
        with self._lock:
            self._sessions.clear()
            self._versions.clear()
            self._expires.clear()
            self._heap.clear()
            self._no_expiry.clear()
            self._by_user.clear()
            self._user_of.clear()

    # -- sessions of a user (DESIGN "Sessions of a user") ---------------------------------------

    def _user_index_enabled(self, user_key: str) -> None:
        with self._lock:
            for sid, text in self._sessions.items():
                self._index(sid, text)

    def sessions_of(self, user: str) -> dict[str, Record]:
        """Every live session whose ``record[user_key]`` is ``user``, by id."""
        self._require_user_key()
        with self._lock:
            now = self._now()
            sids = list(self._by_user.get(user, ()))
            texts = [(sid, self._live_text(sid, now)) for sid in sids]
        decoded = ((sid, decode_record(text)) for sid, text in texts if text is not None)
        return {sid: record for sid, record in decoded if record is not None}

    def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Destroy every live session of ``user`` except ``keep``; returns how many."""
        self._require_user_key()
        with self._lock:
            now = self._now()
            sids = [sid for sid in self._by_user.get(user, ()) if sid != keep]
            live = [sid for sid in sids if self._live_text(sid, now) is not None]
            for sid in live:
                self._remove(sid)
        return len(live)

    # -- concurrency capabilities ------------------------------------------------------------

    def get_versioned(self, sid: str) -> Versioned | None:
        """The live record with its version and this store's expiry for it, or ``None``."""
        with self._lock:
            found = self._versioned_text(sid, self._now())
        return None if found is None else self._decode_versioned(found)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        """Write only if the live version is ``version`` (``None``: only if no live record).

        With ``unlock=token`` the lock held under ``token`` is released as well, whether or not
        the write happened (the request is over either way).
        """
        text = encode_record(record)
        when = expires_at(record)
        with self._lock:
            now = self._now()
            self._prune(now, _PRUNE_PER_WRITE)
            found = self._versioned_text(sid, now)
            current = None if found is None else found[1]
            wrote = current == version
            if wrote:
                if when is not None and when <= now:
                    self._remove(sid)
                else:
                    if found is None:
                        self._make_room(now)
                    self._put(sid, text, when)
            if unlock is not None:
                self._release(sid, unlock, now)
        return wrote

    def lock(self, sid: str, ttl: float) -> str | None:
        """Take ``sid``'s lock for ``ttl`` seconds: a fresh token, or ``None`` if it is held."""
        with self._lock:
            return self._acquire(sid, ttl, self._now())

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        """Release ``sid``'s lock if ``token`` still holds it, touching ``touch`` if given.

        A non-holder (wrong token, or a lock that expired) changes nothing: no release, no
        touch.
        """
        if touch is not None:
            validate_record(touch)
        with self._lock:
            now = self._now()
            if self._release(sid, token, now) and touch is not None:
                self._touch(sid, touch, now)

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        """``lock`` then ``get_versioned`` atomically; no record unless the lock was taken."""
        with self._lock:
            now = self._now()
            token = self._acquire(sid, ttl, now)
            found = None if token is None else self._versioned_text(sid, now)
        return token, (None if found is None else self._decode_versioned(found))

    # -- internals (call with the lock held) ----------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def _live_text(self, sid: str, now: datetime) -> str | None:
        """The stored JSON, deleting it first if it has expired (express's read-time rule)."""
        text = self._sessions.get(sid)
        if text is None:
            return None
        when = self._expires[sid]
        if when is not None and when <= now:
            self._remove(sid)
            return None
        return text

    def _versioned_text(self, sid: str, now: datetime) -> tuple[str, str, datetime | None] | None:
        """(text, version, expiry) of the live entry, or ``None``."""
        text = self._live_text(sid, now)
        if text is None:
            return None
        return text, str(self._versions[sid]), self._expires[sid]

    @staticmethod
    def _decode_versioned(found: tuple[str, str, datetime | None]) -> Versioned | None:
        text, version, when = found
        record = decode_record(text)
        return None if record is None else Versioned(record, version, when)

    def _touch(self, sid: str, record: Mapping[str, Any], now: datetime) -> None:
        """Replace the live entry's cookie with ``record["cookie"]`` (express's touch)."""
        text = self._live_text(sid, now)
        stored = None if text is None else decode_record(text)
        if stored is None:
            return
        stored["cookie"] = record["cookie"]
        when = expires_at(stored)
        if when is not None and when <= now:
            self._remove(sid)
            return
        self._put(sid, encode_record(stored), when)

    def _acquire(self, sid: str, ttl: float, now: datetime) -> str | None:
        held = self._locks.get(sid)
        if held is not None and held[1] > now:
            return None
        self._locks.pop(sid, None)
        # Drop a few expired locks of crashed holders (oldest first), so they cannot pile up.
        for _ in range(4):
            oldest = next(iter(self._locks.items()), None)
            if oldest is None or oldest[1][1] > now:
                break
            del self._locks[oldest[0]]
        token = secrets.token_urlsafe(16)
        self._locks[sid] = (token, now + timedelta(seconds=ttl))
        return token

    def _release(self, sid: str, token: str, now: datetime) -> bool:
        """Drop ``sid``'s lock if ``token`` holds it (an expired lock is nobody's)."""
        held = self._locks.get(sid)
        if held is None or held[0] != token:
            return False
        del self._locks[sid]
        return held[1] > now

    def _put(self, sid: str, text: str, when: datetime | None) -> None:
        if self._user_key is not None:
            self._index(sid, text)
        self._sessions[sid] = text
        self._versions[sid] = next(self._counter)
        self._expires[sid] = when
        self._no_expiry.pop(sid, None)
        if when is None:
            self._no_expiry[sid] = None
        else:
            heapq.heappush(self._heap, (when, sid))
            self._compact_heap()

    def _index(self, sid: str, text: str) -> None:
        """Point the user index at ``sid``'s new user (or none)."""
        record = decode_record(text)
        user = None if record is None else record_user(record, self._user_key)
        old = self._user_of.get(sid)
        if old == user:
            return
        self._unindex(sid)
        if user is not None:
            self._user_of[sid] = user
            self._by_user.setdefault(user, {})[sid] = None

    def _unindex(self, sid: str) -> None:
        old = self._user_of.pop(sid, None)
        if old is not None:
            sids = self._by_user.get(old)
            if sids is not None:
                sids.pop(sid, None)
                if not sids:
                    del self._by_user[old]

    def _remove(self, sid: str) -> None:
        self._unindex(sid)
        self._sessions.pop(sid, None)
        self._versions.pop(sid, None)
        self._expires.pop(sid, None)
        self._no_expiry.pop(sid, None)

    def _prune(self, now: datetime, budget: int) -> None:
        """Pop at most ``budget`` expired heap entries, deleting the live ones among them."""
        heap = self._heap
        while budget > 0 and heap and heap[0][0] <= now:
            when, sid = heapq.heappop(heap)
            if self._expires.get(sid, None) == when:
                self._remove(sid)
            budget -= 1

    def _make_room(self, now: datetime) -> None:
        """Evict until a new id fits under ``max_sessions`` (see the class docstring)."""
        if self._max_sessions is None:
            return
        while len(self._sessions) >= self._max_sessions:
            if self._heap:
                when, sid = heapq.heappop(self._heap)
                if self._expires.get(sid, None) == when:
                    self._remove(sid)
            else:
                self._remove(next(iter(self._no_expiry)))

    def _compact_heap(self) -> None:
        """Rebuild the heap once stale entries outnumber live ones (amortised O(1) per push).

        Without this, ids rewritten again and again with a long lifetime would leave one stale
        entry per write until those far-off expiry times arrive.
        """
        if len(self._heap) <= 2 * len(self._sessions) + 64:
            return
        self._heap = [(when, sid) for sid, when in self._expires.items() if when is not None]
        heapq.heapify(self._heap)
