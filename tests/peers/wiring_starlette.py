"""Wiring for Starlette's session tests (copied as ``tests/conftest.py`` by ``run.py``).

Upstream's conftest is kept (imported below). ``starlette.middleware.sessions`` is pointed at
coatcheck before the test module imports from it: ``SessionMiddleware`` takes Starlette's keyword
arguments and builds ``coatcheck_asgi.SessionMiddleware`` with the equivalent express options,
and ``Session(data)`` is a coatcheck session loaded with ``data`` (what the middleware hands the
app for a stored session).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import starlette.middleware.sessions as starlette_sessions

from coatcheck import AsyncSession, RequestReceived, SessionConfig, SessionCycle
from coatcheck_asgi import SessionMiddleware as CoatcheckMiddleware
from tests.upstream_conftest import *  # noqa: F403  (upstream's fixtures, unchanged)


def SessionMiddleware(
    app: Any,
    secret_key: Any,
    session_cookie: str = "session",
    max_age: int | None = 14 * 24 * 60 * 60,
    path: str = "/",
    same_site: str = "lax",
    https_only: bool = False,
    domain: str | None = None,
    partitioned: bool = False,
) -> CoatcheckMiddleware:
    """Starlette's signature, coatcheck's middleware: the same cookie, express's rules."""
    return CoatcheckMiddleware(
        app,
        secret=str(secret_key),
        name=session_cookie,
        cookie={
            "max_age": max_age,
            "path": path,
            "same_site": same_site,
            "secure": True if https_only else None,
            "domain": domain,
            "partitioned": True if partitioned else None,
        },
        resave=False,
        save_uninitialized=False,
    )


def Session(data: dict[str, Any] | None = None) -> AsyncSession:
    """A coatcheck session as loaded from the store with ``data``."""
    config = SessionConfig.from_options(secret="example", resave=False, save_uninitialized=False)
    header = f"{config.name}={config.cookie_value('a-stored-session-id')}"
    request = RequestReceived(now=datetime.now(timezone.utc), cookie_header=header)
    cycle = SessionCycle(config, request, AsyncSession)
    cycle.begin()
    return cycle.loaded({"cookie": {"originalMaxAge": None, "path": "/"}, **(data or {})})


starlette_sessions.SessionMiddleware = SessionMiddleware  # type: ignore[assignment,misc]
starlette_sessions.Session = Session  # type: ignore[assignment,misc]
