"""Django system checks: a session store that cannot be built fails ``manage.py check``.

Without them a wrong ``COATCHECK`` setting (a SQLite path in a directory that does not exist,
an option typo) passes start-up and surfaces at the first request, inside runserver's thread.
The checks build the config exactly as the middleware will, so what they report is what the
first request would have hit. Registered by the app config (``"coatcheck_django"`` in
``INSTALLED_APPS``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from coatcheck import ConfigError, StoreError

from ._settings import load_config

MIDDLEWARE = "coatcheck_django.SessionMiddleware"
ENGINE = "coatcheck_django"
#: The store could not be built or opened (its constructor raised ``StoreError``).
STORE_UNAVAILABLE = "coatcheck.E001"
#: ``COATCHECK`` (or a Django setting it reads) is not a valid coatcheck configuration.
INVALID_CONFIG = "coatcheck.E002"


def check_session_store(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Build the session config (and so the store) now, as the first request would; nothing
    to check when neither the middleware nor the engine is coatcheck's."""
    middleware = getattr(settings, "MIDDLEWARE", None) or ()
    if MIDDLEWARE not in middleware and settings.SESSION_ENGINE != ENGINE:
        return []
    try:
        load_config()
    except StoreError as exc:
        return [
            Error(
                f"the session store cannot be opened: {exc}",
                hint=(
                    "Fix the store's settings (COATCHECK['store'] and "
                    "COATCHECK['store_options']) or the location they name, so this process "
                    "can open it."
                ),
                obj="settings.COATCHECK",
                id=STORE_UNAVAILABLE,
            )
        ]
    except ConfigError as exc:
        return [
            Error(
                f"invalid session settings: {exc}",
                hint="See the coatcheck-django README for the options COATCHECK accepts.",
                obj="settings.COATCHECK",
                id=INVALID_CONFIG,
            )
        ]
    return []
