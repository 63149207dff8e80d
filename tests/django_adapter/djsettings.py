"""Django settings for the adapter's tests, configured once per process.

Both ``conftest.py`` and the scenario harness call ``ensure_configured()``, so the harness also
works when only ``tests/scenarios`` is collected. Everything test-specific is layered on top with
``override_settings``, which also makes coatcheck_django rebuild its cached config.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import django
from django.conf import settings

BASE_MIDDLEWARE = [
    "coatcheck_django.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def ensure_configured() -> None:
    """Configure Django (if nobody did) with an on-disk SQLite database for contrib.auth."""
    if settings.configured:
        return
    database = Path(tempfile.mkdtemp(prefix="coatcheck-django-")) / "db.sqlite3"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-test-secret-key-not-for-production",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",  # for manage.py clearsessions only
            "django.contrib.messages",
            "coatcheck_django",  # its system checks (manage.py check)
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        MIDDLEWARE=BASE_MIDDLEWARE,
        ROOT_URLCONF="tests.django_adapter.app",
        SESSION_ENGINE="coatcheck_django",
        COATCHECK={"resave": False, "save_uninitialized": True},
        MESSAGE_STORAGE="django.contrib.messages.storage.session.SessionStorage",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        USE_TZ=True,
        TEMPLATES=[],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
