"""Django's session tests, collected against coatcheck_django (wiring only, see conftest.py).

``SessionTestsMixin`` is Django's contract for a session backend; every backend of Django's own
gets exactly this subclass with its ``backend``. The other classes are imported unchanged.
"""

from django.test import SimpleTestCase
from sessions_tests.tests import SessionMiddlewareTests, SessionTestsMixin
from test_client.tests import ClientTest
from test_client_regress.tests import LoginTests, SessionEngineTests, SessionTests

import coatcheck_django

__all__ = [
    "ClientTest",
    "LoginTests",
    "SessionEngineTests",
    "SessionMiddlewareTests",
    "SessionTests",
]


class CoatcheckSessionTests(SessionTestsMixin, SimpleTestCase):
    backend = coatcheck_django.SessionStore
