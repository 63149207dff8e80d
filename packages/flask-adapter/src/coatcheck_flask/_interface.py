"""The ``SessionInterface``: translate a Flask request/response to and from the core.

Flask calls ``open_session`` when the request context is pushed and ``save_session`` from
``process_response``, before the response is handed to the WSGI server. The store writes run
there, so a failing store raises inside Flask's ``full_dispatch_request`` and Flask answers with
its 500 handling instead of the view's 200.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import request as flask_request
from flask.sessions import NullSession, SessionInterface, SessionMixin
from werkzeug.exceptions import ServiceUnavailable

from coatcheck import (
    ConfigError,
    Phase,
    RequestReceived,
    SessionBusy,
    SyncDriver,
    vary_with_cookie,
)

from ._session import FlaskSession, OutsideCookiePathSession

if TYPE_CHECKING:
    from flask import Flask
    from flask.wrappers import Request, Response

    from ._extension import AppSessions

logger = logging.getLogger("coatcheck")
_BUSY = "coatcheck.busy"  # environ key: the SessionBusy open_session met
_SESSION = "coatcheck.session"  # environ key: the request's FlaskSession
_BUSY_BODY = b"Service Unavailable: the session is busy, try again"


def server_scheme(environ: dict[str, Any]) -> str:
    """``wsgi.url_scheme`` as the server reported it, before Werkzeug's ``ProxyFix`` rewrote it."""
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    return str(original.get("wsgi.url_scheme") or environ.get("wsgi.url_scheme", "http"))


def request_received(request: Request, now: datetime) -> RequestReceived:
    """The core's facts about a Flask request.

    The path is the full URL path the browser asked for (``script_root + path``, as express's
    ``originalUrl``), since that is what a cookie's ``Path`` is matched against.
    """
    environ = request.environ
    # What ``request.headers.getlist("Cookie")`` / ``.get(...)`` answer, read from the WSGI
    # environ directly (Werkzeug's EnvironHeaders walks every environ key for a getlist).
    cookie = environ.get("HTTP_COOKIE")
    return RequestReceived(
        now=now,
        cookie_header=None if cookie is None else [cookie],
        path=request.script_root + request.path,
        direct_tls=server_scheme(environ) == "https",
        forwarded_proto=environ.get("HTTP_X_FORWARDED_PROTO"),
        framework_secure=request.is_secure,  # honours ProxyFix: this is proxy=None's answer
        request=request,
    )


class CoatcheckSessionInterface(SessionInterface):
    """Opens a coatcheck session per request and finishes it before the response goes out."""

    null_session_class = OutsideCookiePathSession

    def __init__(self, sessions: AppSessions, now: Callable[[], datetime]) -> None:
        self.sessions = sessions
        self.now = now

    def driver(self, app: Flask) -> SyncDriver[FlaskSession]:
        """The driver for the app's current settings."""
        return self.sessions.driver(app)

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        """Load the session; ``None`` (Flask's null session) outside the cookie path.

        A session that stayed locked for ``lock_timeout`` (``"lock"``) is noted on the request
        for ``refuse_busy``, which answers 503 before the view runs.
        """
        try:
            driver = self.driver(app)
        except ConfigError as exc:
            if exc.option != "secret":
                raise
            return NullSession()  # as Flask: no secret key, no session (its message says so)
        try:
            cycle = driver.begin(request_received(request, self.now()))
        except SessionBusy as exc:
            request.environ[_BUSY] = exc
            return None
        if cycle is None:
            return None
        session = cycle.session
        session.driver = driver
        request.environ[_SESSION] = session  # for abort_unfinished
        session.permanent_lifetime = app.permanent_session_lifetime
        session.refresh = self.sessions.refresh
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Decide, run the store operations, then write ``Set-Cookie`` and ``Vary``."""
        if not isinstance(session, FlaskSession) or session.cycle.phase is not Phase.ACTIVE:
            # Flask calls this again for the error response after open_session or a previous
            # save_session raised: the session is already finished (or was never opened).
            return
        cycle, driver = session.cycle, session.driver
        if session.permanent and session.refresh:
            cycle.resend_cookie()  # SESSION_REFRESH_EACH_REQUEST: rolling, for permanent ones
        try:
            decision = driver.end(cycle, self.now())
        except SessionBusy as exc:  # "merge": every retry met a newer version
            logger.info("%s; answering 503", exc)
            response.status_code = 503
            response.headers["Retry-After"] = "1"
            response.set_data(_BUSY_BODY)
            return
        if decision.vary_cookie:
            existing = ", ".join(response.headers.getlist("Vary")) or None
            response.headers["Vary"] = vary_with_cookie(existing)
        if decision.set_cookie is not None:
            # Not response.set_cookie(): Werkzeug would re-encode the value and add Max-Age;
            # express's exact header is already built.
            response.headers.add("Set-Cookie", decision.set_cookie)
        if response.is_streamed:
            # A streamed body (stream_with_context) may still change the session: save it
            # again once the body is done, as express does on res.end.
            response.call_on_close(lambda: driver.end_late(cycle))

    # -- "lock" and failures (registered by ``Session.init_app``) -------------------------------
    def refuse_busy(self) -> None:
        """``before_request``: 503 when ``open_session`` could not get the session's lock."""
        exc = flask_request.environ.get(_BUSY)
        if exc is not None:
            logger.info("%s; answering 503", exc)
            raise ServiceUnavailable(_BUSY_BODY.decode(), retry_after=1)

    def abort_unfinished(self, error: BaseException | None) -> None:
        """``teardown_request``: a session never finished (the view raised and Flask skipped
        ``save_session``, as it does when exceptions propagate) writes nothing and releases its
        lock. Without an error the context may be a ``session_transaction``'s: left alone."""
        session = flask_request.environ.get(_SESSION)
        if error is None or not isinstance(session, FlaskSession):
            return
        if session.cycle.phase is Phase.ACTIVE:
            session.driver.abort(session.cycle)
