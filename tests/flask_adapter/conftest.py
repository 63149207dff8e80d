"""One Flask app per test with a pinned clock, predictable ids and a recording store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask

import coatcheck_flask
from coatcheck.stores import MemoryStore
from tests.flask_adapter.harness import FlaskScenarioClient, make_app
from tests.scenarios.harness import RecordingStore, Response

SECRET = "keyboard cat"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def signed(sid: str, secret: str = SECRET) -> str:
    """express's cookie value for ``sid``, computed independently of coatcheck's signer."""
    digest = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    mac = base64.b64encode(digest).decode().rstrip("=")
    return quote(f"s:{sid}.{mac}", safe="!'()*-._~")


def jar(resp: Response) -> str:
    """The Cookie header a browser sends back after ``resp``."""
    assert resp.set_cookies, "expected a Set-Cookie"
    return resp.set_cookies[0].split(";", 1)[0]


class Clock:
    """The time every part of the test sees (the extension and the MemoryStore)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Rig:
    """An app wired with coatcheck, its client (no cookie jar), store and clock."""

    def __init__(self, app: Flask, store: RecordingStore, clock: Clock) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.client = FlaskScenarioClient(app)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, **kwargs)

    def visit(self, path: str = "/write?a=1") -> str:
        """A first request that stores a session; returns the cookie to send back."""
        resp = self.get(path)
        assert resp.status == 200
        self.store.reset()
        return jar(resp)


def pinned(clock: Clock) -> type[coatcheck_flask.Session]:
    """The extension with its clock pinned, as the ASGI middleware's ``now`` is in its tests."""

    class PinnedSession(coatcheck_flask.Session):
        def now(self) -> datetime:
            return clock()

    return PinnedSession


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_rig(clock: Clock) -> Callable[..., Rig]:
    """``make_rig(**options)``: the harness app, plus ``configure(app)`` run before wiring."""

    def make(configure: Callable[[Flask], None] | None = None, **options: Any) -> Rig:
        store = options.pop("store", None) or RecordingStore(inner=MemoryStore(clock=clock))
        counter = itertools.count(1)
        options = {
            "secret": SECRET,
            "resave": False,
            "save_uninitialized": True,
            "genid": lambda request: f"id{next(counter)}",
            "store": store,
            **options,
        }
        app = make_app(options, pinned(clock), configure)
        return Rig(app, store, clock)

    return make
