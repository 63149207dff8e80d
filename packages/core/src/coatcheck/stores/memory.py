"""``MemoryStore``: express-session's development store, made safe to leave running.

Like express's MemoryStore it keeps each session as its JSON string (so a returned record is
always a fresh copy) and honours ``cookie.expires`` on every read. Unlike it, it is bounded:

- expired sessions that are never read again do not pile up: every write pops a few expired
  entries from a min-heap ordered by expiry, so no request ever pays for a full scan;
- a browser-session record (no ``cookie.expires``) expires from the store after
  ``browser_session_ttl`` (one day, as connect-redis and connect-pg-simple do) without a write
  or touch — express-session touches the session on every request, so only abandoned ones go;
- at most ``max_sessions`` (10,000) sessions are kept: a new id beyond that evicts the session
  idle longest, with one WARNING the first time.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from .._errors import ConfigError, InvalidRecordError
from ._codec import (
    DEFAULT_TTL,
    META_ENTRY,
    META_KEY,
    RECORD_HEAD,
    cookie_json,
    decode_record,
    decode_stored,
    encode_record,
    expires_at,
    store_expiry,
    utcnow,
    validate_record,
)
from ._protocol import Record, Versioned
from ._users import UserKeyHolder, record_user

logger = logging.getLogger("coatcheck")

#: Expired heap entries popped per write: more than the one a write can add, so the heap drains.
_PRUNE_PER_WRITE = 8
#: Expired locks of crashed holders dropped per ``lock`` call (oldest first).
_PRUNE_LOCKS = 4

_PRODUCTION_ENV_VARS = ("COATCHECK_ENV", "APP_ENV", "PYTHON_ENV", "ENV")


def looks_like_production() -> bool:
    """True when the environment says production (express warns about MemoryStore then)."""
    return any(
        os.environ.get(name, "").strip().lower() == "production" for name in _PRODUCTION_ENV_VARS
    )


class _Entry:
    """One stored session: its JSON text, when the store drops it, and its version."""

    __slots__ = ("expires", "text", "version")

    def __init__(self, text: str, expires: datetime | None, version: int) -> None:
        self.text = text
        self.expires = expires
        self.version = version


class MemoryStore(UserKeyHolder):
    """Sessions in a dict of JSON strings; for development, tests and single-process apps.

    ``clock`` returns the current aware UTC time (injected so tests need no freezegun).

    ``max_sessions`` (default 10,000; ``None``: unbounded) caps memory: storing a *new* id into
    a full store first drops expired entries, then evicts the least recently used session (read,
    written or touched longest ago), logging one WARNING the first time. Overwriting a known id
    never evicts anything. Full, with records of ~1 KB of JSON, it holds about 14 MB.

    ``browser_session_ttl`` (seconds, default 86,400 = one day; ``None``: kept until evicted)
    is how long a record without ``cookie.expires`` stays after its last write or touch.

    Thread-safe: one lock guards the maps, since Flask and Django serve requests from threads.

    Concurrency capabilities (``coatcheck.stores._protocol``): ``get_versioned``, ``set_if``,
    ``lock``/``unlock`` and ``get_locked``, each atomic under that same lock. A version is a
    per-store counter bumped by every write (``set``, ``set_if``, ``touch``), so even rewriting
    identical bytes changes it. Locks expire on the injected ``clock``. Nothing ever waits, so
    the store is task-safe too and async adapters call it inline (``never_blocks``).
    """

    #: Every method returns without I/O, so async adapters call it on the event loop directly.
    never_blocks: ClassVar[bool] = True
    #: The default cap on live sessions.
    DEFAULT_MAX_SESSIONS: ClassVar[int] = 10_000

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        max_sessions: int | None = DEFAULT_MAX_SESSIONS,
        browser_session_ttl: float | None = DEFAULT_TTL.total_seconds(),
    ) -> None:
        if max_sessions is not None and (
            not isinstance(max_sessions, int) or isinstance(max_sessions, bool) or max_sessions < 1
        ):
            raise ConfigError(
                "max_sessions", f"must be a positive int or None, not {max_sessions!r}"
            )
        if browser_session_ttl is not None and (
            not isinstance(browser_session_ttl, (int, float))
            or isinstance(browser_session_ttl, bool)
            or not 0 < browser_session_ttl < 10 * 365 * 86400
        ):
            raise ConfigError(
                "browser_session_ttl",
                f"must be a positive number of seconds or None, not {browser_session_ttl!r}",
            )
        self._clock = clock or utcnow
        self._max_sessions = max_sessions
        self._browser_ttl = (
            None if browser_session_ttl is None else timedelta(seconds=browser_session_ttl)
        )
        self._lock = threading.Lock()
        # sid -> entry, least recently used first (the eviction order).
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # (expires, sid) pairs; stale ones (left by overwrites, touches, destroys) are skipped:
        # an entry is due only when its own ``expires`` matches.
        self._heap: list[tuple[datetime, str]] = []
        self._versions = itertools.count(1)
        self._warned_eviction = False
        # sid -> (token, expiry) of its lock; insertion order is roughly expiry order.
        self._locks: dict[str, tuple[str, datetime]] = {}
        # The user index (``index_users``): user -> sids and sid -> user, kept in _write and
        # _remove, so every write path (set, touch, set_if ...) keeps it exact.
        self._by_user: dict[str, dict[str, None]] = {}
        self._user_of: dict[str, str] = {}

    # -- the store contract -------------------------------------------------------------------

    def get(self, sid: str) -> Record | None:
        """The stored record as a fresh dict, or ``None`` if missing or expired (or not a
        session record: then it is destroyed, see ``_discard``)."""
        with self._lock:
            entry = self._live(sid, self._now())
            found = None if entry is None else (entry.text, entry.version)
        if found is None:
            return None
        record = decode_stored(found[0], sid, "memory")
        if record is None:
            self._discard(sid, found[1])
        return record

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` under ``sid`` (validated and encoded before anything changes)."""
        text = encode_record(record)
        with self._lock:
            now = self._now()
            self._prune(now, _PRUNE_PER_WRITE)
            self._write(sid, text, self._expiry(record, now), now, record)

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
            texts = [(sid, e.text) for sid, e in list(self._entries.items()) if self._due(e, now)]
            self._prune(now, len(self._heap))
        decoded = ((sid, decode_record(text)) for sid, text in texts)
        return {sid: record for sid, record in decoded if record is not None}

    def length(self) -> int:
        """How many live sessions there are."""
        with self._lock:
            now = self._now()
            self._prune(now, len(self._heap))
            return len(self._entries)

    def clear(self) -> None:
        """Drop every session (their locks are left alone: a lock is not a session)."""
        with self._lock:
            self._entries.clear()
            self._heap.clear()
            self._by_user.clear()
            self._user_of.clear()

    # -- sessions of a user (DESIGN "Sessions of a user") ---------------------------------------

    def _user_index_enabled(self, user_key: str) -> None:
        with self._lock:
            for sid, entry in self._entries.items():
                self._index(sid, decode_record(entry.text) or {})

    def sessions_of(self, user: str) -> dict[str, Record]:
        """Every live session whose ``record[user_key]`` is ``user``, by id."""
        self._require_user_key()
        with self._lock:
            now = self._now()
            entries = [(sid, self._live(sid, now)) for sid in list(self._by_user.get(user, ()))]
            texts = [(sid, entry.text) for sid, entry in entries if entry is not None]
        decoded = ((sid, decode_record(text)) for sid, text in texts)
        return {sid: record for sid, record in decoded if record is not None}

    def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Destroy every live session of ``user`` except ``keep``; returns how many."""
        self._require_user_key()
        with self._lock:
            now = self._now()
            sids = [sid for sid in self._by_user.get(user, ()) if sid != keep]
            live = [sid for sid in sids if self._live(sid, now) is not None]
            for sid in live:
                self._remove(sid)
        return len(live)

    # -- raw hooks (coatcheck.testing checks the stored bytes through them) -------------------

    def raw_get(self, sid: str) -> bytes | None:
        """The stored JSON of ``sid`` as UTF-8, expired or not (``None``: nothing stored)."""
        with self._lock:
            entry = self._entries.get(sid)
            return None if entry is None else entry.text.encode("utf-8")

    def raw_set(self, sid: str, data: bytes) -> None:
        """Store ``data`` as ``sid``'s JSON unchanged, as a foreign writer would; its expiry is
        read from the record inside (unreadable data is kept as a browser session)."""
        text = data.decode("utf-8")
        record = decode_record(text)
        with self._lock:
            now = self._now()
            try:
                when = self._expiry({} if record is None else record, now)
            except InvalidRecordError:
                when = self._expiry({}, now)
            self._write(sid, text, when, now, {} if record is None else record)

    # -- concurrency capabilities ------------------------------------------------------------

    def get_versioned(self, sid: str) -> Versioned | None:
        """The live record with its version and this store's expiry for it, or ``None``."""
        with self._lock:
            entry = self._live(sid, self._now())
            found = None if entry is None else (entry.text, entry.version, entry.expires)
        return self._versioned(sid, found)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        """Write only if the live version is ``version`` (``None``: only if no live record).

        With ``unlock=token`` the lock held under ``token`` is released as well, whether or not
        the write happened (the request is over either way).
        """
        text = encode_record(record)
        with self._lock:
            now = self._now()
            self._prune(now, _PRUNE_PER_WRITE)
            entry = self._live(sid, now)
            wrote = (None if entry is None else str(entry.version)) == version
            if wrote:
                self._write(sid, text, self._expiry(record, now), now, record)
            if unlock is not None:
                self._release(sid, unlock, now)
        return wrote

    def lock(self, sid: str, ttl: float) -> str | None:
        """Take ``sid``'s lock for ``ttl`` seconds: a fresh token, or ``None`` if it is held."""
        with self._lock:
            return self._acquire(sid, ttl, self._now())

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        """Release ``sid``'s lock if ``token`` still holds it (a non-holder's token, or one
        whose lock expired, releases nothing); ``touch`` is applied either way, as ``touch``."""
        if touch is not None:
            validate_record(touch)
        with self._lock:
            now = self._now()
            self._release(sid, token, now)
            if touch is not None:
                self._touch(sid, touch, now)

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        """``lock`` then ``get_versioned`` atomically; no record unless the lock was taken."""
        with self._lock:
            now = self._now()
            token = self._acquire(sid, ttl, now)
            entry = None if token is None else self._live(sid, now)
            found = None if entry is None else (entry.text, entry.version, entry.expires)
        return token, self._versioned(sid, found)

    def _versioned(
        self, sid: str, found: tuple[str, int, datetime | None] | None
    ) -> Versioned | None:
        """Decode outside the lock: (text, version, expiry) as a ``Versioned``."""
        if found is None:
            return None
        text, version, when = found
        record = decode_stored(text, sid, "memory")
        if record is None:
            self._discard(sid, version)
            return None
        return Versioned(record, str(version), when)

    def _discard(self, sid: str, version: int) -> None:
        """Destroy a stored value that is not a session record, as the core destroys any
        invalid record (issue 10.7), unless it was rewritten since it was read."""
        with self._lock:
            entry = self._entries.get(sid)
            if entry is not None and entry.version == version:
                self._remove(sid)

    # -- internals (call with the lock held) ----------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    @staticmethod
    def _due(entry: _Entry, now: datetime) -> bool:
        """Still live at ``now`` (express's rule: expired when ``expires <= now``)."""
        return entry.expires is None or entry.expires > now

    def _live(self, sid: str, now: datetime) -> _Entry | None:
        """The live entry, marked as just used; an expired one is deleted first (read-time rule)."""
        entry = self._entries.get(sid)
        if entry is None:
            return None
        if not self._due(entry, now):
            self._remove(sid)
            return None
        self._entries.move_to_end(sid)
        return entry

    def _expiry(self, record: Mapping[str, Any], now: datetime) -> datetime | None:
        """When the store drops ``record``: its cookie's expiry, or ``browser_session_ttl`` from
        now without one; never past a ``max_lifetime`` deadline (``None``: kept)."""
        if self._browser_ttl is None:
            return expires_at(record)
        return store_expiry(record, now, self._browser_ttl)

    def _write(
        self,
        sid: str,
        text: str,
        when: datetime | None,
        now: datetime,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        """Store ``text`` (the JSON of ``record``) under ``sid`` until ``when`` (``None``: no
        expiry). ``record=None``: the data is unchanged (a touch), so its user is too."""
        if when is not None and when <= now:
            self._remove(sid)  # stored already expired: as good as gone
            return
        if sid in self._entries:
            self._entries.move_to_end(sid)
        else:
            self._make_room(now)
        self._entries[sid] = _Entry(text, when, next(self._versions))
        if record is not None and self._user_key is not None:
            self._index(sid, record)
        if when is not None:
            heapq.heappush(self._heap, (when, sid))
            self._compact_heap()

    def _touch(self, sid: str, record: Mapping[str, Any], now: datetime) -> None:
        """Replace the live entry's cookie with ``record["cookie"]`` (express's touch).

        The stored text starts with the cookie (as every record the core writes does): only
        the cookie's JSON (and coatcheck's object right after it, for the deadline) is parsed,
        to find where it ends, and the new cookie encoded; the data's text is kept as it is,
        never decoded and encoded again.
        """
        entry = self._live(sid, now)
        if entry is None:
            return
        spliced = _splice_cookie(entry.text, record["cookie"])
        if spliced is not None:
            text, probe = spliced
            self._write(sid, text, self._expiry(probe, now), now, None)
            return
        stored = decode_record(entry.text)
        if stored is None:
            return
        stored["cookie"] = record["cookie"]
        self._write(sid, encode_record(stored), self._expiry(stored, now), now, stored)

    def _prune(self, now: datetime, budget: int) -> None:
        """Pop at most ``budget`` expired heap entries, deleting the live ones among them."""
        heap, entries = self._heap, self._entries
        while budget > 0 and heap and heap[0][0] <= now:
            when, sid = heapq.heappop(heap)
            entry = entries.get(sid)
            if entry is not None and entry.expires == when:
                self._remove(sid)
            budget -= 1

    def _make_room(self, now: datetime) -> None:
        """Evict until a new id fits under ``max_sessions`` (see the class docstring)."""
        if self._max_sessions is None or len(self._entries) < self._max_sessions:
            return
        self._prune(now, len(self._heap))
        while len(self._entries) >= self._max_sessions:
            self._remove(next(iter(self._entries)))
            if not self._warned_eviction:
                self._warned_eviction = True
                logger.warning(
                    "MemoryStore is full (max_sessions=%d): evicting the sessions idle longest; "
                    "use a persistent store (SQLiteStore, RedisStore ...) or raise max_sessions",
                    self._max_sessions,
                )

    def _remove(self, sid: str) -> None:
        if self._entries.pop(sid, None) is not None:
            self._unindex(sid)

    def _index(self, sid: str, record: Mapping[str, Any]) -> None:
        """Point the user index at ``sid``'s new user (or none)."""
        user = record_user(record, self._user_key)
        if self._user_of.get(sid) == user:
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

    def _compact_heap(self) -> None:
        """Rebuild the heap once stale entries outnumber live ones (amortised O(1) per push).

        Without this, ids rewritten again and again with a long lifetime would leave one stale
        entry per write until those far-off expiry times arrive.
        """
        if len(self._heap) <= 2 * len(self._entries) + 64:
            return
        self._heap = [(e.expires, sid) for sid, e in self._entries.items() if e.expires is not None]
        heapq.heapify(self._heap)

    def _acquire(self, sid: str, ttl: float, now: datetime) -> str | None:
        held = self._locks.get(sid)
        if held is not None and held[1] > now:
            return None
        self._locks.pop(sid, None)
        for _ in range(_PRUNE_LOCKS):  # drop a few expired locks of crashed holders
            oldest = next(iter(self._locks.items()), None)
            if oldest is None or oldest[1][1] > now:
                break
            del self._locks[oldest[0]]
        token = secrets.token_urlsafe(16)
        self._locks[sid] = (token, now + timedelta(seconds=ttl))
        return token

    def _release(self, sid: str, token: str, now: datetime) -> bool:
        """Drop ``sid``'s lock if ``token`` holds it; whether it did (expired: nobody's)."""
        held = self._locks.get(sid)
        if held is None or held[0] != token:
            return False
        del self._locks[sid]
        return held[1] > now


#: Finds where a stored object's JSON ends (a touch replaces just the cookie's text).
_SCANNER = json.JSONDecoder()


def _splice_cookie(text: str, cookie: Any) -> tuple[str, dict[str, Any]] | None:
    """``text`` with its leading cookie replaced by ``cookie``'s JSON, and the parts of the
    record its expiry depends on (cookie, coatcheck's object); ``None`` if the text is not
    laid out that way (then the caller decodes the whole record)."""
    if not text.startswith(RECORD_HEAD):
        return None
    head = RECORD_HEAD + cookie_json(cookie)
    try:
        same = text.startswith(head) and text[len(head) : len(head) + 1] in (",", "}")
        if same:  # the stored cookie is this one (a browser-session cookie): nothing to parse
            end = len(head)
        else:
            _, end = _SCANNER.raw_decode(text, len(RECORD_HEAD))
        probe: dict[str, Any] = {"cookie": cookie}
        if text.startswith(META_ENTRY, end):
            probe[META_KEY], meta_end = _SCANNER.raw_decode(text, end + len(META_ENTRY))
            if META_ENTRY in text[meta_end:]:
                return None
        elif META_ENTRY in text[end:]:
            return None  # coatcheck's object elsewhere (or its name in a value): decode all
    except ValueError:
        return None
    if text[end : end + 1] not in (",", "}"):
        return None
    return (text if same else head + text[end:]), probe
