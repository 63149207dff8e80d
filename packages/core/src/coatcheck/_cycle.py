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
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from . import _decide
from ._config import SessionConfig
from ._cookies import cookie_values
from ._errors import sid_prefix
from ._operations import Decision, StoreDestroy, StoreGet, StoreOperation, StoreSet, StoreTouch
from ._request import RequestReceived, is_secure, js_time, path_matches
from ._session import Session, SessionNotFound
from ._session_cookie import SessionCookie
from ._signing import sign_session_id, unsign_cookie_value
from .stores._codec import to_json

logger = logging.getLogger("coatcheck")

S = TypeVar("S", bound=Session)


class Phase(enum.Enum):
    """Where the cycle is; each method checks it, so misuse fails loudly (as in h11)."""

    OUT_OF_SCOPE = "out of scope"  # cookie path does not match: no session at all
    STARTED = "started"  # waiting for begin()
    LOADING = "loading"  # begin() asked for a StoreGet; waiting for loaded()
    ACTIVE = "active"  # the app has the session
    DECIDED = "decided"  # decide() ran; only late saves remain


class CycleStateError(RuntimeError):
    """A cycle method was called in the wrong phase (a bug in the caller)."""


def data_hash(data: Mapping[str, Any]) -> str:
    """express's ``hash(sess)``: SHA-1 of the JSON of the data, cookie excluded, order kept."""
    plain = dict(dict.items(data)) if isinstance(data, dict) else dict(data)  # no access tracking
    text = to_json(plain)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class SessionCycle(Generic[S]):
    """The session state machine for one request."""

    session: S

    def __init__(
        self,
        config: SessionConfig,
        request: RequestReceived,
        session_class: type[S] = Session,  # type: ignore[assignment]
    ) -> None:
        self.config = config
        self.request = request
        self.now: datetime = request.now
        self._session_class = session_class
        self._cookie_options = config.cookie_options_for(request.request)
        self.in_scope = path_matches(request.path, self._cookie_options.path)
        self.phase = Phase.STARTED if self.in_scope else Phase.OUT_OF_SCOPE
        self.secure = is_secure(request, config.proxy)
        values = cookie_values(request.cookie_header, config.name) if self.in_scope else []
        #: the request carried a cookie of our name (verified or not)
        self.had_cookie = bool(values)
        #: the first cookie value whose signature verifies (express takes the first, #881)
        self.cookie_id: str | None = next(
            (sid for sid in (unsign_cookie_value(v, config.signer) for v in values) if sid),
            None,
        )
        if values and self.cookie_id is None:
            logger.debug("cookie unsigned or signature invalid")
        self.session_id: str = ""
        self.cookie = SessionCookie(self._clock)
        self._cookie_index = 0
        self._original_id: str | None = None
        self._original_hash: str | None = None
        self._saved_id: str | None = None
        self._saved_hash: str | None = None
        self._explicitly_saved_id: str | None = None
        self._decided_hash: str | None = None
        self.destroyed = False
        self.unset = False

    # -- helpers -------------------------------------------------------------------------------
    def _clock(self) -> datetime:
        return self.now

    @property
    def id_prefix(self) -> str:
        """The session id as it may appear in logs."""
        return sid_prefix(self.session_id) if isinstance(self.session_id, str) else "?"

    def _expect(self, *phases: Phase) -> None:
        if self.phase not in phases:
            wanted = " or ".join(p.value for p in phases)
            raise CycleStateError(f"session cycle is {self.phase.value}, expected {wanted}")

    def record(self) -> dict[str, Any]:
        """The session as express stores it: ``cookie`` (first for new sessions) and the data."""
        items = list(dict.items(self.session))
        items.insert(min(self._cookie_index, len(items)), ("cookie", self.cookie.to_json()))
        return dict(items)

    # -- loading -------------------------------------------------------------------------------
    def begin(self) -> StoreGet | None:
        """Start: a ``StoreGet`` for the cookie's id, or ``None`` (a new session was made)."""
        self._expect(Phase.STARTED)
        self.session = self._session_class(self)
        if self.cookie_id is None:
            logger.debug("no SID sent, generating session")
            self._generate()
            self.phase = Phase.ACTIVE
            return None
        logger.debug("fetching %s", sid_prefix(self.cookie_id))
        self.phase = Phase.LOADING
        return StoreGet(self.cookie_id)

    def loaded(self, record: Mapping[str, Any] | None) -> S:
        """The store's answer to ``begin()``'s ``StoreGet``; returns the session."""
        self._expect(Phase.LOADING)
        assert self.cookie_id is not None
        self.phase = Phase.ACTIVE
        if record is None:
            logger.debug("no session found")
            self._generate()
        elif not self._inflate(self.cookie_id, record):
            self._generate()
        return self.session

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
        self._original_hash = data_hash(self.session)
        self._saved_id = self._saved_hash = None

    def _inflate(self, sid: str, record: Mapping[str, Any]) -> bool:
        """express ``createSession``; False (and a WARNING) if the record is not a session.

        Expiry is the store's job, as in express: connect-redis's ``touch`` extends the key's TTL
        but leaves the stored ``cookie.expires`` behind, so a live record may carry a past date.
        """
        cookie_json = record.get("cookie") if isinstance(record, Mapping) else None
        try:
            if not isinstance(cookie_json, Mapping):
                raise ValueError("no 'cookie' object")
            cookie = SessionCookie.from_json(cookie_json, self._clock)
            data = {k: v for k, v in record.items() if k != "cookie"}
            original_hash = data_hash(data)
        except (ValueError, TypeError) as exc:
            logger.warning(
                "stored session %s is invalid (%s); starting fresh", sid_prefix(sid), exc
            )
            return False
        self.session_id = sid
        self.cookie = cookie
        self._cookie_index = list(record).index("cookie")
        self.session._replace_data(data)
        self._original_id = sid
        self._original_hash = original_hash
        if not self.config.resave:  # express: a loaded session counts as saved unless resave
            self._saved_id, self._saved_hash = sid, original_hash
        return True

    # -- express's session methods (pure halves; drivers run the operations) --------------------
    def regenerate(self, *, keep_data: bool = False) -> list[StoreOperation]:
        """New id; destroy the old one. ``keep_data`` carries the data over (Django's cycle_key)."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        old_id, data = self.session_id, dict(dict.items(self.session))
        logger.debug("regenerating session %s", self.id_prefix)
        already_destroyed, self.destroyed, self.unset = self.destroyed, False, False
        original = (self._original_id, self._original_hash)
        self._generate()
        # express's store.generate leaves originalId alone, so a regenerated session always
        # counts as modified: saved and sent at the end whatever save_uninitialized says.
        self._original_id, self._original_hash = original
        if keep_data:
            self.session._replace_data(data)
        # after destroy() the old id is gone already: the store is asked once
        return [StoreDestroy(old_id)] if isinstance(old_id, str) and not already_destroyed else []

    def destroy(self) -> list[StoreOperation]:
        """Forget the session: store destroy now, clearing cookie at the end."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        logger.debug("destroying session %s", self.id_prefix)
        self.destroyed = True
        self.session._replace_data({})
        return [StoreDestroy(self.session_id)] if isinstance(self.session_id, str) else []

    def reload(self) -> list[StoreOperation]:
        """Ask for the stored copy; hand the result to ``reloaded``."""
        self._expect(Phase.ACTIVE)
        self.session.accessed = True
        return [StoreGet(self.session_id)]

    def reloaded(self, record: Mapping[str, Any] | None) -> None:
        """Replace data and cookie with the stored copy (hashes unchanged, as in express)."""
        self._expect(Phase.ACTIVE)
        if record is None or not self._reinflate(record):
            raise SessionNotFound("failed to load session")

    def _reinflate(self, record: Mapping[str, Any]) -> bool:
        original = (self._original_id, self._original_hash, self._saved_id, self._saved_hash)
        ok = self._inflate(self.session_id, record)
        self._original_id, self._original_hash, self._saved_id, self._saved_hash = original
        return ok

    def save(self) -> list[StoreOperation]:
        """An explicit save: write now and remember it so the end does not write again."""
        self._expect(Phase.ACTIVE, Phase.DECIDED)
        if self.destroyed or not isinstance(self.session_id, str):
            return []
        self._saved_id, self._saved_hash = self.session_id, data_hash(self.session)
        self._explicitly_saved_id = self.session_id
        logger.debug("saving %s", self.id_prefix)
        return [StoreSet(self.session_id, self.record())]

    def touch(self) -> None:
        """express ``touch``: reset ``max_age``; no store call."""
        self.cookie.reset_max_age()

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
            rolling=self.config.rolling,
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
        if self.destroyed:
            # DIFFERENCE: express leaves the cookie; we expire it (express #241), and an
            # ``unset="destroy"`` does not destroy a second time.
            clearing = self.cookie.serialize_clearing(name) if self.had_cookie else None
            return self._decided(Decision(clearing, (), vary_cookie=True), "clearing Set-Cookie")
        if self.unset:
            if self.config.unset == "destroy" and isinstance(self.session_id, str):
                logger.debug("unset: destroying %s", self.id_prefix)
                return self._decided(Decision(None, (StoreDestroy(self.session_id),), True))
            return self._decided(Decision(None, (), vary_cookie=True))
        current_hash = data_hash(self.session)
        facts = self.facts(current_hash)
        self.touch()  # express touches at header time / end, before saving or serialising
        set_cookie = None
        cookie_note = "no Set-Cookie"
        if _decide.should_set_cookie(facts):
            if self.cookie.secure and not self.secure:
                logger.debug("not secured")
                cookie_note = "no Set-Cookie (not secured)"
            else:
                cookie_note = "Set-Cookie"
                value = sign_session_id(self.session_id, self.config.signer)
                set_cookie = self.cookie.serialize(name, value)
        operations: list[StoreOperation] = []
        if _decide.should_save(facts):
            logger.debug("saving %s", self.id_prefix)
            self._saved_id, self._saved_hash = self.session_id, current_hash
            operations.append(StoreSet(self.session_id, self.record()))
        elif self.config.store_implements_touch and _decide.should_touch(facts):
            logger.debug("touching %s", self.id_prefix)
            operations.append(StoreTouch(self.session_id, self.record()))
        self._decided_hash = current_hash
        vary = self.session.accessed or set_cookie is not None
        return self._decided(Decision(set_cookie, tuple(operations), vary), cookie_note)

    def _decided(self, decision: Decision, cookie_note: str = "no Set-Cookie") -> Decision:
        """Log the decision (id prefix only, as everywhere) and hand it back."""
        calls = [type(op).__name__.removeprefix("Store").lower() for op in decision.operations]
        logger.debug(
            "decided %s: %s, %s", self.id_prefix, cookie_note, ", ".join(calls) or "no store call"
        )
        return decision

    def late_operations(self) -> list[StoreOperation]:
        """After the headers went out: save again if a streaming handler changed the data."""
        self._expect(Phase.DECIDED)
        if self.destroyed or self.unset or not isinstance(self.session_id, str):
            return []
        current_hash = data_hash(self.session)
        already_saved = _decide.is_saved(self.facts(current_hash))  # e.g. a late explicit save()
        if current_hash == self._decided_hash or already_saved:
            return []
        logger.debug("session %s changed after the headers; saving again", self.id_prefix)
        self._decided_hash = self._saved_hash = current_hash
        self._saved_id = self.session_id
        return [StoreSet(self.session_id, self.record())]
