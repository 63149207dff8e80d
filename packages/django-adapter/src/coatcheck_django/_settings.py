"""Django settings -> one ``SessionConfig``, shared by everything in the process.

``settings.COATCHECK`` holds coatcheck's options; Django's own ``SECRET_KEY`` and
``SESSION_COOKIE_*`` settings are their defaults, so switching engines never silently drops a
security setting. The config is built once and cached (and rebuilt when ``override_settings``
changes a setting it reads) because the middleware, the test client's ``SessionStore()`` and
``manage.py clearsessions`` must all talk to the *same* store, including one built from a dotted
path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from coatcheck import (
    ConfigError,
    CookieOptions,
    SessionConfig,
    check_option_names,
    require_sync_store,
)

_lock = threading.Lock()
_config: SessionConfig | None = None


def cookie_defaults() -> dict[str, Any]:
    """The cookie options Django's ``SESSION_COOKIE_*`` settings imply."""
    same_site = settings.SESSION_COOKIE_SAMESITE
    at_browser_close = settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    return {
        "domain": settings.SESSION_COOKIE_DOMAIN,
        "path": settings.SESSION_COOKIE_PATH,
        "secure": True if settings.SESSION_COOKIE_SECURE else None,  # unset, as express's default
        "http_only": bool(settings.SESSION_COOKIE_HTTPONLY),
        "same_site": same_site.lower() if isinstance(same_site, str) else None,  # False: none
        "max_age": None if at_browser_close else settings.SESSION_COOKIE_AGE,
    }


def _merge(defaults: dict[str, Any], explicit: Any) -> Any:
    """Explicit cookie options over the defaults; a ``CookieOptions`` object is taken whole."""
    if explicit is None:
        return dict(defaults)
    if not isinstance(explicit, Mapping):
        return explicit  # a CookieOptions, or something the core will refuse by name
    merged = {**defaults, **explicit}
    if explicit.get("expires") is not None and "max_age" not in explicit:
        del merged["max_age"]  # an explicit expiry date replaces the default lifetime
    return merged


def with_cookie_defaults(cookie: Any) -> Any:
    """The ``cookie`` option with Django's settings filled in, in any of its three forms."""
    defaults = cookie_defaults()
    if callable(cookie) and not isinstance(cookie, CookieOptions):
        per_request: Callable[[Any], Any] = cookie
        return lambda request: _merge(defaults, per_request(request))
    return _merge(defaults, cookie)


def resolve_store(store: Any, store_options: Any) -> Any:
    """A store instance from an instance or a dotted path (plus ``store_options`` kwargs)."""
    if isinstance(store, str):
        try:
            store_class = import_string(store)
        except ImportError as exc:
            raise ConfigError("store", f"cannot import {store!r}: {exc}") from exc
        if store_options is not None and not isinstance(store_options, Mapping):
            raise ConfigError("store_options", "must be a dict of keyword arguments")
        try:
            store = store_class(**(store_options or {}))
        except TypeError as exc:
            raise ConfigError("store_options", f"{store}: {exc}") from exc
    elif store_options is not None:
        raise ConfigError("store_options", "only used when store is a dotted path")
    # Django reaches the session from sync code (views, the test client, commands).
    require_sync_store(store, "Django")
    return store


def options_from_settings() -> dict[str, Any]:
    """coatcheck's keyword options from ``settings.COATCHECK`` and Django's own settings."""
    configured = getattr(settings, "COATCHECK", None) or {}
    if not isinstance(configured, Mapping):
        raise ConfigError("COATCHECK", "must be a dict of coatcheck options")
    check_option_names(configured, option="COATCHECK", extra={"store_options"})
    options = dict(configured)
    if "secret" not in options:
        try:
            options["secret"] = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
        except ImproperlyConfigured as exc:
            raise ConfigError("secret", f"set SECRET_KEY or COATCHECK['secret'] ({exc})") from exc
    options.setdefault("name", settings.SESSION_COOKIE_NAME)
    # contrib.auth keeps the user's id here: logins are indexed with no configuration.
    options.setdefault("user_key", "_auth_user_id")
    if getattr(settings, "SESSION_SAVE_EVERY_REQUEST", False):
        options.setdefault("rolling", True)  # Django saves and re-sends the cookie every time
        options.setdefault("resave", True)
    options["cookie"] = with_cookie_defaults(options.get("cookie"))
    options["store"] = resolve_store(options.get("store"), options.pop("store_options", None))
    return options


def load_config() -> SessionConfig:
    """The validated config for the current settings (``ConfigError`` if they are wrong)."""
    global _config
    with _lock:
        if _config is None:
            _config = SessionConfig.from_options(**options_from_settings())
        return _config


def engine_session_store() -> type[Any]:
    """``SESSION_ENGINE``'s ``SessionStore``, which must be ours (the test client builds it)."""
    from ._store import SessionStore

    engine = settings.SESSION_ENGINE
    try:
        store_class = getattr(import_module(engine), "SessionStore", None)
    except Exception as exc:
        raise ConfigError("SESSION_ENGINE", f"cannot import {engine!r}: {exc}") from exc
    if not (isinstance(store_class, type) and issubclass(store_class, SessionStore)):
        raise ConfigError(
            "SESSION_ENGINE", f'set SESSION_ENGINE = "coatcheck_django", not {engine!r}'
        )
    return store_class


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    """``override_settings`` changed something the config is built from: rebuild it."""
    global _config
    if setting in ("COATCHECK", "SECRET_KEY", "SECRET_KEY_FALLBACKS") or setting.startswith(
        "SESSION_"
    ):
        with _lock:
            _config = None


setting_changed.connect(_settings_changed, dispatch_uid="coatcheck_django._settings")
