"""coatcheck for Flask: ``flask.session`` kept server-side, with express-session's semantics.

The browser keeps only a signed id; the data lives in a store. One line of wiring::

    from flask import Flask, session
    from coatcheck.stores import SQLiteStore
    from coatcheck_flask import Session, current_session

    app = Flask(__name__)
    app.secret_key = "change me"          # signs the cookie (SECRET_KEY_FALLBACKS verify)
    Session(app, store=SQLiteStore("sessions.sqlite3"), resave=False, save_uninitialized=False)

    @app.post("/login")
    def login():
        current_session().regenerate()    # new id against fixation; plain calls, typed
        session["user"] = "ada"
        return "ok"
"""

from __future__ import annotations

from coatcheck import (
    ConfigError,
    CookieOptions,
    SessionBusy,
    SessionGone,
    SessionLockTimeout,
    StoreError,
)

from .__about__ import __version__
from ._extension import Session
from ._interface import CoatcheckSessionInterface
from ._session import (
    FlaskSession,
    OutsideCookiePathSession,
    current_session,
    logout_everywhere,
    unset_session,
)

__all__ = [
    "CoatcheckSessionInterface",
    "ConfigError",
    "CookieOptions",
    "FlaskSession",
    "OutsideCookiePathSession",
    "Session",
    "SessionBusy",
    "SessionGone",
    "SessionLockTimeout",
    "StoreError",
    "__version__",
    "current_session",
    "logout_everywhere",
    "unset_session",
]
