"""Wiring for Flask's session tests (copied as ``tests/conftest.py`` by ``run.py``).

Upstream's conftest is kept (imported below); only its ``app`` fixture is wrapped so that the app
uses coatcheck: ``coatcheck_flask.Session(app)`` with the options a Flask user would pick to keep
Flask's behaviour (store only what was modified, never an empty new session).
"""

from __future__ import annotations

from typing import Any

import pytest
from upstream_conftest import *  # noqa: F403  (upstream's fixtures, unchanged)
from upstream_conftest import app as upstream_app

import coatcheck_flask

_upstream_app = upstream_app.__wrapped__  # type: ignore[attr-defined]  # the plain function


@pytest.fixture
def app() -> Any:
    app = _upstream_app()
    coatcheck_flask.Session(app, resave=False, save_uninitialized=False)
    return app
