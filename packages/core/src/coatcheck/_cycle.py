"""One request/response cycle of a session: the sans-I/O engine.

Feed it the request's facts (``RequestReceived``), then what the store returned; it hands back
the session for the app and, at the end, a ``Decision``. It never calls a store or reads a clock:
store work comes out as operations (``StoreGet`` ...) for a driver to run, and time comes in.

    cycle = SessionCycle(config, RequestReceived(now=..., cookie_header=..., path=...))
    if cycle.in_scope:
        op = cycle.begin()                          # StoreGet, or None for a new visitor
        if op: cycle.loaded(store.get(op.sid))
        app(cycle.session)
        decision = cycle.decide()                   # Set-Cookie + store operations

In ``"merge"`` and ``"lock"`` modes (DESIGN "Concurrency") the writes are conditional (see
``_conflicts``): the driver hands their results back to ``outcome()``, which may answer with more
operations (a reload and the write again with this request's own changes re-applied), or with
none when the session was deleted meanwhile (``Decision.interrupted``: a logout is never undone).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from . import _decide
from ._config import SessionConfig
from ._conflicts import ConditionalWrites, CycleStateError, Phase, unpack
from ._errors import InvalidRecordError, SessionGone, sid_prefix
from ._lifetime import META_KEY, UNREPORTED, StoredExpiry, created_at, meta_with, touch_due
from ._merge import data_json, stored_data
from ._operations import (
    Decision,
    StoreDestroy,
    StoreGet,
    StoreGetVersioned,
    StoreLock,
    StoreOperation,
    StoreTouch,
    StoreUnlock,
)
from ._request import RequestReceived, is_secure, js_time, path_matches
from ._session import Session, SessionNotFound
from ._session_cookie import SessionCookie
from ._signing import sign_session_id
from .stores._codec import (
    META_ENTRY,
    RECORD_HEAD,
    EncodedRecord,
    cookie_json,
    is_mapping,
    to_json,
)

logger = logging.getLogger("coatcheck")

S = TypeVar("S", bound=Session)
R = TypeVar("R", bound=dict[str, Any])


#: Values that cannot change without the session itself being written (no nested mutation).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _scalar_items(data: dict[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The data's items if every value is an immutable scalar, else ``None``.

    Such data can only change through the session's own methods, which replace a key's value
    object: when the same key and value objects are still there, the JSON (and its hash) is
    the same, so the late save's hash can be skipped. A nested value (a list or dict the app
    kept a reference to) can change in place, so then the data is hashed as before.
    """
    items = tuple(dict.items(data))
    for _, value in items:
        if type(value) not in _SCALARS:
            return None
    return items


def _same_items(items: tuple[tuple[str, Any], ...], data: dict[str, Any]) -> bool:
    """``data`` still holds exactly these key and value objects, in this order."""
    if len(items) != dict.__len__(data):
        return False
    return all(k is k2 and v is v2 for (k, v), (k2, v2) in zip(items, dict.items(data)))


def data_hash(data: Mapping[str, Any]) -> str:
    """What express's ``hash(sess)`` stands for: the JSON of the data, cookie excluded, order
    kept. express compares SHA-1 hashes of this text; comparing the texts themselves is the
    same test, exact, and cheaper than hashing them (the text is kept anyway, as the merge
    base and for the late save). The cycle's ``*_hash`` values are such texts."""
    return data_json(data)


#: ``data_hash({})``: a new session's data.
_EMPTY_HASH = "{}"


class SessionCycle(ConditionalWrites, Generic[S]):
    """The session state machine for one request."""

    session: S

    # Per-cycle state whose starting value is the same for every request lives here, as class
    # attributes: a cycle sets only what this request changes (one allocation per request).
    session_id: str = ""
    _cookie_index = 0
    # Lifetimes and ids at rest (DESIGN): the record's "_coatcheck" object, carried along; the
    # creation time (only with max_lifetime); the expiry the store reported at load; the keys
    # still to try and, if the record was found under an older secret's key, that key
    # (destroyed once the session is written under the current one).
    _meta: dict[str, Any] | None = None
    _created: datetime | None = None
    _stored_expiry: StoredExpiry = UNREPORTED
    _lookup_index = 0
    _key: tuple[str, str] = ("", "")  # (id, its store key): one HMAC per id
    _stale_key: str | None = None
    #: store work the driver runs right after loading (an expired record's destroy, or the
    #: lookup under the next secret's key); see ``next_load_operation``
    _load_operations: tuple[StoreOperation, ...] = ()
    _original_id: str | None = None
    _original_hash: str | None = None
    _saved_id: str | None = None
    _saved_hash: str | None = None
    _explicitly_saved_id: str | None = None
    _decided_hash: str | None = None  # the data's JSON at the decision (late saves compare it)
    #: the data at the decision when every value is an immutable scalar (see _scalar_items)
    _decided_items: tuple[tuple[str, Any], ...] | None = None
    destroyed = False
    unset = False
    _resend = False  # send the cookie at the end whatever express's rules say
    _discarded = False  # the response failed: nothing is saved or sent

    def __init__(
        self,
        config: SessionConfig,
        request: RequestReceived,
        session_class: type[S] = Session,  # type: ignore[assignment]
        *,
        locking: bool = False,
    ) -> None:
        """``locking=True`` (what the drivers pass) takes the session's lock in ``"lock"`` mode;
        a cycle built without a driver (Django's ``SessionStore(key)``) never locks."""
        self.config = config
        self.request = request
        self.now: datetime = request.now
        self._session_class = session_class
        self._cookie_options = options = config.cookie_options_for(request.request)
        self.in_scope = in_scope = path_matches(request.path, options.path)
        self.phase = Phase.STARTED if in_scope else Phase.OUT_OF_SCOPE
        self.secure = is_secure(request, config.proxy)
        #: ``had_cookie``: the request carried a cookie of our name (verified or not);
        #: ``cookie_id``: the first of them whose signature verifies (express takes the
        #: first, #881), among the first MAX_COOKIE_CANDIDATES (a flood is not all checked)
        self.had_cookie, self.cookie_id = (
            config.cookie_ids.read(request.cookie_header) if in_scope else (False, None)
        )
        if self.had_cookie and self.cookie_id is None:
            logger.debug("cookie unsigned or signature invalid")
        self.cookie = SessionCookie(self._clock)
        self._init_conditional_writes(config, locking=locking)

    # -- helpers -------------------------------------------------------------------------------
    def _clock(self) -> datetime:
        return self.now

    @property
    def id_prefix(self) -> str:
        """The session as it may appear in logs: a prefix of its store key (with ``"hmac"``
        ids at rest, never of the id)."""
        sid = self.session_id
        return sid_prefix(self.store_key(sid)) if isinstance(sid, str) else "?"

    def store_key(self, sid: str) -> str:
        """The key the store knows ``sid`` by (``id_at_rest``); the id itself by default."""
        if self.config.id_at_rest == "plain":
            return sid
        if self._key[0] != sid:
            self._key = (sid, self.config.ids_at_rest.key(sid))
        return self._key[1]

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            wanted = " or ".join(p.value for p in phases)
            raise CycleStateError(f"session cycle is {self.phase.value}, expected {wanted}")

    def record(self) -> dict[str, Any]:
        """The session as express stores it: ``cookie`` (first for new sessions) and the data,
        plus the reserved ``_coatcheck`` object right after the cookie when there is one."""
        return self._fill_record({})

    def _fill_record(self, record: R) -> R:
        """``record()``'s items put into ``record`` (an empty dict), in their order."""
        meta = self._meta_to_store()
        if self._cookie_index == 0:  # cookie first: no list to build and splice
            record["cookie"] = self.cookie.to_json()
            if meta is not None:
                record[META_KEY] = meta
            record.update(dict.items(self.session))  # untracked: the app did not read it
            return record
        items = list(dict.items(self.session))
        at = min(self._cookie_index, len(items))
        if meta is not None:
            items.insert(at, (META_KEY, meta))
        items.insert(at, ("cookie", self.cookie.to_json()))
        record.update(items)
        return record

    def encoded_record(self, text: str) -> dict[str, Any]:
        """``record()``, carrying its JSON text when it can be spliced from ``text`` (the JSON of
        the data as it is now, just computed to hash it): the store then writes that text
        instead of encoding the whole record again. Anything odd (the cookie not first, a
        cookie that does not encode) is left to the store's own encoding, errors included."""
        record = self._fill_record(EncodedRecord())
        if self._cookie_index != 0 or text[:1] != "{":
            return record
        meta = record.get(META_KEY)
        try:
            head = RECORD_HEAD + cookie_json(record["cookie"])
            if meta is not None:
                head += META_ENTRY + to_json(meta)
        except InvalidRecordError:
            return record
        record.json = head + ("}" if text == "{}" else "," + text[1:])
        return record

    def _meta_to_store(self) -> dict[str, Any] | None:
        lifetime = self.config.max_lifetime
        if lifetime is None or self._created is None:
            return self._meta  # carried along untouched (the option may be off here only)
        return meta_with(self._meta, self._created, lifetime)

    def _deadline(self) -> datetime | None:
        lifetime = self.config.max_lifetime
        if lifetime is None or self._created is None:
            return None
        return self._created + timedelta(seconds=lifetime)

    # -- loading -------------------------------------------------------------------------------
    def begin(self) -> StoreGet | StoreGetVersioned | StoreLock | None:
        """Start: the read of the cookie's id, or ``None`` (a new session was made).

        ``StoreGet`` (``"none"``), ``StoreGetVersioned`` (``"merge"``, and ``"lock"`` without a
        driver) or ``StoreLock`` (``"lock"``; the driver polls until it gets the lock).
        """
        self._expect(Phase.STARTED)
        self.session = self._session_class(self)
        if self.cookie_id is None:
            logger.debug("no SID sent, generating session")
            self._generate()
            self.phase = Phase.ACTIVE
            return None
        key = self.store_key(self.cookie_id)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("fetching %s", sid_prefix(key))
        self.phase = Phase.LOADING
        return self._read(key, first=True)

    def _read(self, key: str, *, first: bool = False) -> StoreGet | StoreGetVersioned | StoreLock:
        if first and self._locking:  # the lock is always the current key's
            return StoreLock(key, self.config.lock_ttl)
        return StoreGetVersioned(key) if self._versioned else StoreGet(key)

    def loaded(
        self,
        result: Any,
        *,
        expires_at: StoredExpiry = UNREPORTED,
        lock_token: str | None = None,
    ) -> S:
        """The store's answer to the last read; returns the session.

        ``result`` is a record (``get``), or a ``Versioned`` / ``(record, version)`` pair
        (``get_versioned``; its ``expires_at`` counts when ``expires_at`` is not given), or
        ``None``. ``expires_at`` is the record's expiry as the store reports it
        (``touch_after``). ``lock_token``: the lock ``StoreLock`` took, held until the final
        write (or ``abort()``). With ``"hmac"`` ids and several secrets a miss may ask for the
        next key: drivers then run ``next_load_operation()`` until it is ``None``.
        """
        self._expect(Phase.LOADING)
        assert self.cookie_id is not None
        if lock_token is not None:
            self._lock = (self.store_key(self.cookie_id), lock_token)
        record, version, reported = unpack(result)
        if expires_at is UNREPORTED:
            expires_at = reported
        ids = self.config.ids_at_rest
        if record is None and self._lookup_index + 1 < ids.key_count:
            self._lookup_index += 1  # not under this secret's key: try the next (older) one
            self._load_operations += (self._read(ids.key_for(self.cookie_id, self._lookup_index)),)
            return self.session
        found_key = (
            ids.key_for(self.cookie_id, self._lookup_index)
            if self._lookup_index
            else self.store_key(self.cookie_id)
        )
        self.phase = Phase.ACTIVE
        if record is None:
            logger.debug("no session found")
            self._generate()
        elif not self._inflate(self.cookie_id, record):
            self._generate()
            logger.debug("destroying the unusable record of %s", sid_prefix(self.cookie_id))
            self._load_operations += (StoreDestroy(found_key),)  # not read again
        elif self._past_max_lifetime():
            logger.debug("session %s is past max_lifetime; destroying it", self.id_prefix)
            self._load_operations += (StoreDestroy(found_key),)
            self._generate()
        else:
            self._stored_expiry = expires_at
            # A plain record in a versioned mode (a server calling store.get itself): the
            # version is unknown, so the write re-reads it first.
            self._version_key, self._version = found_key, version
            if self.config.max_lifetime is not None and self._created is None:
                # written before max_lifetime was set (or by Node after a regenerate): its
                # lifetime starts now, and it is saved at the end so the stamp is stored
                self._created, self._saved_hash = self.now, None
            if self._lookup_index:
                self._stale_key = found_key
                logger.debug("session %s found under an older secret's key", self.id_prefix)
                self._saved_hash = None  # so it is saved (under the current key) at the end
        return self.session

    def next_load_operation(self) -> StoreOperation | None:
        """Store work to run right after ``loaded()`` (hand a ``StoreGet``'s answer back to
        ``loaded()``); ``None`` when loading is done."""
        pending = self._load_operations
        if not pending:
            return None
        self._load_operations = pending[1:]
        return pending[0]

    def _past_max_lifetime(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and deadline <= self.now

    def _generate(self) -> None:
        """express ``generate``: a new id, empty data, a cookie from the options."""
        sid: Any = self.config.genid(self.request.request)
        if not isinstance(sid, str):
            logger.warning("genid returned %r, not a str: this session is never saved", type(sid))
        self.session_id = sid
        self.cookie = SessionCookie.from_options(self._cookie_options, self._clock, self.secure)
        self._cookie_index = 0
        self.session._replace_data({})
        self._original_id = sid
        self._original_hash = _EMPTY_HASH
        self._saved_id = self._saved_hash = None
        self._meta = None
        self._created = self.now if self.config.max_lifetime is not None else None
        self._stored_expiry = UNREPORTED
        self._version_key = self._version = None  # a new id: written only if absent
        self._snapshot_text, self._snapshot_cookie = "{}", None

    def _inflate(self, sid: str, record: Mapping[str, Any]) -> bool:
        """express ``createSession``; False (and a WARNING) if the record is not a session.

        Expiry is the store's job, as in express: connect-redis's ``touch`` extends the key's TTL
        but leaves the stored ``cookie.expires`` behind, so a live record may carry a past date.
        """
        cookie_json = record.get("cookie") if is_mapping(record) else None
        try:
            if not is_mapping(cookie_json):
                raise ValueError("no 'cookie' object")
            cookie = SessionCookie.from_json(cookie_json, self._clock)
            data = stored_data(record)
            text = to_json(data)
            original_hash = text
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            logger.warning(
                "stored session %s is invalid (%s); starting fresh", sid_prefix(sid), exc
            )
            return False
        self.session_id = sid
        self.cookie = cookie
        self._cookie_index = 0 if next(iter(record)) == "cookie" else list(record).index("cookie")
        self.session._replace_data(data)
        meta = record.get(META_KEY)
        self._meta = dict(meta) if meta is not None and is_mapping(meta) else None
        self._created = None if self.config.max_lifetime is None else created_at(meta)
        self._original_id = sid
        self._original_hash = original_hash
        self._snapshot_text, self._snapshot_cookie = text, cookie_json  # the merge base
        if not self.config.resave:  # express: a loaded session counts as saved unless resave
            self._saved_id, self._saved_hash = sid, original_hash
        return True

    # -- express's session methods (pure halves; drivers run the operations) --------------------
    def regenerate(self, *, keep_data: bool = False, renew: bool = False) -> list[StoreOperation]:
        """New id; destroy the old one. ``keep_data`` carries the data over (Django's cycle_key)
        and the creation time (``max_lifetime``: a re-login does not extend the absolute
        lifetime) unless ``renew``."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        old_id, data = self.session_id, dict(dict.items(self.session))
        logger.debug("regenerating session %s", self.id_prefix)
        already_destroyed, self.destroyed, self.unset = self.destroyed, False, False
        self.interrupted = False
        # after destroy() the old id is gone already: the store is asked once
        destroys = self._destroys(old_id) if not already_destroyed else []
        original = (self._original_id, self._original_hash)
        kept = (self._meta, self._created)
        self._generate()
        # express's store.generate leaves originalId alone, so a regenerated session always
        # counts as modified: saved and sent at the end whatever save_uninitialized says.
        self._original_id, self._original_hash = original
        if keep_data:
            self.session._replace_data(data)
            if not renew:
                self._meta, self._created = kept
        return destroys

    def _destroys(self, sid: Any) -> list[StoreOperation]:
        """Destroy ``sid`` under its key, and under the older secret's key it was found under."""
        if not isinstance(sid, str):
            return []
        stale, self._stale_key = self._stale_key, None
        destroys: list[StoreOperation] = [StoreDestroy(self.store_key(sid))]
        return [*destroys, StoreDestroy(stale)] if stale else destroys

    def _sets(
        self, text: str, *, unlock: str | None = None, strict: bool = False
    ) -> list[StoreOperation]:
        """Write the session (``text``: its data's JSON) under its (current) key; a record found
        under an older secret's key is moved: written first, then the old copy destroyed."""
        stale, self._stale_key = self._stale_key, None
        write = self._write(self.store_key(self.session_id), text, unlock=unlock, strict=strict)
        return [write, StoreDestroy(stale)] if stale else [write]

    def destroy(self) -> list[StoreOperation]:
        """Forget the session: store destroy now, clearing cookie at the end."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        logger.debug("destroying session %s", self.id_prefix)
        self.destroyed = True
        self.session._replace_data({})
        return self._destroys(self.session_id)

    def reload(self) -> list[StoreOperation]:
        """Ask for the stored copy; hand the result to ``reloaded``."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        return [self._read(self._stale_key or self.store_key(self.session_id))]

    def reloaded(self, result: Any) -> None:
        """Replace data and cookie with the stored copy (hashes unchanged, as in express)."""
        self._expect(Phase.ACTIVE)
        record, version, _ = unpack(result)
        if record is None or not self._reinflate(record):
            raise SessionNotFound("failed to load session")
        self._version_key = self._stale_key or self.store_key(self.session_id)
        self._version = version

    def _reinflate(self, record: Mapping[str, Any]) -> bool:
        original = (self._original_id, self._original_hash, self._saved_id, self._saved_hash)
        created = self._created
        ok = self._inflate(self.session_id, record)
        self._original_id, self._original_hash, self._saved_id, self._saved_hash = original
        self._created = self._created or created  # a record not stamped yet keeps our stamp
        return ok

    def save(self, *, strict: bool = False) -> list[StoreOperation]:
        """An explicit save: write now and remember it so the end does not write again.

        A session deleted elsewhere meanwhile is not written back (the cycle is then
        ``interrupted``); ``strict=True`` makes that raise ``SessionGone`` (Django's
        ``UpdateError``).
        """
        self._expect(Phase.ACTIVE, Phase.DECIDED)
        if self.interrupted:
            if strict:
                raise SessionGone(self.store_key(self.session_id))
            return []
        if self.destroyed or not isinstance(self.session_id, str):
            return []
        text = data_json(self.session)
        self._saved_id, self._saved_hash = self.session_id, text
        self._explicitly_saved_id = self.session_id
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("saving %s", self.id_prefix)
        return self._sets(text, strict=strict)

    def touch(self) -> None:
        """express ``touch``: reset ``max_age``; no store call."""
        self.cookie.reset_max_age()

    @property
    def stored(self) -> bool:
        """The current id has a record in the store: it was loaded from it, or this cycle wrote
        it (Django's ``session_key`` exists only then)."""
        sid = self.session_id
        return (
            not self.destroyed
            and not self.interrupted
            and isinstance(sid, str)
            and sid in (self.cookie_id, self._saved_id, self._explicitly_saved_id)
        )

    def resend_cookie(self) -> None:
        """Send the cookie at the end as ``rolling`` would, for this session only: a cookie
        attribute changed (Flask's ``permanent``), or Flask's refresh-each-request."""
        self._resend = True

    def discard(self) -> None:
        """The response failed (Django: a 5xx): save nothing and send no new cookie. Store
        effects already run (``save()``, ``destroy()``) stay, as does a destroyed session's
        expiring cookie."""
        self._discarded = True

    def set_unset(self) -> None:
        """The app removed the session (``scope["session"] = None``, ``del request.session``)."""
        self.unset = True

    def replace(self, data: Mapping[str, Any]) -> None:
        """The app assigned a plain mapping as the session: it becomes the data."""
        self.unset = False
        self.session.accessed = True
        self.session._replace_data(data)

    # -- the end -------------------------------------------------------------------------------
    def facts(self, current_hash: str) -> _decide.SessionFacts:
        """The inputs of the decision rules, now."""
        return _decide.SessionFacts(
            session_id=self.session_id,
            cookie_id=self.cookie_id,
            original_id=self._original_id,
            original_hash=self._original_hash,
            saved_id=self._saved_id,
            saved_hash=self._saved_hash,
            current_hash=current_hash,
            expires_set=self.cookie.expires is not None,
            explicitly_saved=self._explicitly_saved_id == self.session_id,
            resave=self.config.resave,
            rolling=self.config.rolling or self._resend,
            save_uninitialized=self.config.save_uninitialized,
        )

    def is_modified(self) -> bool:
        """express ``isModified``, now: the id or the data changed since creation/load."""
        return _decide.is_modified(self.facts(data_hash(self.session)))

    def decide(self, now: datetime | None = None) -> Decision:
        """The end of the request: Set-Cookie and the store operations to run before responding."""
        self._expect(Phase.ACTIVE)
        if now is not None:
            self.now = js_time(now)
        self.phase = Phase.DECIDED
        name = self.config.name
        if self.interrupted:  # an explicit save found the session deleted elsewhere
            return self._decided(self._interrupted(), "clearing Set-Cookie (interrupted)")
        if self.destroyed:
            # DIFFERENCE: express leaves the cookie; we expire it (express #241), and an
            # ``unset="destroy"`` does not destroy a second time.
            clearing = self.cookie.serialize_clearing(name) if self.had_cookie else None
            released = self._releasing(())
            decision = Decision(clearing, released, vary_cookie=True)
            return self._decided(decision, "clearing Set-Cookie")
        if self._discarded:
            released = self._releasing(())
            return self._decided(Decision(None, released, vary_cookie=self.session.accessed))
        if self.unset:
            if self.config.unset == "destroy" and isinstance(self.session_id, str):
                logger.debug("unset: destroying %s", self.id_prefix)
                destroys = self._releasing(tuple(self._destroys(self.session_id)))
                return self._decided(Decision(None, destroys, True))
            return self._decided(Decision(None, self._releasing(()), vary_cookie=True))
        current_text = data_json(self.session)
        facts = self.facts(current_text)
        self.cookie.reset_max_age()  # express touches at header time / end (touch())
        saving = _decide.should_save(facts)
        touching = not saving and self.config.store_implements_touch and _decide.should_touch(facts)
        if touching and self.config.touch_after is not None and not self._touch_due():
            # touch_after: the stored expiry is recent enough. With rolling the cookie is not
            # re-sent either, so the browser's expiry stays the store's.
            logger.debug("touch of %s skipped (touch_after)", self.id_prefix)
            touching = False
            facts = dataclasses.replace(facts, rolling=False)
        set_cookie = None
        cookie_note = "no Set-Cookie"
        if _decide.should_set_cookie(facts):
            if self.cookie.secure and not self.secure:
                logger.debug("not secured")
                cookie_note = "no Set-Cookie (not secured)"
            else:
                cookie_note = "Set-Cookie"
                set_cookie = self._set_cookie_value()
        operations: list[StoreOperation] = []
        key = self.store_key(self.session_id) if isinstance(self.session_id, str) else None
        lock = self._lock
        final_unlock = lock[1] if lock is not None and lock[0] == key else None
        if saving:
            self._saved_id, self._saved_hash = self.session_id, current_text
            operations.extend(self._sets(current_text, unlock=final_unlock))
        elif touching and key is not None:
            if final_unlock is not None:  # release and touch in one round trip
                operations.append(StoreUnlock(key, final_unlock, self.record()))
            else:
                operations.append(StoreTouch(key, self.record()))
        self._decided_hash = current_text
        self._decided_items = _scalar_items(self.session)
        vary = self.session.accessed or set_cookie is not None
        released = self._releasing(tuple(operations))
        return self._decided(Decision(set_cookie, released, vary), cookie_note)

    def _set_cookie_value(self) -> str:
        value = sign_session_id(self.session_id, self.config.signer)
        return self.cookie.serialize(self.config.name, value)

    def _touch_due(self) -> bool:
        """``touch_after``: does the stored expiry lag the one this touch gives by more?"""
        assert self.config.touch_after is not None
        return touch_due(
            self._stored_expiry,
            self.cookie.expires,
            self._deadline(),
            self.now,
            self.config.touch_after,
        )

    def _decided(self, decision: Decision, cookie_note: str = "no Set-Cookie") -> Decision:
        """Log the decision (id prefix only, as everywhere) and hand it back."""
        self._decision = decision
        if logger.isEnabledFor(logging.DEBUG):
            calls = [type(op).__name__.removeprefix("Store").lower() for op in decision.operations]
            logger.debug(
                "decided %s: %s, %s",
                self.id_prefix,
                cookie_note,
                ", ".join(calls) or "no store call",
            )
        return decision

    def late_operations(self) -> list[StoreOperation]:
        """After the headers went out: save again if a streaming handler changed the data."""
        self._expect(Phase.DECIDED)
        if (
            self.destroyed
            or self.unset
            or self.interrupted
            or self._discarded
            or not isinstance(self.session_id, str)
        ):
            return []
        decided_items = self._decided_items
        if decided_items is not None and _same_items(decided_items, self.session):
            return []  # the very same scalars as at the decision: nothing can have changed
        current_text = data_json(self.session)
        if current_text == self._decided_hash:
            return []  # the same data as at the decision
        if _decide.is_saved(self.facts(current_text)):  # e.g. a late explicit save()
            return []
        logger.debug("session %s changed after the headers; saving again", self.id_prefix)
        self._decided_hash = self._saved_hash = current_text
        self._saved_id = self.session_id
        return self._sets(current_text)
