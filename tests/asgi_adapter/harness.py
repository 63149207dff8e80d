"""The ASGI scenario harness (``tests/scenarios/harness.py``): a Starlette app behind
``coatcheck_asgi.SessionMiddleware``, driven through ``httpx.ASGITransport``.

Each request runs on a fresh ``httpx.AsyncClient`` under ``asyncio.run``, so the client keeps no
cookies (scenarios pass ``cookie=``). Starlette's ``TestClient`` is not used: with plain httpx
it warns (Starlette 1.x wants httpx2), and pytest turns warnings into errors.

The routes answer under ``/`` and, when the options narrow the cookie path (say ``/app``), also
under that path (``/app/read``); ``/outside`` always answers ``{"has_session": bool}``, which is
only interesting when the cookie path is narrower.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from coatcheck import AsyncSession, CookieOptions
from coatcheck_asgi import SessionMiddleware
from tests.scenarios.harness import Response

Handler = Callable[[Request, AsyncSession], Awaitable[Any]]


def _session(request: Request) -> AsyncSession:
    session = request.session
    assert isinstance(session, AsyncSession)
    return session


async def _noop(request: Request, session: AsyncSession) -> Any:
    return {}


async def _read(request: Request, session: AsyncSession) -> Any:
    return dict(session)


async def _write(request: Request, session: AsyncSession) -> Any:
    for key, value in request.query_params.multi_items():
        session[key] = value
    return dict(session)


async def _incr(request: Request, session: AsyncSession) -> Any:
    session["n"] = session.get("n", 0) + 1
    return dict(session)


async def _regenerate(request: Request, session: AsyncSession) -> Any:
    await session.regenerate()
    session["r"] = 1
    return dict(session)


async def _cycle_key(request: Request, session: AsyncSession) -> Any:
    await session.regenerate(keep_data=True, renew=request.query_params.get("renew") == "1")
    return dict(session)


async def _destroy(request: Request, session: AsyncSession) -> Any:
    await session.destroy()
    return {}


async def _reload(request: Request, session: AsyncSession) -> Any:
    session["tmp"] = 1
    await session.reload()
    return dict(session)


async def _save(request: Request, session: AsyncSession) -> Any:
    session["s"] = 1
    await session.save()
    return dict(session)


async def _touch(request: Request, session: AsyncSession) -> Any:
    await session.touch()
    return dict(session)


async def _unset(request: Request, session: AsyncSession) -> Any:
    request.scope["session"] = None
    return {}


async def _cookie_max_age(request: Request, session: AsyncSession) -> Any:
    seconds = float(request.query_params["s"])
    session.cookie.max_age = int(seconds) if seconds.is_integer() else seconds
    return dict(session)


ROUTES: dict[str, Handler] = {
    "noop": _noop,
    "read": _read,
    "write": _write,
    "incr": _incr,
    "regenerate": _regenerate,
    "cycle-key": _cycle_key,
    "destroy": _destroy,
    "reload": _reload,
    "save": _save,
    "touch": _touch,
    "unset": _unset,
    "cookie-max-age": _cookie_max_age,
}


def cookie_path(options: Mapping[str, Any]) -> str:
    """The configured cookie path ("/" for the per-request callable form)."""
    cookie = options.get("cookie")
    if isinstance(cookie, CookieOptions):
        return cookie.path
    if isinstance(cookie, Mapping):
        return str(cookie.get("path", "/"))
    return "/"


def make_app(
    options: Mapping[str, Any], middleware: type[SessionMiddleware] = SessionMiddleware
) -> Starlette:
    """The scenario routes in a Starlette app wired with ``options``."""
    prefix = cookie_path(options).rstrip("/")

    async def dispatch(request: Request) -> JSONResponse:
        path = request.url.path
        if path == "/outside":
            return JSONResponse({"has_session": "session" in request.scope})
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        handler = ROUTES.get(path.lstrip("/"))
        if handler is None:
            return JSONResponse({"error": "no such route"}, status_code=404)
        if handler is _noop:
            return JSONResponse({})
        return JSONResponse(await handler(request, _session(request)))

    return Starlette(
        routes=[Route("/{rest:path}", dispatch)],
        middleware=[Middleware(middleware, **options)],
    )


class ASGIScenarioClient:
    """``ScenarioClient`` over ``httpx.ASGITransport``, without a cookie jar."""

    def __init__(self, app: Any) -> None:
        # Server errors become the 500 that Starlette's ServerErrorMiddleware sends.
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def get(
        self,
        path: str,
        *,
        cookie: str | None = None,
        https: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        sent = dict(headers or {})
        if cookie is not None:
            sent["cookie"] = cookie
        url = f"{'https' if https else 'http'}://testserver{path}"
        response = asyncio.run(self._get(url, sent))
        try:
            body: Any = response.json()
        except json.JSONDecodeError:
            body = response.text
        return Response(
            status=response.status_code,
            set_cookies=response.headers.get_list("set-cookie"),
            vary=response.headers.get("vary"),
            body=body,
        )

    async def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(transport=self.transport) as client:
            return await client.get(url, headers=headers)


def make_client(options: dict[str, Any]) -> ASGIScenarioClient:
    """The harness entry point shared by the adapters' scenario tests."""
    return ASGIScenarioClient(make_app(options))
