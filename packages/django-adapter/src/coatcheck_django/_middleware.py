"""``SessionMiddleware``: Django's request/response translated to and from the core.

Sync and async capable (Django picks per stack). Per request: the request's facts go to the
core's driver, which loads the session before the view runs; ``request.session`` is a
``SessionStore`` bound to that cycle; after the view, the driver decides and runs the store
operations *before* the response is returned, so a failing store is a 500 (Django's error
handling) and never a lost write behind a 200. The Set-Cookie is put into
``response.cookies`` as an ``ExactMorsel`` so it leaves byte for byte as express's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.deprecation import MiddlewareMixin

from coatcheck import (
    AsyncDriver,
    Decision,
    RequestReceived,
    Session,
    SessionBusy,
    SessionCycle,
    SyncDriver,
    cookie_values,
    vary_with_cookie,
)

from ._morsel import ExactMorsel
from ._settings import engine_session_store, load_config
from ._store import SessionStore

Cycle = SessionCycle[Session]
_BOUND = "_coatcheck_cycle"  # request attribute: the cycle and session process_request made
logger = logging.getLogger("coatcheck")


def cookie_headers(request: Any, name: str) -> str | list[str] | None:
    """The raw Cookie header(s). Under ASGI each one is read from the scope: HTTP/2 browsers send
    one header per cookie and Django (before ticket #36399) joins them with ",", not "; ".
    A value of our cookie put into ``request.COOKIES`` by code before us (a test, a middleware)
    is seen too, after the browser's own."""
    scope = getattr(request, "scope", None)
    if isinstance(scope, Mapping):
        headers = scope.get("headers", ())
        raw: Any = [value.decode("latin1") for key, value in headers if key.lower() == b"cookie"]
    else:
        raw = request.META.get("HTTP_COOKIE")
    parsed = request.__dict__.get("COOKIES")  # only if already parsed: no work otherwise
    if parsed and name in parsed and parsed[name] not in cookie_values(raw, name):
        raw = [*([raw] if isinstance(raw, str) else raw or []), f"{name}={parsed[name]}"]
    return raw  # type: ignore[no-any-return]


def request_facts(request: Any, name: str) -> RequestReceived:
    """What the core needs to know about a Django request."""
    meta = request.META
    return RequestReceived(
        now=datetime.now(timezone.utc),
        cookie_header=cookie_headers(request, name),
        path=request.path,
        # The scheme the server itself saw (WSGI url_scheme / ASGI scope), before
        # SECURE_PROXY_SSL_HEADER; is_secure() is Django's verdict, used when proxy=None.
        direct_tls=request._get_scheme() == "https",
        forwarded_proto=meta.get("HTTP_X_FORWARDED_PROTO"),
        framework_secure=request.is_secure(),
        request=request,
    )


def busy_response(exc: SessionBusy) -> HttpResponse:
    """503 with ``Retry-After``: the session's turn did not come (``SessionBusy``)."""
    logger.info("%s; answering 503", exc)
    response = HttpResponse(
        "Service Unavailable: the session is busy, try again",
        status=503,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = "1"
    return response


class SessionMiddleware(DjangoSessionMiddleware):  # type: ignore[misc]
    """Put it in ``MIDDLEWARE`` in place of Django's (it subclasses Django's, so checks such as
    admin.E410 are satisfied); options come from ``settings.COATCHECK``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        # Django's own __init__ would import SESSION_ENGINE blindly; only the mixin's async
        # detection is wanted (it marks us a coroutine function when get_response is one).
        MiddlewareMixin.__init__(self, get_response)
        self.async_mode = iscoroutinefunction(get_response)  # Django 4.2's mixin has no such
        if self.async_mode:  # attribute; 5.x sets it the same way
            markcoroutinefunction(self)
        self.SessionStore: type[SessionStore] = engine_session_store()
        self.config = load_config()  # ConfigError here, at start-up
        self.driver = SyncDriver(self.config, Session)
        self.async_driver = AsyncDriver(self.config, Session)

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        refused = self.process_request(request)
        if refused is not None:
            return refused
        try:
            response = self.get_response(request)
        except BaseException:
            bound = request.__dict__.pop(_BOUND, None)
            if bound is not None:  # write nothing, release the session's lock
                self.driver.abort(bound[0])
            raise
        return self.process_response(request, response)

    async def __acall__(self, request: Any) -> Any:
        try:
            cycle = await self.async_driver.begin(request_facts(request, self.config.name))
        except SessionBusy as exc:  # "lock": the session stayed locked for lock_timeout
            return busy_response(exc)
        self._attach(request, cycle)
        try:
            response = await self.get_response(request)
        except BaseException:
            if cycle is not None:
                await self.async_driver.abort(cycle)
            raise
        cycle = self._before_end(request, response)
        if cycle is not None:
            try:
                decision = await self.async_driver.end(cycle, datetime.now(timezone.utc))
            except SessionBusy as exc:  # "merge": every retry met a newer version
                return busy_response(exc)
            self._apply(response, decision)
            self._save_after_streaming(response, cycle)
        return response

    # -- Django's middleware hooks (so decorator_from_middleware works) -------------------------
    def process_request(self, request: Any) -> HttpResponse | None:
        """Load the session (sync store); ``request.session`` is bound to it. A session that
        stayed locked for ``lock_timeout`` (``"lock"``) is a 503 instead."""
        try:
            cycle = self.driver.begin(request_facts(request, self.config.name))
        except SessionBusy as exc:
            return busy_response(exc)
        self._attach(request, cycle)
        return None

    def process_response(self, request: Any, response: Any) -> Any:
        """Decide and save before the response is returned (store failures are a 500)."""
        cycle = self._before_end(request, response)
        if cycle is not None:
            try:
                decision = self.driver.end(cycle, datetime.now(timezone.utc))
            except SessionBusy as exc:  # "merge": every retry met a newer version
                return busy_response(exc)
            self._apply(response, decision)
            self._save_after_streaming(response, cycle)
        return response

    # -- translation ----------------------------------------------------------------------------
    def _attach(self, request: Any, cycle: Cycle | None) -> None:
        """``request.session``: bound to the cycle, or detached outside the cookie path."""
        if cycle is None:
            request.session = self.SessionStore(detached=True)
            return
        request.session = session = self.SessionStore(cycle=cycle)
        request.__dict__[_BOUND] = (cycle, session)

    @staticmethod
    def _before_end(request: Any, response: Any) -> Cycle | None:
        """The cycle to decide, with what the view did that the core must know: a replaced or
        deleted ``request.session``, data after ``flush()``, a 5xx (saves nothing, as Django)."""
        bound: tuple[Cycle, SessionStore] | None = request.__dict__.pop(_BOUND, None)
        if bound is None:
            return None
        cycle, session = bound
        current = getattr(request, "session", None)
        if current is session or getattr(current, "_cycle", None) is cycle:
            session._revive()
        elif current is None:
            cycle.set_unset()
        elif isinstance(current, (SessionBase, Mapping)):
            cycle.replace(dict(current.items()))
        else:
            raise TypeError(f"request.session must be a session or a mapping, not {current!r}")
        if response.status_code >= 500:
            cycle.discard()
        return cycle

    def _apply(self, response: Any, decision: Decision) -> None:
        if decision.interrupted:  # deleted elsewhere while this request ran: as Django does
            raise SessionInterrupted(
                "The request's session was deleted before the request completed. "
                "The user may have logged out in a concurrent request, for example."
            )
        if decision.set_cookie is not None:
            response.cookies[self.config.name] = ExactMorsel(decision.set_cookie)
        if decision.vary_cookie:
            response.headers["Vary"] = vary_with_cookie(response.headers.get("Vary"))

    def _save_after_streaming(self, response: Any, cycle: Cycle) -> None:
        """A generator body can still change the session after the headers went out: save it
        again once the body is done, as express does (the cookie decision already left)."""
        if not isinstance(response, StreamingHttpResponse) or isinstance(response, FileResponse):
            return
        content = response.streaming_content
        response.streaming_content = (
            self._asave_late(content, cycle)
            if response.is_async
            else self._save_late(content, cycle)
        )

    def _save_late(self, content: Iterator[bytes], cycle: Cycle) -> Iterator[bytes]:
        yield from content
        self.driver.end_late(cycle)

    async def _asave_late(
        self, content: AsyncIterator[bytes], cycle: Cycle
    ) -> AsyncIterator[bytes]:
        async for chunk in content:
            yield chunk
        await self.async_driver.end_late(cycle)
