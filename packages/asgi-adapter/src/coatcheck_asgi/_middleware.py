"""The ASGI middleware: translate a scope and its messages to and from the core, nothing more.

The session is loaded before the app runs and put at ``scope["session"]``. Its decision (the
``Set-Cookie`` header and the store writes) is taken when the app starts its response, and the
store writes finish *before* ``http.response.start`` goes out: a failing store raises there, so
the server (or Starlette's ``ServerErrorMiddleware``) answers 500 instead of a 200 that lied.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any

from coatcheck import (
    AsyncDriver,
    AsyncSession,
    ConfigError,
    Decision,
    RequestReceived,
    SessionBusy,
    SessionConfig,
    SessionCycle,
    SyncDriver,
    vary_with_cookie,
)
from coatcheck.stores._async import is_async_store

logger = logging.getLogger("coatcheck")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Messages that commit the response headers: the decision is taken and saved right before them.
_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})
#: Body messages; the one without ``more_body`` is the last chance to save late changes.
_BODIES = frozenset(
    {"http.response.body", "http.response.zerocopysend", "websocket.http.response.body"}
)
_PATHSEND = "http.response.pathsend"  # always the final body message (extension)


def original_path(scope: Scope) -> str:
    """express's ``originalUrl`` pathname: the full path the client asked for.

    The ASGI spec (and uvicorn, Starlette >= 0.35) put ``root_path`` inside ``path``; servers
    of the older convention strip it, so it is put back only when ``path`` lacks it.
    """
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    return path if not root or path.startswith(root) else root + path


def request_received(scope: Scope, now: datetime) -> RequestReceived:
    """The core's facts about this connection: cookies, path, TLS, the forwarded scheme."""
    cookies: list[str] = []
    forwarded_proto: str | None = None
    for name, value in scope.get("headers") or ():
        name = bytes(name).lower()
        if name == b"cookie":
            cookies.append(bytes(value).decode("latin-1"))
        elif name == b"x-forwarded-proto" and forwarded_proto is None:
            forwarded_proto = bytes(value).decode("latin-1")
    tls = scope.get("scheme") in ("https", "wss")
    return RequestReceived(
        now=now,
        cookie_header=cookies or None,
        path=original_path(scope),
        direct_tls=tls,
        forwarded_proto=forwarded_proto,
        # ASGI has no separate "framework" notion: the scheme is already what uvicorn's
        # --proxy-headers (or any proxy middleware) made of X-Forwarded-Proto.
        framework_secure=tls,
        request=scope,
    )


def _adopt_app_assignment(scope: Scope, cycle: SessionCycle[AsyncSession]) -> None:
    """``scope["session"] = None`` unsets the session; any other mapping replaces its data."""
    current = scope.get("session")
    if current is None:
        cycle.set_unset()
    elif current is not cycle.session:
        if not isinstance(current, Mapping):
            raise TypeError(f'scope["session"] must be a mapping or None, not {type(current)}')
        cycle.replace(current)
        scope["session"] = cycle.session  # later changes (streaming) land on the real session


def _with_headers(message: Message, decision: Decision, *, http: bool) -> Message:
    """A copy of a start message carrying the session's ``Set-Cookie`` and ``Vary: Cookie``."""
    headers = [(bytes(k), bytes(v)) for k, v in message.get("headers") or ()]
    if http and decision.vary_cookie:
        varies = [v.decode("latin-1") for k, v in headers if k.lower() == b"vary"]
        existing = ", ".join(varies) or None
        vary = vary_with_cookie(existing)
        if vary != existing:
            headers = [(k, v) for k, v in headers if k.lower() != b"vary"]
            headers.append((b"vary", vary.encode("latin-1")))
    if decision.set_cookie is not None:
        headers.append((b"set-cookie", decision.set_cookie.encode("latin-1")))
    return {**message, "headers": headers}


class SessionMiddleware:
    """express-session for ASGI: ``SessionMiddleware(app, secret=..., store=..., ...)``.

    Takes exactly the keyword options of ``coatcheck.SessionConfig.from_options`` and validates
    them here (``ConfigError``). HTTP and WebSocket scopes get ``scope["session"]`` (an
    ``AsyncSession``); lifespan and other scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        try:
            self.config = SessionConfig.from_options(**options)
        except ConfigError as exc:
            # Starlette builds its middleware at lifespan start-up, and uvicorn's default
            # ``--lifespan auto`` swallows an error there as "lifespan unsupported" (INFO):
            # say it at ERROR first, so a misconfiguration cannot pass for a healthy start.
            logger.error(
                "coatcheck_asgi.SessionMiddleware: ConfigError: %s -- no request can be served "
                "(under uvicorn, --lifespan on makes this stop the server at start-up)",
                exc,
            )
            raise
        self.driver: AsyncDriver[AsyncSession] = AsyncDriver(self.config, AsyncSession)
        #: A sync store that never blocks (MemoryStore) is called inline, without an await hop
        #: through the async adapter; the session's own methods still go through ``driver``.
        self.inline_driver: SyncDriver[AsyncSession] | None = (
            SyncDriver(self.config, AsyncSession) if runs_inline(self.config) else None
        )

    def now(self) -> datetime:
        """The current time; a subclass may pin it (tests, replays)."""
        return datetime.now(timezone.utc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # express: a request that already has a session (an outer middleware) is left alone.
        if scope["type"] not in ("http", "websocket") or scope.get("session") is not None:
            await self.app(scope, receive, send)
            return
        inline = self.inline_driver
        request = request_received(scope, self.now())
        try:
            cycle = inline.begin(request) if inline else await self.driver.begin(request)
        except SessionBusy as exc:  # "lock": the session stayed locked for lock_timeout
            await answer_busy(scope, send, exc)
            return
        if cycle is None:  # outside the cookie path: no session at all, as in express
            await self.app(scope, receive, send)
            return
        scope["session"] = cycle.session
        started = busy = False

        async def send_with_session(message: Message) -> None:
            nonlocal started, busy
            kind = message["type"]
            if busy:  # a 503 went out instead of the app's response: the rest is dropped
                return
            if kind in _STARTS and not started:
                started = True
                _adopt_app_assignment(scope, cycle)
                now = self.now()
                try:
                    decision = (
                        inline.end(cycle, now) if inline else await self.driver.end(cycle, now)
                    )
                except SessionBusy as exc:  # "merge": every retry met a newer version
                    busy = True
                    await answer_busy(scope, send, exc)
                    return
                message = _with_headers(message, decision, http=kind != "websocket.accept")
            elif started and (
                kind == _PATHSEND or (kind in _BODIES and not message.get("more_body", False))
            ):
                _adopt_app_assignment(scope, cycle)
                # a streaming handler may have changed it after start
                if inline:
                    inline.end_late(cycle)
                else:
                    await self.driver.end_late(cycle)
            await send(message)

        try:
            await self.app(scope, receive, send_with_session)
        finally:
            if not started:  # the app failed (or never answered): write nothing, free the lock
                await self.driver.abort(cycle)
        if started and scope["type"] == "websocket":
            # Changes made during the socket's life are saved when the app is done with it.
            _adopt_app_assignment(scope, cycle)
            if inline:
                inline.end_late(cycle)
            else:
                await self.driver.end_late(cycle)


async def answer_busy(scope: Scope, send: Send, exc: SessionBusy) -> None:
    """503 (``Retry-After: 1``) for HTTP; close code 1013 ("try again later") for a WebSocket."""
    logger.info("%s; answering 503", exc)
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013})
        return
    body = b"Service Unavailable: the session is busy, try again"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def runs_inline(config: SessionConfig) -> bool:
    """Whether the middleware calls the store without awaiting: a sync store that says it
    never blocks, unless the ``"lock"`` concurrency mode may make a request wait for another."""
    store = config.store
    return (
        bool(getattr(store, "never_blocks", False))
        and not is_async_store(store)
        and getattr(config, "concurrency", None) != "lock"
    )
