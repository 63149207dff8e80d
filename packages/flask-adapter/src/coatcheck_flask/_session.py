"""``flask.session`` as a coatcheck session: a core ``SyncSession`` that is a ``SessionMixin``.

Flask's own attributes are mapped onto express's model rather than stored as data:
``permanent`` is "the cookie has an expiry", ``new`` is "this response carries a new id",
``modified`` is express's hash comparison, so nested mutations count without any help.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.globals import request_ctx
from flask.sessions import NullSession, SessionMixin

from coatcheck import SessionCycle, SyncDriver, SyncSession


class FlaskSession(SyncSession, SessionMixin):
    """The session ``flask.session`` points at: a dict plus express's and Flask's powers.

    ``regenerate()``, ``destroy()``, ``reload()``, ``save()`` and ``touch()`` are plain calls
    whose store effects happen immediately; a failing store raises (a 500).
    """

    #: What ``permanent = True`` gives the cookie; the interface sets the app's
    #: ``PERMANENT_SESSION_LIFETIME`` on every session it opens.
    permanent_lifetime: timedelta = timedelta(days=31)
    #: ``SESSION_REFRESH_EACH_REQUEST`` (and no ``rolling`` option): a permanent session's
    #: cookie is re-sent on every response.
    refresh: bool = False
    #: The driver that opened it (the one for the app's settings at that request).
    driver: SyncDriver[FlaskSession]

    def __init__(self, cycle: SessionCycle[Any]) -> None:
        super().__init__(cycle)
        self._flagged_modified = False

    @property
    def permanent(self) -> bool:
        """Flask's permanent session: the cookie has an expiry (``cookie.max_age`` is set)."""
        return self.cookie.expires is not None

    @permanent.setter
    def permanent(self, value: bool) -> None:
        # An expiry already set (cookie.max_age, or a max_age option) is kept as it is.
        if bool(value) == self.permanent:
            return
        self.cookie.max_age = self.permanent_lifetime if value else None
        # The browser must learn the new lifetime (express re-sends a same-id cookie only with
        # rolling, or with a data change when the cookie has an expiry).
        self.cycle.resend_cookie()

    @property
    def new(self) -> bool:  # type: ignore[override]
        """No valid cookie came in (or the session was regenerated): the id is new."""
        return self.id != self.cycle.cookie_id

    @property
    def modified(self) -> bool:
        """express's ``isModified``: the id or the data changed since the session was loaded."""
        return self._flagged_modified or self.cycle.is_modified()

    @modified.setter
    def modified(self, value: bool) -> None:
        # Accepted for code written for Flask's cookie session; changes are found by hashing,
        # so flagging never changes what is saved.
        self._flagged_modified = bool(value)


class OutsideCookiePathSession(NullSession):
    """Flask's null session, saying why it is empty: the request is outside ``cookie.path``."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "The session is unavailable: this request is outside the session cookie's path "
            "(the coatcheck cookie.path option / SESSION_COOKIE_PATH)."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


def unset_session() -> None:
    """Unset the current request's session (express's ``req.session = null``).

    What happens then follows the ``unset`` option: ``"keep"`` leaves the stored session as it
    is, ``"destroy"`` deletes it. Changes made to the session afterwards are ignored. Outside the
    cookie path there is no session and this does nothing.
    """
    session = request_ctx.session
    if isinstance(session, FlaskSession):
        session.cycle.set_unset()


def current_session() -> FlaskSession:
    """``flask.session`` typed as what it is, so ``current_session().regenerate()`` type-checks.

    Raises ``RuntimeError`` outside a request, or outside the cookie path (no session there).
    """
    session = request_ctx.session
    if not isinstance(session, FlaskSession):
        raise RuntimeError("no coatcheck session here: outside the cookie path, or not wired")
    return session


def logout_everywhere() -> int:
    """ "Log out everywhere" (e.g. after a password change): destroy every session of the
    current session's user, this one included (its cookie is cleared); returns how many ended.
    ``current_session().revoke_others()`` keeps this one."""
    return current_session().revoke_all()
