"""Redis session stores that share keys with connect-redis (v7+, ``src/RedisStore.ts``).

What connect-redis writes, we write: the key is ``prefix + sid`` (default ``sess:``), the value
is the record's ``JSON.stringify`` text, and the expiry rides on the same command, so value and
TTL are set atomically; a record without ``cookie.expires`` lives one day (connect-redis's
default ``ttl``), and a record already expired is deleted instead of written. ``touch`` only
resets the TTL: the stored JSON is left alone, so its ``cookie.expires`` may lag behind the key's
real lifetime, exactly as with connect-redis. An Express app and a Python app can share one Redis.

One deliberate difference: connect-redis sends ``EX ceil(seconds left)``, we send ``PX`` with the
milliseconds left, so the key dies with the cookie instead of up to a second later (a Node app
sharing the keys cannot tell; sub-second lifetimes, as in tests, expire on time).

Works with ``redis.Redis`` and ``redis.cluster.RedisCluster`` (and their ``redis.asyncio``
twins). ``all``/``length``/``clear`` walk the prefix with ``SCAN`` on every primary (never
``KEYS``, never ``FLUSHDB``) and delete per hash slot, so they are correct on a cluster.

Usage::

    store = RedisStore(redis.Redis(host="localhost"))           # or RedisStore.from_url(url)
    astore = AsyncRedisStore(redis.asyncio.Redis(host="localhost"))
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from .._errors import ConfigError, InvalidRecordError, StoreError, sid_prefix
from ._codec import decode_record, encode_record, store_expiry, utcnow
from ._protocol import Record, Versioned
from ._users import UserKeyHolder, record_user

if TYPE_CHECKING:
    SyncClient = redis.Redis | redis.cluster.RedisCluster
    AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

__all__ = ["AsyncRedisStore", "RedisStore"]

logger = logging.getLogger("coatcheck")

Clock = Callable[[], datetime]

#: Keys per MGET/DEL batch in ``all``/``clear``: bounded requests however many sessions exist.
BATCH = 500
#: SCAN's COUNT hint (connect-redis uses 100; larger means fewer round trips).
SCAN_COUNT = 1000

_US = timedelta(microseconds=1)
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


#: The user index: a Redis set per user, ``USERS_PREFIX + prefix + user``, holding session ids.
#: Outside ``prefix*`` so SCANs of the sessions never see it.
USERS_PREFIX = "coatcheck-users:"

# Add a session id to its user's set; the set lives as long as its longest-lived session.
# One key, so it runs on a cluster too; on one server it rides in the MULTI of the write.
_INDEX_LUA = """
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


_INDEX_SHA = hashlib.sha1(_INDEX_LUA.encode(), usedforsecurity=False).hexdigest()


def scan_pattern(prefix: str) -> str:
    """``prefix*`` with the prefix's glob characters escaped, so ``a*:`` matches only itself."""
    return _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"


def _wrong_type(exc: ResponseError) -> bytes:
    """A key of another type where a session should be (``WRONGTYPE``) reads as an invalid
    value (WARNING, a fresh session) instead of failing every request; other errors raise."""
    if not str(exc).startswith("WRONGTYPE"):
        raise exc
    return b""


class Script:
    """A Lua script run as ``EVALSHA`` (one command), loaded by ``EVAL`` the first time a server
    answers ``NOSCRIPT`` (a fresh server, a failover, ``SCRIPT FLUSH``)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


# The concurrency capabilities (DESIGN "Concurrency"), each one script, so each is atomic on
# the server and one round trip. KEYS[1] is always the session key, KEYS[2] (when present) its
# lock key, which hashes to the same cluster slot. A version is the SHA-1 hex of the stored
# bytes, so a connect-redis SET by a Node app changes it. Extending a write (e.g. an index
# updated with the session) means adding KEYS/ARGV after the ones documented here.

#: The value of KEYS[1] and its PTTL; a key of another type reads as '' (an invalid value, as
#: ``_wrong_type``), so a stray key never fails every request. -> {value | false | '', pttl}
_READ = """local value = redis.pcall('GET', KEYS[1])
if type(value) == 'table' and value.err then value = '' end
return {value, redis.call('PTTL', KEYS[1])}"""

GET_VERSIONED = Script(_READ)

#: The user index (DESIGN "Sessions of a user"), when a write carries a user and the user's set
#: is in the same slot (one server): KEYS[3] is the set, ARGV[5] the session id. The same steps
#: as ``_INDEX_LUA``: add the id, keep the set alive as long as its longest session.
_INDEX_STEP = """
    if KEYS[3] then
      redis.call('SADD', KEYS[3], ARGV[5])
      if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[4]) then
        redis.call('PEXPIRE', KEYS[3], ARGV[4])
      end
    end"""

#: ARGV: expected version ('' = only if absent), value, unlock token ('' = none), ttl ms
#: (<= 0: delete), [session id]. Writes (SET PX, or DEL for a dead record) only if the stored
#: version is the expected one; releases the lock held under the token either way.
#: -> 1 written, 0 refused.
SET_IF = Script(
    """local current = redis.call('GET', KEYS[1])
local ok
if ARGV[1] == '' then
  ok = not current
else
  ok = current and redis.sha1hex(current) == ARGV[1]
end
if ok then
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])"""
    + _INDEX_STEP
    + """
  else
    redis.call('DEL', KEYS[1])
  end
end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
if ok then return 1 end
return 0"""
)

#: ARGV: token, touch ('1', or '' = none), '', touch ttl ms, [session id]. Releases the
#: lock only if the token holds it; touches either way (the protocol: exactly ``touch``;
#: PEXPIRE, so a missing key stays missing). -> 1 released, 0 not held.
UNLOCK = Script(
    """local released = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  released = 1
end
if ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  if tonumber(ARGV[4]) > 0 then"""
    + _INDEX_STEP
    + """
  end
end
return released"""
)

#: ARGV: the value a read saw ('' for a key of another type, as the reads report it). Deletes
#: KEYS[1] if it still holds that value (for '', also if it is still of another type), so a
#: value rewritten since the read is kept. -> 1 deleted, 0 kept.
DISCARD = Script(
    """local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
elseif kind ~= 'none' and ARGV[1] == '' then
  return redis.call('DEL', KEYS[1])
end
return 0"""
)

#: ARGV: token, lock ttl ms. -> nil if someone holds the lock, else {value | false, pttl}.
GET_LOCKED = Script(
    """if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
"""
    + _READ
)


def _hash_tag(key: str) -> str | None:
    """The part of ``key`` Redis Cluster hashes, if it has a hash tag (``{...}``, non-empty:
    the first ``{`` and the first ``}`` after it); ``None`` when the whole key is hashed."""
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    if end <= start + 1:
        return None
    return key[start + 1 : end]


_SLOT_TAGS: dict[int, str] = {}


def _tag_for_slot(slot: int) -> str:
    """A short brace-free string that hashes to ``slot`` (found once per slot, then cached)."""
    tag = _SLOT_TAGS.get(slot)
    if tag is None:
        n = 0
        while key_slot(str(n).encode()) != slot:
            n += 1
        tag = _SLOT_TAGS[slot] = str(n)
    return tag


def lock_key(key: str) -> str:
    """The lock key of session key ``key``: it hashes to ``key``'s cluster slot, so one script
    may use both, and begins with ``{`` so a ``SCAN`` of the session prefix never sees it.

    ``{key}.lock`` when ``key`` has no ``}``; with a hash tag ``t`` in ``key``, ``{t}key.lock``
    (same tag, same slot); otherwise (a ``}`` but no tag) a tag found for ``key``'s slot.
    """
    tag = _hash_tag(key)
    if tag is None:
        if key and "}" not in key:
            return "{" + key + "}.lock"
        tag = _tag_for_slot(key_slot(key.encode("utf-8", "surrogateescape")))
    return "{" + tag + "}" + key + ".lock"


def _version(raw: bytes | str) -> str:
    """SHA-1 hex of the stored bytes: what ``redis.sha1hex`` gives inside ``SET_IF``."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw
    return hashlib.sha1(data).hexdigest()


def _ms(seconds: float, what: str) -> int:
    """A positive lifetime in whole milliseconds (rounded up, at least 1)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"{what} must be a positive number of seconds, not {seconds!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"{what} must be a positive number of seconds, not {seconds!r}")
    return max(1, math.ceil(seconds * 1000))


def _token() -> str:
    return secrets.token_hex(16)


class _wrap_errors:
    """Every client failure (connection, timeout, cluster down, ...) becomes a StoreError.
    A class, not a generator context manager: it runs around every store command."""

    __slots__ = ("operation", "sid")

    def __init__(self, operation: str, sid: str | None) -> None:
        self.operation = operation
        self.sid = sid

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, (RedisError, RedisClusterException)):
            raise StoreError(self.operation, self.sid, exc) from exc


class _RedisBase(UserKeyHolder):
    """What both stores share: naming, TTL arithmetic and decoding; no I/O."""

    def __init__(self, prefix: str, clock: Clock | None) -> None:
        if not isinstance(prefix, str):
            raise ConfigError("prefix", f"must be a string, not {prefix!r}")
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self._pattern = scan_pattern(prefix)
        self._clock: Clock = clock or utcnow
        self._owns_client = False
        self._cluster = False

    def _key(self, sid: str) -> str:
        return self.prefix + sid

    def _sid(self, key: bytes | str) -> str:
        if isinstance(key, bytes):
            return key[len(self._prefix_bytes) :].decode("utf-8", "surrogateescape")
        return key[len(self.prefix) :]

    def _ttl_ms(self, record: Mapping[str, Any]) -> int:
        """Milliseconds left, rounded up (connect-redis's ``_getTTL`` rounds up to seconds);
        one day when the cookie has no expiry; never past an absolute deadline
        (``max_lifetime``). May be <= 0: then the session is over."""
        now = self._clock()
        micros = (store_expiry(record, now) - now) // _US
        return -(-micros // 1000)

    def _decode(self, sid: str, raw: bytes | str | None) -> Record | None:
        if raw is None:
            return None
        record = decode_record(raw)
        if record is None:
            logger.warning(
                "redis store: ignoring a stored value that is not a session record (session %s)",
                sid_prefix(sid),
            )
        return record

    # -- the user index (DESIGN "Sessions of a user") ------------------------------------------
    # Each write of a session with a user first adds its id to the user's set, in the same
    # MULTI on one server (two commands, index first, on a cluster, where the keys live in
    # different slots). So the set is always a superset of the user's live sessions; members
    # whose session is gone or belongs to someone else now are dropped when the set is read.

    def _user_index_enabled(self, user_key: str) -> None:
        if (USERS_PREFIX + self.prefix).startswith(self.prefix):
            raise ConfigError("user_key", f"the prefix {self.prefix!r} would cover the index")

    def _user_set(self, user: str) -> str:
        return USERS_PREFIX + self.prefix + user

    def _record_user_set(self, record: Mapping[str, Any]) -> str | None:
        user = record_user(record, self._user_key)
        return None if user is None else self._user_set(user)

    def _members(
        self, user: str, members: Any, values: Sequence[Any]
    ) -> tuple[dict[str, Record], list[Any]]:
        """Sort the set's members into the user's live sessions and stale members."""
        found: dict[str, Record] = {}
        stale: list[Any] = []
        for member, raw in zip(members, values):
            sid = member.decode("utf-8", "surrogateescape") if isinstance(member, bytes) else member
            record = self._decode(sid, raw)
            if record is not None and record_user(record, self._user_key) == user:
                found[sid] = record
            else:
                stale.append(member)
        return found, stale

    def _versioned(self, sid: str, reply: Any, sent: datetime) -> Versioned | None:
        """Decode a ``{value, pttl}`` script reply; ``sent`` is the clock before the call, so
        ``expires_at`` (``sent`` + PTTL) is never later than the key's real expiry."""
        raw, pttl = reply
        record = self._decode(sid, raw)
        if record is None:
            return None
        expires = sent + timedelta(milliseconds=pttl) if pttl >= 0 else None
        return Versioned(record, _version(raw), expires)

    def _raw_ttl(self, data: bytes) -> int:
        """The TTL a Node writer would give ``data`` (one day when unreadable), at least 1."""
        record = decode_record(data) or {}
        try:
            return max(1, self._ttl_ms(record))
        except InvalidRecordError:
            return max(1, self._ttl_ms({}))

    def _write_args(
        self, sid: str, record: Mapping[str, Any] | None, *argv: str
    ) -> tuple[tuple[Any, ...], tuple[str, int] | None]:
        """``EVALSHA`` arguments after the sha for ``SET_IF``/``UNLOCK``: KEYS, then ``argv``
        (ARGV[1..3]), the record's ttl (ARGV[4]) and, with a user set in KEYS[3], the id
        (ARGV[5]). Also the ``(user set, ttl)`` to index first when the user's set lives in
        another slot (a cluster); on one server the index rides in the script."""
        key = self._key(sid)
        ttl = 0 if record is None else self._ttl_ms(record)
        user_set = None if record is None or ttl <= 0 else self._record_user_set(record)
        if user_set is not None and not self._cluster:
            return (3, key, lock_key(key), user_set, *argv, ttl, sid), None
        index = None if user_set is None else (user_set, ttl)
        return (2, key, lock_key(key), *argv, ttl), index

    def _set_if_args(
        self, sid: str, record: Mapping[str, Any], version: str | None, unlock: str | None
    ) -> tuple[tuple[Any, ...], tuple[str, int] | None]:
        if version is not None and not isinstance(version, str):
            raise TypeError(f"version must be a str or None, not {type(version).__name__}")
        value = encode_record(record)  # InvalidRecordError before any I/O
        expected = "" if version is None else version
        return self._write_args(sid, record, expected, value, unlock or "")

    def _unlock_args(
        self, sid: str, token: str, touch: Mapping[str, Any] | None
    ) -> tuple[tuple[Any, ...], tuple[str, int] | None]:
        return self._write_args(sid, touch, token, "" if touch is None else "1", "")

    def _collect(self, keys: Sequence[bytes | str], values: Sequence[Any]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for key, raw in zip(keys, values):
            sid = self._sid(key)
            record = self._decode(sid, raw)
            if record is not None:
                found[sid] = record
        return found


class _Lane:
    """The cheapest way redis-py offers to send one command and read its reply, for a plain
    ``redis.Redis`` on a ``ConnectionPool``: the store keeps its own few connections (built by
    the pool's connection class with the pool's settings) and talks to them directly.

    ``execute_command`` costs ~3x the wire work per command (measured: 55 µs CPU against 15 µs
    for the same GET): a retry wrapper and closures, observability calls, and a pool checkout
    that takes a lock and polls the socket for stale data. Here a connection is taken from a
    free list (atomic ``list.pop``/``append``, so any number of threads can share the store) and
    is put back only after a complete reply, so a free connection never holds unread data; any
    failure mid-command closes it. A connection error (e.g. the server restarted since the
    connection was last used) falls back to ``client.execute_command``, i.e. to the client's own
    retry policy on a fresh pool connection. Commands whose replies the client post-processes
    differently are not sent here; the replies the store reads (GET, SET NX, EVALSHA) are the
    raw ones either way. After a fork the child starts with new connections.
    """

    __slots__ = ("client", "connect", "free", "pid")

    def __init__(self, client: Any) -> None:
        self.client = client
        pool = client.connection_pool
        self.connect: Callable[[], Any] = lambda: pool.connection_class(**pool.connection_kwargs)
        self.free: list[Any] = []
        self.pid = os.getpid()

    @staticmethod
    def fits(client: object) -> bool:
        """Only a plain client whose commands nothing else observes or rewrites: an exact
        ``ConnectionPool``, RESP2, no client-side cache, no single shared connection, no
        credential provider (re-auth events)."""
        if type(client) is not redis.Redis or getattr(client, "connection", None) is not None:
            return False
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if type(pool) is not redis.ConnectionPool or getattr(pool, "cache", None) is not None:
            return False
        # RESP2 carries no push messages, so maintenance notifications (RESP3) cannot arrive.
        return str(kwargs.get("protocol") or 2) == "2" and not kwargs.get("credential_provider")

    def __call__(self, *args: Any) -> Any:
        if _observed():  # redis-py's metrics are on: every command goes through its hooks
            return self.client.execute_command(*args)
        if self.pid != os.getpid():  # a forked child must not share the parent's sockets
            self.free, self.pid = [], os.getpid()
        try:
            conn = self.free.pop()
        except IndexError:
            conn = self.connect()
        try:
            conn.send_command(*args)
            reply = conn.read_response()
        except ResponseError:
            self.free.append(conn)  # an error reply was read whole: the connection is clean
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            return self.client.execute_command(*args)
        except BaseException:
            conn.disconnect()
            raise
        self.free.append(conn)
        return reply

    def close(self) -> None:
        free, self.free = self.free, []
        for conn in free:
            conn.disconnect()


class _AsyncLane:
    """``_Lane`` for a plain ``redis.asyncio.Redis``: one command, one reply, straight on a
    connection (``execute_command`` costs ~1.6x the wire work: the retry wrapper, observability
    awaits, and a pool checkout under an ``asyncio.Lock`` that probes the socket for stale data).

    The connections are the pool's own, each checked out once (so the client's ``aclose()``,
    or the pool's ``disconnect()``, closes them with the rest) and kept on a free list while
    no command is on them; one is put back only after a complete reply, so a free connection
    never holds unread data, and any failure or cancellation mid-command closes it and hands it
    back to the pool. A connection error falls back to ``client.execute_command`` (the client's
    own retry policy). Connections belong to the event loop that connected them: when another
    loop runs the store, the old loop's connections go back to the pool.
    """

    __slots__ = ("client", "free", "loop", "pool")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pool = client.connection_pool
        self.free: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def fits(client: object) -> bool:
        """``_Lane.fits`` for asyncio clients (and no single shared connection)."""
        if type(client) is not redis.asyncio.Redis or getattr(client, "connection", None):
            return False
        pool = client.connection_pool
        if type(pool) is not redis.asyncio.ConnectionPool:
            return False
        kwargs = pool.connection_kwargs
        return str(kwargs.get("protocol") or 2) == "2" and not kwargs.get("credential_provider")

    async def __call__(self, *args: Any) -> Any:
        if _observed():
            return await self.client.execute_command(*args)
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # connections are bound to the loop that opened them
            stale, self.free, self.loop = self.free, [], loop
            for conn in stale:
                await self.pool.release(conn)
        try:
            conn = self.free.pop()
        except IndexError:
            conn = await _checkout(self.pool)
        try:
            await conn.send_command(*args)
            reply = await conn.read_response()
        except ResponseError:
            self.free.append(conn)  # an error reply was read whole: the connection is clean
            raise
        except (redis.ConnectionError, redis.TimeoutError):
            await self._drop(conn)
            return await self.client.execute_command(*args)
        except BaseException:  # cancelled mid-command: a reply may still be on its way
            await self._drop(conn)
            raise
        self.free.append(conn)
        return reply

    async def _drop(self, conn: Any) -> None:
        await conn.disconnect(nowait=True)
        await self.pool.release(conn)


async def _checkout(pool: Any) -> Any:
    """``pool.get_connection()``; redis-py before 5.3 wants a command name."""
    if _CHECKOUT_WANTS_NAME:
        return await pool.get_connection("GET")
    return await pool.get_connection()


_CHECKOUT_WANTS_NAME = (
    inspect.signature(redis.asyncio.ConnectionPool.get_connection)
    .parameters["command_name"]
    .default
    is inspect.Parameter.empty
)


try:  # redis-py >= 8: OpenTelemetry metrics, off unless configured
    from redis.observability.providers import get_observability_instance

    def _observed() -> bool:
        return get_observability_instance().get_provider_manager() is not None

except ImportError:  # pragma: no cover - older redis-py

    def _observed() -> bool:
        return False


class RedisStore(_RedisBase):
    """A synchronous store on ``redis.Redis`` or ``redis.cluster.RedisCluster``.

    The client is used as given (never replaced or reconfigured); it reconnects on its own after
    an outage, so the same store keeps working once Redis is back.
    """

    #: Network I/O: async adapters run these methods in a worker thread.
    never_blocks: ClassVar[bool] = False

    def __init__(
        self, client: SyncClient, *, prefix: str = "sess:", clock: Clock | None = None
    ) -> None:
        super().__init__(prefix, clock)
        given: object = client  # the annotation says sync; check what really came in
        if isinstance(given, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
            raise ConfigError("client", "this is an asyncio client: use AsyncRedisStore")
        self.client = client
        self._cluster = isinstance(client, redis.cluster.RedisCluster)
        self._index_script = client.register_script(_INDEX_LUA)
        self._lane = _Lane(client) if _Lane.fits(client) else None
        #: One command, one reply: the hot path's single way to the wire.
        self._call: Callable[..., Any] = self._lane or client.execute_command

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "sess:",
        clock: Clock | None = None,
        cluster: bool = False,
        **client_options: Any,
    ) -> RedisStore:
        """A store that owns its client (closed by ``close()``); ``cluster=True`` for a
        Redis Cluster URL (any one node; the others are discovered)."""
        client: SyncClient
        if cluster:
            client = redis.cluster.RedisCluster.from_url(url, **client_options)
        else:
            client = redis.Redis.from_url(url, **client_options)
        store = cls(client, prefix=prefix, clock=clock)
        store._owns_client = True
        return store

    def get(self, sid: str) -> Record | None:
        """``GET prefix+sid``; a value that is not a session record reads as missing."""
        with _wrap_errors("get", sid):
            try:
                raw = self._call("GET", self._key(sid))
            except ResponseError as exc:
                raw = _wrong_type(exc)
        record = self._decode(sid, raw)
        if record is None and raw is not None:
            self._discard(sid, raw)
        return record

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        """``SET key json PX ttl`` in one command, or ``DEL`` when already expired."""
        value = encode_record(record)  # InvalidRecordError before any I/O
        ttl = self._ttl_ms(record)
        with _wrap_errors("set", sid):
            if ttl <= 0:
                self._call("DEL", self._key(sid))
            elif (user_set := self._record_user_set(record)) is not None:
                self._indexed(user_set, sid, ttl, lambda c: c.set(self._key(sid), value, px=ttl))
            else:
                self._call("SET", self._key(sid), value, "PX", ttl)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        """``PEXPIRE key ttl``: a new lifetime, the stored bytes untouched (connect-redis's
        ``EXPIRE``); a missing or expired key stays missing, a ttl <= 0 deletes it."""
        ttl = self._ttl_ms(record)
        with _wrap_errors("touch", sid):
            if ttl > 0 and (user_set := self._record_user_set(record)) is not None:
                self._indexed(user_set, sid, ttl, lambda c: c.pexpire(self._key(sid), ttl))
            else:
                self._call("PEXPIRE", self._key(sid), ttl)

    def destroy(self, sid: str) -> None:
        with _wrap_errors("destroy", sid):
            self._call("DEL", self._key(sid))

    def raw_get(self, sid: str) -> bytes | None:
        """The stored bytes of ``sid`` (the contract suite's wire check), as connect-redis
        would read them."""
        with _wrap_errors("get", sid):
            raw = self._call("GET", self._key(sid))
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw

    def raw_set(self, sid: str, data: bytes) -> None:
        """Store ``data`` as connect-redis would (``SET key data PX ttl`` from the record)."""
        with _wrap_errors("set", sid):
            self._call("SET", self._key(sid), data, "PX", self._raw_ttl(data))

    # -- concurrency capabilities: each one command (a script or SET NX) ----------------------

    def get_versioned(self, sid: str) -> Versioned | None:
        """The record, the SHA-1 of its stored bytes and the key's expiry, in one script."""
        sent = self._clock()
        with _wrap_errors("get", sid):
            reply = self._eval(GET_VERSIONED, 1, self._key(sid))
        return self._read_versioned(sid, reply, sent)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        """Write only if the stored bytes still hash to ``version`` (``None``: only if the key
        is absent); with ``unlock``, release that lock in the same script."""
        args, index = self._set_if_args(sid, record, version, unlock)
        with _wrap_errors("set", sid):
            if index is not None:  # a cluster: the user's set first (it may over-list)
                self._index_script(keys=[index[0]], args=[sid, index[1]])
            return bool(self._eval(SET_IF, *args))

    def lock(self, sid: str, ttl: float) -> str | None:
        """``SET lockkey token NX PX ttl``: a token, or ``None`` if the lock is held."""
        token, ms = _token(), _ms(ttl, "ttl")
        with _wrap_errors("lock", sid):
            taken = self._call("SET", lock_key(self._key(sid)), token, "NX", "PX", ms)
        return token if taken else None

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        """Release the lock if ``token`` holds it; ``touch`` also refreshes the key's TTL."""
        args, index = self._unlock_args(sid, token, touch)
        with _wrap_errors("unlock", sid):
            if index is not None:
                self._index_script(keys=[index[0]], args=[sid, index[1]])
            self._eval(UNLOCK, *args)

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        """``lock`` then ``get_versioned`` in one script; no record unless the lock was taken."""
        token, ms = _token(), _ms(ttl, "ttl")
        key = self._key(sid)
        sent = self._clock()
        with _wrap_errors("lock", sid):
            reply = self._eval(GET_LOCKED, 2, key, lock_key(key), token, ms)
        if reply is None:
            return None, None
        return token, self._read_versioned(sid, reply, sent)

    def _read_versioned(self, sid: str, reply: Any, sent: datetime) -> Versioned | None:
        found = self._versioned(sid, reply, sent)
        if found is None and reply[0] is not None:
            self._discard(sid, reply[0])
        return found

    def _discard(self, sid: str, raw: bytes | str) -> None:
        """Destroy a stored value that is not a session record (or a key of another type),
        as the core destroys any invalid record (issue 10.7), unless it was rewritten since
        it was read. A failure only logs: the read succeeded, the value is ignored anyway."""
        try:
            with _wrap_errors("destroy", sid):
                self._eval(DISCARD, 1, self._key(sid), raw)
        except StoreError as exc:
            logger.warning("redis store: could not destroy an invalid record: %s", exc)

    def _eval(self, script: Script, *args: Any) -> Any:
        try:
            return self._call("EVALSHA", script.sha, *args)
        except NoScriptError:
            return self._call("EVAL", script.text, *args)

    def all(self) -> dict[str, Record]:
        """Every live session under the prefix, by id."""
        with _wrap_errors("all", None):
            keys = self._scan()
            found: dict[str, Record] = {}
            for start in range(0, len(keys), BATCH):
                batch = keys[start : start + BATCH]
                values = self._c.mget_nonatomic(batch) if self._cluster else self._c.mget(batch)
                found.update(self._collect(batch, values))
        return found

    def length(self) -> int:
        with _wrap_errors("length", None):
            return len(self._scan())

    def clear(self) -> None:
        """Delete every key under the prefix (and nothing else). On a cluster, redis-py splits
        each ``DEL`` by hash slot, as a multi-key DEL across slots is refused."""
        with _wrap_errors("clear", None):
            keys = self._scan()
            for start in range(0, len(keys), BATCH):
                self._c.delete(*keys[start : start + BATCH])

    def sessions_of(self, user: str) -> dict[str, Record]:
        """The live sessions in ``user``'s set, by id; stale members are dropped."""
        self._require_user_key()
        user_set = self._user_set(user)
        with _wrap_errors("sessions_of", None):
            members = list(self._c.smembers(user_set))
            if not members:
                return {}
            keys = [self._key(m.decode("utf-8", "surrogateescape")) for m in members]
            values = self._c.mget_nonatomic(keys) if self._cluster else self._c.mget(keys)
            found, stale = self._members(user, members, values)
            if stale:
                self._c.srem(user_set, *stale)
        return found

    def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Delete every live session of ``user`` except ``keep``; returns how many."""
        victims = [sid for sid in self.sessions_of(user) if sid != keep]
        if victims:
            with _wrap_errors("destroy_user", None):
                self._c.delete(*[self._key(sid) for sid in victims])
                self._c.srem(self._user_set(user), *victims)
        return len(victims)

    def _indexed(self, user_set: str, sid: str, ttl: int, write: Callable[[Any], Any]) -> Any:
        """Index ``sid`` under ``user_set`` and run ``write(client)``: one MULTI on a server
        (one round trip: the index script goes by EVALSHA, loaded again after a server
        restart), index first then the write on a cluster. Returns the write's result. Every
        write path of a record with a user goes through here (a ``set_if`` script too:
        ``write`` may queue it on the pipeline it is given; a write that did not happen leaves
        a stale member, which readers drop)."""
        if self._cluster:
            self._index_script(keys=[user_set], args=[sid, ttl])
            return write(self._c)
        for attempt in range(2):
            pipe = self._c.pipeline(transaction=True)
            pipe.evalsha(_INDEX_SHA, 1, user_set, sid, ttl)
            write(pipe)
            try:
                return pipe.execute()[1]
            except NoScriptError:  # the server forgot the script (restart, SCRIPT FLUSH)
                if attempt:
                    raise
                self._c.script_load(_INDEX_LUA)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the store's own connections, and the client if ``from_url`` created it; a
        client you passed in stays yours."""
        if self._lane is not None:
            self._lane.close()
        if self._owns_client:
            self._c.close()

    @property
    def _c(self) -> Any:
        # redis-py's return types are a sync/async union; the store knows which side it is on.
        return self.client

    def _scan(self) -> list[bytes | str]:
        # SCAN may repeat keys; RedisCluster.scan_iter walks every primary.
        return list(dict.fromkeys(self._c.scan_iter(match=self._pattern, count=SCAN_COUNT)))


class AsyncRedisStore(_RedisBase):
    """The same store on ``redis.asyncio.Redis`` / ``redis.asyncio.cluster.RedisCluster``.

    redis-py's asyncio clients connect lazily, in the loop that runs the first command, so a
    store may be built before the loop starts; it then belongs to that loop, like its client.
    """

    def __init__(
        self, client: AsyncClient, *, prefix: str = "sess:", clock: Clock | None = None
    ) -> None:
        super().__init__(prefix, clock)
        given: object = client
        if isinstance(given, (redis.Redis, redis.cluster.RedisCluster)):
            raise ConfigError("client", "this is a synchronous client: use RedisStore")
        self.client = client
        self._cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._index_script = client.register_script(_INDEX_LUA)
        self._lane = _AsyncLane(client) if _AsyncLane.fits(client) else None
        #: One command, one reply: the hot path's single way to the wire.
        self._call: Callable[..., Awaitable[Any]] = self._lane or self._client_call

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "sess:",
        clock: Clock | None = None,
        cluster: bool = False,
        **client_options: Any,
    ) -> AsyncRedisStore:
        """A store that owns its client (closed by ``aclose()``); ``cluster=True`` for a
        Redis Cluster URL."""
        client: AsyncClient
        if cluster:
            client = redis.asyncio.cluster.RedisCluster.from_url(url, **client_options)
        else:
            client = redis.asyncio.Redis.from_url(url, **client_options)
        store = cls(client, prefix=prefix, clock=clock)
        store._owns_client = True
        return store

    async def get(self, sid: str) -> Record | None:
        with _wrap_errors("get", sid):
            try:
                raw = await self._call("GET", self._key(sid))
            except ResponseError as exc:
                raw = _wrong_type(exc)
        record = self._decode(sid, raw)
        if record is None and raw is not None:
            await self._discard(sid, raw)
        return record

    async def set(self, sid: str, record: Mapping[str, Any]) -> None:
        value = encode_record(record)
        ttl = self._ttl_ms(record)
        with _wrap_errors("set", sid):
            if ttl <= 0:
                await self._call("DEL", self._key(sid))
            elif (user_set := self._record_user_set(record)) is not None:
                client = await self._ready()
                await self._indexed(
                    client, user_set, sid, ttl, lambda c: c.set(self._key(sid), value, px=ttl)
                )
            else:
                await self._call("SET", self._key(sid), value, "PX", ttl)

    async def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        ttl = self._ttl_ms(record)
        with _wrap_errors("touch", sid):
            if ttl > 0 and (user_set := self._record_user_set(record)) is not None:
                client = await self._ready()
                await self._indexed(
                    client, user_set, sid, ttl, lambda c: c.pexpire(self._key(sid), ttl)
                )
            else:
                await self._call("PEXPIRE", self._key(sid), ttl)

    async def destroy(self, sid: str) -> None:
        with _wrap_errors("destroy", sid):
            await self._call("DEL", self._key(sid))

    async def raw_get(self, sid: str) -> bytes | None:
        with _wrap_errors("get", sid):
            raw = await self._call("GET", self._key(sid))
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw

    async def raw_set(self, sid: str, data: bytes) -> None:
        with _wrap_errors("set", sid):
            await self._call("SET", self._key(sid), data, "PX", self._raw_ttl(data))

    # -- concurrency capabilities (see RedisStore) ---------------------------------------------

    async def get_versioned(self, sid: str) -> Versioned | None:
        sent = self._clock()
        with _wrap_errors("get", sid):
            reply = await self._eval(GET_VERSIONED, 1, self._key(sid))
        return await self._read_versioned(sid, reply, sent)

    async def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        args, index = self._set_if_args(sid, record, version, unlock)
        with _wrap_errors("set", sid):
            if index is not None:
                await self._index_script(keys=[index[0]], args=[sid, index[1]])
            return bool(await self._eval(SET_IF, *args))

    async def lock(self, sid: str, ttl: float) -> str | None:
        token, ms = _token(), _ms(ttl, "ttl")
        with _wrap_errors("lock", sid):
            taken = await self._call("SET", lock_key(self._key(sid)), token, "NX", "PX", ms)
        return token if taken else None

    async def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        args, index = self._unlock_args(sid, token, touch)
        with _wrap_errors("unlock", sid):
            if index is not None:
                await self._index_script(keys=[index[0]], args=[sid, index[1]])
            await self._eval(UNLOCK, *args)

    async def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        token, ms = _token(), _ms(ttl, "ttl")
        key = self._key(sid)
        sent = self._clock()
        with _wrap_errors("lock", sid):
            reply = await self._eval(GET_LOCKED, 2, key, lock_key(key), token, ms)
        if reply is None:
            return None, None
        return token, await self._read_versioned(sid, reply, sent)

    async def _read_versioned(self, sid: str, reply: Any, sent: datetime) -> Versioned | None:
        found = self._versioned(sid, reply, sent)
        if found is None and reply[0] is not None:
            await self._discard(sid, reply[0])
        return found

    async def _discard(self, sid: str, raw: bytes | str) -> None:
        """``RedisStore._discard``."""
        try:
            with _wrap_errors("destroy", sid):
                await self._eval(DISCARD, 1, self._key(sid), raw)
        except StoreError as exc:
            logger.warning("redis store: could not destroy an invalid record: %s", exc)

    async def _eval(self, script: Script, *args: Any) -> Any:
        try:
            return await self._call("EVALSHA", script.sha, *args)
        except NoScriptError:
            return await self._call("EVAL", script.text, *args)

    async def _client_call(self, *args: Any) -> Any:
        return await (await self._ready()).execute_command(*args)

    async def all(self) -> dict[str, Record]:
        with _wrap_errors("all", None):
            client = await self._ready()
            keys = await self._scan(client)
            found: dict[str, Record] = {}
            for start in range(0, len(keys), BATCH):
                batch = keys[start : start + BATCH]
                if self._cluster:
                    values = await client.mget_nonatomic(batch)
                else:
                    values = await client.mget(batch)
                found.update(self._collect(batch, values))
        return found

    async def length(self) -> int:
        with _wrap_errors("length", None):
            return len(await self._scan(await self._ready()))

    async def clear(self) -> None:
        with _wrap_errors("clear", None):
            client = await self._ready()
            keys = await self._scan(client)
            for start in range(0, len(keys), BATCH):
                await client.delete(*keys[start : start + BATCH])

    async def sessions_of(self, user: str) -> dict[str, Record]:
        """The live sessions in ``user``'s set, by id; stale members are dropped."""
        self._require_user_key()
        user_set = self._user_set(user)
        with _wrap_errors("sessions_of", None):
            client = await self._ready()
            members = list(await client.smembers(user_set))
            if not members:
                return {}
            keys = [self._key(m.decode("utf-8", "surrogateescape")) for m in members]
            if self._cluster:
                values = await client.mget_nonatomic(keys)
            else:
                values = await client.mget(keys)
            found, stale = self._members(user, members, values)
            if stale:
                await client.srem(user_set, *stale)
        return found

    async def destroy_user(self, user: str, keep: str | None = None) -> int:
        """Delete every live session of ``user`` except ``keep``; returns how many."""
        victims = [sid for sid in await self.sessions_of(user) if sid != keep]
        if victims:
            with _wrap_errors("destroy_user", None):
                client = await self._ready()
                await client.delete(*[self._key(sid) for sid in victims])
                await client.srem(self._user_set(user), *victims)
        return len(victims)

    async def _indexed(
        self, client: Any, user_set: str, sid: str, ttl: int, write: Callable[[Any], Any]
    ) -> Any:
        """``RedisStore._indexed`` for asyncio clients."""
        if self._cluster:
            await self._index_script(keys=[user_set], args=[sid, ttl])
            return await write(client)
        for attempt in range(2):
            pipe = client.pipeline(transaction=True)
            pipe.evalsha(_INDEX_SHA, 1, user_set, sid, ttl)
            write(pipe)
            try:
                return (await pipe.execute())[1]
            except NoScriptError:
                if attempt:
                    raise
                await client.script_load(_INDEX_LUA)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        """Close the client if ``from_url`` created it; a client you passed in stays yours."""
        if self._owns_client:
            await self._client.aclose()

    @property
    def _client(self) -> Any:
        return self.client

    async def _ready(self) -> Any:
        """The client, safe for many first commands at once. redis-py's asyncio RedisCluster
        discovers the cluster on first use, and concurrent first commands can race that
        discovery (redis-py 8.1: AttributeError from a connection replaced mid-handshake).
        Initialising explicitly first avoids it; once done it is a flag check."""
        if self._cluster:
            await self._client.initialize()
        return self._client

    async def _scan(self, client: Any) -> list[bytes | str]:
        keys: dict[bytes | str, None] = {}
        async for key in client.scan_iter(match=self._pattern, count=SCAN_COUNT):
            keys[key] = None
        return list(keys)
