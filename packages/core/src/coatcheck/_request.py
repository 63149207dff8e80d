"""What the core is told about a request: plain facts, and the two pure rules that use them.

``path_matches`` implements RFC 6265 §5.1.4 (express 1.19.0 uses a raw prefix test, so ``/admin``
matched ``/administrator``; we deliberately do not). ``is_secure`` is express's ``issecure``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


@dataclass(frozen=True, init=False)
class RequestReceived:
    """The facts about one request that sessions depend on.

    ``cookie_header``: the raw ``Cookie`` header value(s). ``path``: the request path (for cookie
    path gating). ``direct_tls``: the server itself received this request over TLS (ASGI
    ``scope["scheme"]``, WSGI ``wsgi.url_scheme``). ``forwarded_proto``: the raw
    ``X-Forwarded-Proto`` header. ``framework_secure``: the framework's own verdict (Flask
    ``request.is_secure``, Django ``request.is_secure()``), honoured when ``proxy`` is None.
    ``now``: the current time (aware). ``request``: the framework's request object, handed to
    ``genid`` and to a callable ``cookie`` option.
    """

    now: datetime
    cookie_header: str | Iterable[str] | None = None
    path: str = "/"
    direct_tls: bool = False
    forwarded_proto: str | None = None
    framework_secure: bool | None = None
    request: Any = None

    # Written out (``init=False``): a frozen dataclass's own __init__ sets each field through
    # object.__setattr__, three times the cost of this one update, on every request.
    def __init__(
        self,
        now: datetime,
        cookie_header: str | Iterable[str] | None = None,
        path: str = "/",
        direct_tls: bool = False,
        forwarded_proto: str | None = None,
        framework_secure: bool | None = None,
        request: Any = None,
    ) -> None:
        self.__dict__.update(
            now=js_time(now, "RequestReceived.now"),
            cookie_header=cookie_header,
            path=path,
            direct_tls=direct_tls,
            forwarded_proto=forwarded_proto,
            framework_secure=framework_secure,
            request=request,
        )


def js_time(now: datetime, what: str = "now") -> datetime:
    """``now`` in UTC at millisecond precision; it must be timezone-aware.

    JavaScript dates have millisecond precision; keeping ours the same means a stored record
    reads back exactly as it was written.
    """
    tz = now.tzinfo
    if tz is None:
        raise ValueError(f"{what} must be timezone-aware")
    if tz is not timezone.utc:
        now = now.astimezone(timezone.utc)
    # a table lookup and one subtraction: ``replace(microsecond=...)`` costs ten times more
    return now - _SUB_MILLISECOND[now.microsecond % 1000]


#: ``timedelta(microseconds=n)`` for n < 1000 (``_SUB_MILLISECOND[0]`` is zero).
_SUB_MILLISECOND = tuple(timedelta(microseconds=n) for n in range(1000))


def is_secure(request: RequestReceived, proxy: bool | None) -> bool:
    """express's ``issecure``: TLS, then the proxy rule."""
    if request.direct_tls:
        return True
    if proxy is False:
        return False
    if proxy is None:
        return bool(request.framework_secure)
    proto = (request.forwarded_proto or "").split(",", 1)[0].strip().lower()
    return proto == "https"


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4 path-match: ``/admin`` matches ``/admin``, ``/admin/x``, not ``/adminx``."""
    request_path = request_path or "/"
    cookie_path = cookie_path or "/"
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
