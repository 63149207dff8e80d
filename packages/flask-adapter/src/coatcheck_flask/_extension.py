"""The Flask extension: gather the options, validate them, install the session interface.

Options come from three places, later ones winning: the app's ``SECRET_KEY`` and
``SESSION_COOKIE_*`` settings (so switching to coatcheck never drops a security setting),
``app.config["COATCHECK"]``, and the keyword arguments of ``Session(...)``. Flask reads its
settings on every request, so settings changed after ``Session(app)`` must apply: the config is
validated at ``init_app`` and resolved again at the first request, then cached until one of the
settings it was built from changes (one tuple comparison per request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from coatcheck import ConfigError, CookieOptions, SessionConfig, SyncDriver, check_option_names
from coatcheck.stores import MemoryStore

from ._interface import CoatcheckSessionInterface
from ._session import FlaskSession

if TYPE_CHECKING:
    from flask import Flask

_COOKIE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(CookieOptions)}
#: Every ``app.config`` key the options are built from (a change rebuilds the config).
SETTINGS = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "COATCHECK",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_PATH",
    "APPLICATION_ROOT",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_PARTITIONED",
    "SESSION_REFRESH_EACH_REQUEST",
)


def flask_secret(app: Flask) -> list[str | bytes]:
    """``[SECRET_KEY, *SECRET_KEY_FALLBACKS]``: the current key signs, all of them verify."""
    if not app.secret_key:
        raise ConfigError(
            "secret", "set app.secret_key (SECRET_KEY), or pass secret= to coatcheck_flask.Session"
        )
    return [app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ())]


def flask_cookie_defaults(app: Flask) -> dict[str, Any]:
    """The ``SESSION_COOKIE_*`` settings as cookie options.

    Flask's "off" values (``False``, ``None``) become "not set", so with Flask's defaults the
    cookie and the stored record are exactly express's.
    """
    config = app.config
    same_site = config.get("SESSION_COOKIE_SAMESITE")
    return {
        "path": config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/",
        "domain": config.get("SESSION_COOKIE_DOMAIN") or None,
        "secure": True if config.get("SESSION_COOKIE_SECURE") else None,
        "http_only": bool(config.get("SESSION_COOKIE_HTTPONLY", True)),
        "same_site": same_site.lower() if isinstance(same_site, str) else same_site,
        "partitioned": True if config.get("SESSION_COOKIE_PARTITIONED") else None,
    }


def _over_defaults(defaults: dict[str, Any], given: Any) -> Any:
    """``given`` cookie options laid over Flask's; a ``CookieOptions`` overrides with the
    fields it does not leave at their defaults. Anything else is left for the core to refuse."""
    if isinstance(given, CookieOptions):
        given = {
            name: value
            for name, value in dataclasses.asdict(given).items()
            if value != _COOKIE_DEFAULTS[name]
        }
    return {**defaults, **given} if isinstance(given, Mapping) else given


def with_flask_cookie_defaults(cookie: Any, defaults: dict[str, Any]) -> Any:
    """The ``cookie`` option with Flask's settings as defaults (per request for a callable)."""
    if cookie is None:
        return defaults
    if callable(cookie):
        per_request: Callable[[Any], Any] = cookie
        return lambda request: _over_defaults(defaults, per_request(request))
    return _over_defaults(defaults, cookie)


def flask_options(app: Flask, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """Every option for ``SessionConfig.from_options``: Flask < ``COATCHECK`` < keywords."""
    configured = app.config.get("COATCHECK") or {}
    if not isinstance(configured, Mapping):
        raise ConfigError("COATCHECK", 'app.config["COATCHECK"] must be a dict of options')
    check_option_names(configured, option="COATCHECK")
    options = {**configured, **explicit}
    if "secret" not in options:
        options["secret"] = flask_secret(app)
    options.setdefault("name", app.config.get("SESSION_COOKIE_NAME") or "session")
    options["cookie"] = with_flask_cookie_defaults(
        options.get("cookie"), flask_cookie_defaults(app)
    )
    return options


class AppSessions:
    """One app's driver, rebuilt when a setting it was built from changes.

    The store is fixed when the app is initialised (an explicit one, or one ``MemoryStore`` per
    app), so a rebuild never loses sessions. ``refresh``: Flask's
    ``SESSION_REFRESH_EACH_REQUEST``, i.e. ``rolling`` for permanent sessions, unless the
    ``rolling`` option was given.
    """

    def __init__(self, app: Flask, explicit: Mapping[str, Any]) -> None:
        self.explicit = explicit
        self.default_store = MemoryStore()
        self._key: tuple[Any, ...] | None = None
        self._driver: SyncDriver[FlaskSession] | None = None
        self.refresh = False
        self.driver(app)  # ConfigError now, at start-up

    def driver(self, app: Flask) -> SyncDriver[FlaskSession]:
        key = tuple(map(app.config.get, SETTINGS))
        if self._driver is None or key != self._key:
            options = flask_options(app, self.explicit)
            options.setdefault("store", self.default_store)
            self.refresh = "rolling" not in options and bool(
                app.config.get("SESSION_REFRESH_EACH_REQUEST", True)
            )
            self._driver = SyncDriver(SessionConfig.from_options(**options), FlaskSession)
            self._key = key
        return self._driver


class Session:
    """express-session for Flask: ``Session(app, **opts)`` or ``Session(**opts).init_app(app)``.

    Takes the keyword options of ``coatcheck.SessionConfig.from_options``; they are validated
    when the app is initialised (``ConfigError``), and the app's settings are read again at the
    first request and whenever they change.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Install coatcheck as ``app.session_interface``."""
        interface = CoatcheckSessionInterface(AppSessions(app, self.options), self.now)
        app.session_interface = interface
        # before every other hook: a request that could not get its session's lock gets a 503
        app.before_request_funcs.setdefault(None, []).insert(0, interface.refuse_busy)
        app.teardown_request(interface.abort_unfinished)
        app.extensions["coatcheck"] = self

    def now(self) -> datetime:
        """The current time; a subclass may pin it (tests, replays)."""
        return datetime.now(timezone.utc)
