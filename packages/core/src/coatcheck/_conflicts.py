"""Conditional writes: the half of the session cycle that ``"merge"`` and ``"lock"`` add.

DESIGN "Concurrency". A loaded session is written with ``set_if(key, record, version)`` and a
new one with ``set_if(key, record, None)`` (only if absent). The driver hands every conditional
operation's result back to ``outcome()``:

- a refused write of a loaded session is followed by a reload (``StoreGetVersioned``); the fresh
  copy gets this request's own top-level changes re-applied (``_merge``) and is written again,
  at most ``MAX_MERGE_RETRIES`` times (then ``SessionConflict``);
- a reload that finds nothing means the session was deleted elsewhere: nothing is written, the
  cycle is ``interrupted`` and the decision expires the cookie (a logout is never undone);
- a refused create means the new id is taken: one fresh id, once.

In ``"lock"`` mode the cycle also holds the session's lock (``_lock``) from the load to the final
write, which releases it (``set_if(unlock=...)``, ``unlock(touch=...)``), or ``abort()`` does.
``SessionCycle`` inherits this class; nothing here runs on the happy path but ``_write``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _merge
from ._errors import SessionConflict, SessionGone, StoreError, sid_prefix
from ._lifetime import UNREPORTED, StoredExpiry
from ._operations import (
    Decision,
    StoreGetVersioned,
    StoreOperation,
    StoreSet,
    StoreSetIf,
    StoreUnlock,
)
from ._session_cookie import SessionCookie
from .stores._codec import is_mapping, to_json

if TYPE_CHECKING:
    from datetime import datetime

    from ._config import SessionConfig
    from ._request import RequestReceived
    from ._session import Session

logger = logging.getLogger("coatcheck")

#: ``"merge"``: how many times a refused write is reloaded, re-applied and tried again.
MAX_MERGE_RETRIES = 3


class Phase(enum.Enum):
    """Where the cycle is; each method checks it, so misuse fails loudly (as in h11)."""

    OUT_OF_SCOPE = "out of scope"  # cookie path does not match: no session at all
    STARTED = "started"  # waiting for begin()
    LOADING = "loading"  # begin() asked for a read; waiting for loaded()
    ACTIVE = "active"  # the app has the session
    DECIDED = "decided"  # decide() ran; only late saves remain
    ABORTED = "aborted"  # abort(): the app failed; nothing is written


class CycleStateError(RuntimeError):
    """A cycle method was called in the wrong phase (a bug in the caller)."""


def unpack(result: Any) -> tuple[Any, str | None, StoredExpiry]:
    """A read's answer as ``(record, version, expires_at)``: a ``Versioned`` (or a third-party
    store's plain ``(record, version)`` pair) from ``get_versioned``, or a bare record."""
    if isinstance(result, tuple):
        reported = result[2] if len(result) > 2 else UNREPORTED
        return result[0], result[1], reported
    return result, None, UNREPORTED


class ConditionalWrites:
    """The concurrency state of one cycle and the answers to its conditional operations."""

    # -- provided by SessionCycle ----------------------------------------------------------------
    config: SessionConfig
    request: RequestReceived
    session: Session
    session_id: str
    cookie: SessionCookie
    phase: Phase
    had_cookie: bool
    _cookie_index: int
    _original_id: str | None
    _saved_id: str | None
    _saved_hash: str | None
    _explicitly_saved_id: str | None
    _decided_hash: str | None

    if TYPE_CHECKING:

        def record(self) -> dict[str, Any]: ...
        def encoded_record(self, text: str) -> dict[str, Any]: ...
        def store_key(self, sid: str) -> str: ...
        def _set_cookie_value(self) -> str: ...
        def _clock(self) -> datetime: ...

    # The state at the start of every cycle, as class attributes (see ``SessionCycle``).
    #: the session was deleted elsewhere: nothing is written, the cookie is expired
    interrupted = False
    _lock: tuple[str, str] | None = None  # (key, token) of the lock this cycle holds
    _version_key: str | None = None  # the store key whose version is tracked
    _version: str | None = None  # its version; None: unknown (re-read before writing)
    _snapshot_text = "{}"  # JSON of the data as stored at load/last write (merge base)
    _snapshot_cookie: Mapping[str, Any] | None = None  # the stored cookie then
    _writing_text = ""  # JSON of the data the write in flight carries
    _write_unlock: str | None = None  # the token the write in flight releases
    _strict = False  # the write in flight raises SessionGone (Django's UpdateError)
    _attempts = 0  # refused attempts of the write in flight
    _collided = False  # a new id was already taken once
    _decision: Decision | None = None

    def _init_conditional_writes(self, config: SessionConfig, *, locking: bool) -> None:
        self._versioned = config.versioned
        self._locking = locking and config.locking

    @property
    def decision(self) -> Decision:
        """The decision as it stands after the operations' outcomes (an id collision changes the
        cookie; a session deleted meanwhile expires it). Drivers return this one."""
        if self._decision is None:
            raise CycleStateError("session cycle has not decided yet")
        return self._decision

    @property
    def conflicts(self) -> int:
        """How many times the write in flight was refused for a newer version."""
        return self._attempts

    # -- issuing -------------------------------------------------------------------------------
    def _write(
        self, key: str, text: str, *, unlock: str | None = None, strict: bool = False
    ) -> StoreOperation:
        """The write of the session as it is now (``text``: its data's JSON) under ``key``.

        ``"none"`` (or a store without versions): a plain ``StoreSet``. Otherwise conditional: a
        new key only if absent, a loaded one only if still the version loaded; when that version
        is unknown (after this cycle's own write) it is read first.
        """
        if not self._versioned:
            return StoreSet(key, self.encoded_record(text))
        self._writing_text, self._write_unlock, self._strict = text, unlock, strict
        self._attempts = 0
        if self._version_key != key:
            return StoreSetIf(key, self.encoded_record(text), None, unlock)
        if self._version is None:
            return StoreGetVersioned(key)
        return StoreSetIf(key, self.encoded_record(text), self._version, unlock)

    def _releasing(self, operations: tuple[StoreOperation, ...]) -> tuple[StoreOperation, ...]:
        """``operations``, plus releasing the lock unless one of them already does."""
        lock = self._lock
        if lock is None:
            return operations
        for op in operations:
            token = op.unlock if isinstance(op, StoreSetIf) else getattr(op, "token", None)
            if token == lock[1] and op.sid == lock[0]:
                return operations
        return (*operations, StoreUnlock(*lock))

    def _interrupted(self) -> Decision:
        """Nothing written; the browser is told to forget the id (it names nothing now)."""
        clearing = self.cookie.serialize_clearing(self.config.name) if self.had_cookie else None
        return Decision(clearing, self._releasing(()), vary_cookie=True, interrupted=True)

    def abort(self) -> list[StoreOperation]:
        """The app failed before the end: write nothing, and release the lock if held.

        Safe to call in any phase and more than once (adapters call it from their error or
        teardown path); after ``decide()`` it only releases a lock a failed write left held.
        """
        if self.phase in (Phase.STARTED, Phase.LOADING, Phase.ACTIVE):
            self.phase = Phase.ABORTED
        return [] if self._lock is None else [StoreUnlock(*self._lock)]

    # -- outcomes ------------------------------------------------------------------------------
    def outcome(self, op: StoreOperation, result: Any) -> list[StoreOperation]:
        """What a driver ran, and what it returned: the operations to run next (usually none).

        Only the concurrency operations matter: a refused ``StoreSetIf`` (reload, or a fresh id
        for a taken one), the reload's ``Versioned`` (re-apply and write again, or give up: the
        session is gone), and the lock released by ``StoreUnlock``/``StoreSetIf(unlock=...)``.
        """
        if isinstance(op, StoreSetIf):
            if result:
                self._written(op)
                return []
            if op.version is None:
                return self._collision(op)
            self._attempts += 1
            if self._attempts > MAX_MERGE_RETRIES:
                raise SessionConflict(op.sid, self._attempts)
            logger.debug("session %s changed meanwhile; merging", sid_prefix(op.sid))
            return [StoreGetVersioned(op.sid)]
        if isinstance(op, StoreGetVersioned):
            return self._rebase(op.sid, result)
        if isinstance(op, StoreUnlock) and self._lock == (op.sid, op.token):
            self._lock = None
        return []

    def _written(self, op: StoreSetIf) -> None:
        """The write landed: what it wrote is the base of any later write (version unknown)."""
        self._version_key, self._version = op.sid, None
        self._snapshot_text, self._snapshot_cookie = self._writing_text, op.record["cookie"]
        self._strict = False
        if op.unlock is not None and self._lock == (op.sid, op.unlock):
            self._lock = None

    def _collision(self, op: StoreSetIf) -> list[StoreOperation]:
        """A new session's id exists already: take a fresh one, once."""
        if self._collided:
            raise StoreError("set_if", op.sid, "a session with a freshly generated id exists")
        self._collided = True
        old = self.session_id
        sid: Any = self.config.genid(self.request.request)
        logger.info("session id %s was taken; generated another", sid_prefix(op.sid))
        self.session_id = sid
        for attribute in ("_original_id", "_saved_id", "_explicitly_saved_id"):
            if getattr(self, attribute) == old:
                setattr(self, attribute, sid)
        decision = self._decision
        if self.phase is Phase.DECIDED and decision is not None and decision.set_cookie:
            self._decision = Decision(
                self._set_cookie_value(), decision.operations, decision.vary_cookie
            )
        return [StoreSetIf(self.store_key(sid), self.record(), None, op.unlock)]

    def _rebase(self, key: str, result: Any) -> list[StoreOperation]:
        """The fresh copy after a conflict: re-apply this request's changes and write again."""
        record, version, _ = unpack(result)
        cookie_json = record.get("cookie") if is_mapping(record) else None
        if record is None or not is_mapping(cookie_json) or version is None:
            return self._gone(key)
        changes = _merge.changes_since(self._snapshot_text, self.session)
        data = _merge.merged_data(record, self.session, changes)
        if _merge.theirs_wins_cookie(self._snapshot_cookie, self.cookie.to_json(), cookie_json):
            self.cookie = SessionCookie.from_json(cookie_json, self._clock)
            self.cookie.reset_max_age()
        self._cookie_index = list(record).index("cookie")
        base = _merge.stored_data(record)
        self._snapshot_text, self._snapshot_cookie = to_json(base), cookie_json
        self._version_key, self._version = key, version
        self.session._replace_data(data)
        text = _merge.data_json(self.session)
        # the data's JSON stands for its hash (see _cycle.data_hash)
        if self._saved_id == self.session_id:
            self._saved_hash = text
        if self._decided_hash is not None:
            self._decided_hash = text
        self._writing_text = text
        return [StoreSetIf(key, self.record(), version, self._write_unlock)]

    def _gone(self, key: str) -> list[StoreOperation]:
        """The session was deleted elsewhere: write nothing (a logout is never undone)."""
        logger.info("session %s was deleted elsewhere; not writing it back", sid_prefix(key))
        self.interrupted = True
        self.session._replace_data({})
        strict, self._strict = self._strict, False
        operations: list[StoreOperation] = []
        if self.phase is Phase.DECIDED:
            self._decision = self._interrupted()
            operations = list(self._decision.operations)  # the lock, if still held
        if strict:
            raise SessionGone(key)
        return operations
