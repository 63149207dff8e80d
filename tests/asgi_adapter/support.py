"""Helpers for the ASGI adapter tests: a pinned clock, raw ASGI calls, an ordered event log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from coatcheck.stores import MemoryStore
from coatcheck_asgi import SessionMiddleware

SECRET = "keyboard cat"
#: 2026-11-27 is a Friday; express's example cookie in the reference uses this date.
NOW = datetime(2026, 11, 27, 22, 57, 24, tzinfo=timezone.utc)
#: express-session's own test vectors (reference §10): the signed cookie values for these ids.
APPLE = "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
FOO = "s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ"
PERCENT = "s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g"
BROWSER_COOKIE = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}


def express_cookie_value(sid: str, secret: str) -> str:
    """cookie-signature's ``'s:' + sign(sid)``, URL-encoded: an independent re-implementation."""
    digest = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode().rstrip("=")
    return quote(f"s:{sid}.{signature}", safe="!'()*-._~")


def ids(*values: str) -> Any:
    """A ``genid`` handing out ``values`` in order (so Set-Cookie strings can be exact)."""
    source: Iterator[str] = iter(values)
    return lambda request: next(source)


class PinnedMiddleware(SessionMiddleware):
    """The middleware with the clock pinned at ``NOW``."""

    def now(self) -> datetime:
        return NOW


def pinned_store() -> MemoryStore:
    return MemoryStore(clock=lambda: NOW)


def options(**overrides: Any) -> dict[str, Any]:
    """Explicit express options (no FutureWarning), a pinned store and ``genid``."""
    base: dict[str, Any] = {
        "secret": SECRET,
        "resave": False,
        "save_uninitialized": True,
        "genid": ids("apple", "/foo", "%"),
    }
    base.update(overrides)
    base.setdefault("store", pinned_store())
    return base


@dataclass
class EventLog:
    """Store calls and sent ASGI messages in one ordered list, to check what happened first."""

    events: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        self.events.append((kind, detail))


@dataclass
class LoggingStore:
    """A pinned MemoryStore that logs ``("store", "<method> <sid>")`` and can fail on demand."""

    log: EventLog
    inner: MemoryStore = field(default_factory=pinned_store)
    fail: Mapping[str, BaseException] = field(default_factory=dict)
    threads: list[int] = field(default_factory=list)

    def _call(self, method: str, sid: str) -> None:
        self.threads.append(threading.get_ident())
        self.log.add("store", f"{method} {sid}")
        if method in self.fail:
            raise self.fail[method]

    def get(self, sid: str) -> dict[str, Any] | None:
        self._call("get", sid)
        return self.inner.get(sid)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._call("set", sid)
        self.inner.set(sid, record)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self._call("touch", sid)
        self.inner.touch(sid, record)

    def destroy(self, sid: str) -> None:
        self._call("destroy", sid)
        self.inner.destroy(sid)


class NonBlockingLoggingStore(LoggingStore):
    never_blocks = True


@dataclass
class Sent:
    """What a raw ASGI app sent through the middleware."""

    messages: list[dict[str, Any]]

    @property
    def start(self) -> dict[str, Any]:
        (start,) = [m for m in self.messages if m["type"] == "http.response.start"]
        return start

    def header_values(self, name: bytes) -> list[str]:
        return [v.decode("latin-1") for k, v in self.start.get("headers", []) if k == name]

    @property
    def set_cookies(self) -> list[str]:
        return self.header_values(b"set-cookie")

    @property
    def vary(self) -> list[str]:
        return self.header_values(b"vary")


def http_scope(
    path: str = "/",
    *,
    cookies: Sequence[str] = (),
    scheme: str = "http",
    headers: Sequence[tuple[bytes, bytes]] = (),
    root_path: str = "",
    kind: str = "http",
) -> dict[str, Any]:
    """An ASGI HTTP (or WebSocket) scope as uvicorn builds it."""
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(b"cookie", c.encode("latin-1")) for c in cookies]
        + list(headers),
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }


def request_receiver() -> Callable[[], Awaitable[dict[str, Any]]]:
    """ASGI ``receive`` for a bodiless request: the request, then nothing until cancelled.

    (Starlette's StreamingResponse listens for a disconnect while it streams.)
    """
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


async def call(app: Any, scope: dict[str, Any], log: EventLog | None = None) -> Sent:
    """Run one HTTP request through ``app`` and collect what it sent (the scope is mutated)."""
    messages: list[dict[str, Any]] = []
    receive = request_receiver()

    async def send(message: Any) -> None:
        messages.append(dict(message))
        if log is not None:
            log.add("send", message["type"] + ("+" if message.get("more_body") else ""))

    await app(scope, receive, send)
    return Sent(messages)
