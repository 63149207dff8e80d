"""Wiring for Django's own tests (copied as ``tests/conftest.py`` next to them by ``run.py``).

Only configuration, as Django's ``runtests.py`` would do it, with coatcheck in place of
``django.contrib.sessions``: ``SESSION_ENGINE = "coatcheck_django"``, coatcheck's middleware in
``MIDDLEWARE`` (and as the ``SessionMiddleware`` that ``sessions_tests`` instantiates), one shared
``MemoryStore``. The test database is created once, as Django's runner does.
"""

from __future__ import annotations

from pathlib import Path

import django
from django.conf import settings

from coatcheck.stores import MemoryStore

HERE = Path(__file__).resolve().parent


def pytest_configure() -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django_tests_secret_key",
        ALLOWED_HOSTS=["testserver"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3"}},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sites",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.admin.apps.SimpleAdminConfig",
            "sessions_tests",
            "test_client",
            "test_client_regress",
        ],
        MIDDLEWARE=[
            "coatcheck_django.SessionMiddleware",  # in place of Django's
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        SESSION_ENGINE="coatcheck_django",
        COATCHECK={"resave": False, "save_uninitialized": False, "store": MemoryStore()},
        ROOT_URLCONF="test_client.urls",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(HERE / "templates")],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.debug",
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ],
                },
            }
        ],
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SITE_ID=1,
        USE_TZ=True,
    )
    django.setup()

    import sessions_tests.tests
    from django.db import connection
    from django.test.utils import setup_test_environment

    import coatcheck_django

    sessions_tests.tests.SessionMiddleware = coatcheck_django.SessionMiddleware
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
