"""A Django session outside a request: a synthetic request whose cookie is the ``session_key``.

A session built outside a request (the test client's ``SessionStore(key)``, a management
command) gets a synthetic ``RequestReceived`` carrying the key as its cookie, so the core verifies
it exactly as it verifies a browser's cookie: an unsigned or forged key is never adopted.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.http import HttpRequest

from coatcheck import RequestReceived, SessionConfig


def synthetic_request(config: SessionConfig, session_key: str | None) -> RequestReceived:
    """The facts of a request that carries ``session_key`` as our cookie, at the cookie's path."""
    request = HttpRequest()
    request.path = request.path_info = config.cookie_options_for(request).path
    usable = session_key and not any(c in session_key for c in ";,\r\n")
    return RequestReceived(
        now=datetime.now(timezone.utc),
        cookie_header=f"{config.name}={session_key}" if usable else None,
        path=request.path,
        request=request,
    )
