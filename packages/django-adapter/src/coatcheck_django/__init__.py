"""coatcheck-django: express-session's server-side sessions as Django's session engine.

``request.session`` stays a complete Django session (contrib.auth, messages, CSRF_USE_SESSIONS,
the test client all work unchanged) with express's cookie, stores and rules, plus
``.id``, ``.cookie``, ``regenerate()``, ``destroy()``, ``reload()``, ``touch()``::

    # settings.py
    MIDDLEWARE = ["coatcheck_django.SessionMiddleware", ...]   # in place of Django's
    SESSION_ENGINE = "coatcheck_django"
    COATCHECK = {"resave": False, "save_uninitialized": False,   # SECRET_KEY signs
                 "store": "coatcheck.stores.SQLiteStore",       # or an instance
                 "store_options": {"path": "sessions.sqlite3"}}

    # views.py
    def visit(request):
        request.session["views"] = request.session.get("views", 0) + 1  # saved before replying
        request.session.regenerate(keep_data=True)   # express's extras: new id, same data
"""

from __future__ import annotations

from coatcheck import ConfigError

from .__about__ import __version__
from ._middleware import SessionMiddleware
from ._store import SessionStore, get_session
from ._users import alogout_everywhere, logout_everywhere

__all__ = [
    "ConfigError",
    "SessionMiddleware",
    "SessionStore",
    "__version__",
    "alogout_everywhere",
    "get_session",
    "logout_everywhere",
]
