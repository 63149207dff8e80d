"""The ``SessionInterface``: translate a Flask request/response to and from the core.

Flask calls ``open_session`` when the request context is pushed and ``save_session`` from
``process_response``, before the response is handed to the WSGI server. The store writes run
there, so a failing store raises inside Flask's ``full_dispatch_request`` and Flask answers with
its 500 handling instead of the view's 200.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask.sessions import NullSession, SessionInterface, SessionMixin

from coatcheck import ConfigError, Phase, RequestReceived, SyncDriver, vary_with_cookie

from ._session import FlaskSession, OutsideCookiePathSession

if TYPE_CHECKING:
    from flask import Flask
    from flask.wrappers import Request, Response

    from ._extension import AppSessions


def server_scheme(environ: dict[str, Any]) -> str:
    """``wsgi.url_scheme`` as the server reported it, before Werkzeug's ``ProxyFix`` rewrote it."""
    original = environ.get("werkzeug.proxy_fix.orig") or {}
    return str(original.get("wsgi.url_scheme") or environ.get("wsgi.url_scheme", "http"))


def request_received(request: Request, now: datetime) -> RequestReceived:
    """The core's facts about a Flask request.

    The path is the full URL path the browser asked for (``script_root + path``, as express's
    ``originalUrl``), since that is what a cookie's ``Path`` is matched against.
    """
    return RequestReceived(
        now=now,
        cookie_header=request.headers.getlist("Cookie") or None,
        path=request.script_root + request.path,
        direct_tls=server_scheme(request.environ) == "https",
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
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
        """Load the session; ``None`` (Flask's null session) outside the cookie path."""
        try:
            driver = self.driver(app)
        except ConfigError as exc:
            if exc.option != "secret":
                raise
            return NullSession()  # as Flask: no secret key, no session (its message says so)
        cycle = driver.begin(request_received(request, self.now()))
        if cycle is None:
            return None
        session = cycle.session
        session.driver = driver
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
        decision = driver.end(cycle, self.now())
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
