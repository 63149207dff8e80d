"""Django's ``session_key`` is the signed cookie value; these helpers map it to and from ids.

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


def verified_id(config: SessionConfig, session_key: str | None) -> str | None:
    """The session id inside a signed ``session_key``; ``None`` unless the signature verifies."""
    return config.session_id_from(session_key) if session_key else None


def cookie_value(config: SessionConfig, sid: str) -> str:
    """What the cookie carries for ``sid``: ``s:<id>.<signature>``, URL-encoded as express does."""
    return config.cookie_value(sid)
