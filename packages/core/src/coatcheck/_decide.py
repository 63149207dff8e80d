"""The end-of-request decision rules of express-session 1.19.0, as pure functions.

Each takes the facts of one session (``SessionFacts``) and answers one question. Comments name
the express-session code they reproduce; the deliberate differences are marked DIFFERENCE.
express compares SHA-1 hashes of the data's JSON; the "hashes" here are those JSON texts
themselves (``_cycle.data_hash``): the same comparisons, exact, and without hashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)  # built on every request: a plain slotted record is cheapest
class SessionFacts:
    """What the rules look at, for one session at the moment of deciding."""

    session_id: object  # express checks ``typeof req.sessionID === 'string'``
    cookie_id: str | None  # the id the request's cookie carried (verified), if any
    original_id: str | None  # the id when the session was created or loaded
    # the data "hashes" are the data's JSON: kept out of the repr (no session data in logs)
    original_hash: str | None = field(repr=False)  # the data hash then
    saved_id: str | None  # the id at the last save (explicit, or "loaded with resave=False")
    saved_hash: str | None = field(repr=False)  # the data hash at that save
    current_hash: str = field(repr=False)  # the data hash now
    expires_set: bool  # ``cookie.expires != null``
    explicitly_saved: bool  # the app called ``save()`` on this id
    resave: bool
    rolling: bool
    save_uninitialized: bool


def is_modified(f: SessionFacts) -> bool:
    """express ``isModified``: the id or the data hash changed since creation/load."""
    return f.original_id != f.session_id or f.original_hash != f.current_hash


def is_saved(f: SessionFacts) -> bool:
    """express ``isSaved``, keyed on the id that was saved.

    DIFFERENCE: express compares against ``originalId``, so after ``regenerate()`` an explicit
    ``save()`` is repeated at the end (express #935); we compare against the id actually saved.
    """
    return f.saved_id == f.session_id and f.saved_hash == f.current_hash


def should_save(f: SessionFacts) -> bool:
    """express ``shouldSave``: write the whole session with ``store.set`` at the end."""
    if not isinstance(f.session_id, str):
        return False
    if not f.save_uninitialized and f.saved_hash is None and f.cookie_id != f.session_id:
        return is_modified(f)  # a new, never saved session is only kept once it holds data
    return not is_saved(f)


def should_touch(f: SessionFacts) -> bool:
    """express ``shouldTouch``: a loaded session that is not saved gets ``store.touch``."""
    return isinstance(f.session_id, str) and f.cookie_id == f.session_id and not should_save(f)


def should_set_cookie(f: SessionFacts) -> bool:
    """express ``shouldSetCookie``.

    New id (no/invalid cookie, missing in store, regenerated): sent when uninitialised sessions are
    wanted or the session was modified. DIFFERENCE: also when the app saved it explicitly
    (express stores it but never tells the browser). Same id: ``rolling``, or a modified session
    whose cookie has an expiry (a browser-session cookie is never re-sent).
    """
    if not isinstance(f.session_id, str):
        return False
    if f.cookie_id != f.session_id:
        return f.save_uninitialized or is_modified(f) or f.explicitly_saved
    return f.rolling or (f.expires_set and is_modified(f))
