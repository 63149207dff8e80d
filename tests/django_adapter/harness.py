"""The Django scenario harness (``tests/scenarios/harness.py``): sync views behind
``coatcheck_django.SessionMiddleware``, driven by Django's test ``Client`` (WSGI).

Each request runs under ``override_settings`` carrying the scenario's options as
``COATCHECK`` and a fresh ``Client`` (so no cookie jar): coatcheck_django reads its settings when
the middleware is built, which the new client does on its first request. Django's
``SESSION_COOKIE_*`` settings, which are the adapter's defaults, are set to express's defaults
here so that only the scenario's options decide the cookie.

This module is also the URLconf: the routes answer under ``/`` and under a narrower cookie path
(``/app/read``); ``/outside`` answers ``{"has_session": bool}`` (a detached session there).
``tests/django_adapter/async_stack/harness.py`` serves the same routes as async views over ASGI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import re_path

from coatcheck import CookieOptions
from coatcheck_django import SessionStore
from tests.django_adapter.djsettings import ensure_configured
from tests.scenarios.harness import Response

ensure_configured()

#: Django's session settings at express's defaults: name, path "/", HttpOnly, nothing else.
EXPRESS_DEFAULTS: dict[str, Any] = {
    "SESSION_ENGINE": "coatcheck_django",
    "SESSION_COOKIE_NAME": "connect.sid",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": False,
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
}


def session_of(request: HttpRequest) -> SessionStore:
    session = request.session
    assert isinstance(session, SessionStore)
    return session


def cookie_path(options: Mapping[str, Any]) -> str:
    """The configured cookie path ("/" for the per-request callable form)."""
    cookie = options.get("cookie")
    if isinstance(cookie, CookieOptions):
        return cookie.path
    if isinstance(cookie, Mapping):
        return str(cookie.get("path", "/"))
    return "/"


def route_of(request: HttpRequest) -> str:
    """The route name, with the cookie path prefix removed."""
    prefix = cookie_path(settings.COATCHECK).rstrip("/")
    path = request.path
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path.lstrip("/")


def _write(request: HttpRequest, session: SessionStore) -> Any:
    for key, values in request.GET.lists():
        for value in values:
            session[key] = value
    return dict(session.items())


def _incr(request: HttpRequest, session: SessionStore) -> Any:
    session["n"] = session.get("n", 0) + 1
    return dict(session.items())


def _regenerate(request: HttpRequest, session: SessionStore) -> Any:
    session.regenerate()
    session["r"] = 1
    return dict(session.items())


def _cycle_key(request: HttpRequest, session: SessionStore) -> Any:
    session.regenerate(keep_data=True, renew=request.GET.get("renew") == "1")
    return dict(session.items())


def _destroy(request: HttpRequest, session: SessionStore) -> Any:
    session.destroy()
    return {}


def _reload(request: HttpRequest, session: SessionStore) -> Any:
    session["tmp"] = 1
    session.reload()
    return dict(session.items())


def _save(request: HttpRequest, session: SessionStore) -> Any:
    session["s"] = 1
    session.save()
    return dict(session.items())


def _touch(request: HttpRequest, session: SessionStore) -> Any:
    session.touch()
    return dict(session.items())


def _unset(request: HttpRequest, session: SessionStore) -> Any:
    del request.session
    return {}


def _cookie_max_age(request: HttpRequest, session: SessionStore) -> Any:
    seconds = float(request.GET["s"])
    assert session.cookie is not None
    session.cookie.max_age = int(seconds) if seconds.is_integer() else seconds
    return dict(session.items())


ROUTES: dict[str, Callable[[HttpRequest, SessionStore], Any]] = {
    "noop": lambda request, session: {},
    "read": lambda request, session: dict(session.items()),
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


def dispatch(request: HttpRequest) -> HttpResponse:
    if request.path == "/outside":
        return JsonResponse({"has_session": request.session.session_key is not None})
    handler = ROUTES.get(route_of(request))
    if handler is None:
        return JsonResponse({"error": "no such route"}, status=404)
    return JsonResponse(handler(request, session_of(request)))


urlpatterns = [re_path(r"^.*$", dispatch)]


def scenario_settings(options: Mapping[str, Any], urlconf: str) -> dict[str, Any]:
    return {
        **EXPRESS_DEFAULTS,
        "ROOT_URLCONF": urlconf,
        "MIDDLEWARE": ["coatcheck_django.SessionMiddleware"],
        "COATCHECK": dict(options),
    }


def to_response(response: Any) -> Response:
    """What a scenario looks at; Set-Cookie as Django's handlers write it from the morsels."""
    if response.get("Content-Type") == "application/json":
        body: Any = json.loads(response.content)
    else:
        body = response.content.decode()
    return Response(
        status=response.status_code,
        set_cookies=[morsel.output(header="").strip() for morsel in response.cookies.values()],
        vary=response.get("Vary"),
        body=body,
    )


class DjangoScenarioClient:
    """``ScenarioClient`` over Django's test client (``asynchronous``: ``AsyncClient``/ASGI)."""

    def __init__(self, options: Mapping[str, Any], urlconf: str, asynchronous: bool) -> None:
        self.settings = scenario_settings(options, urlconf)
        self.asynchronous = asynchronous

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
            sent["Cookie"] = cookie
        with override_settings(**self.settings):
            if self.asynchronous:
                client = AsyncClient(raise_request_exception=False)
                response = asyncio.run(client.get(path, secure=https, headers=sent))
            else:
                response = Client(raise_request_exception=False).get(
                    path, secure=https, headers=sent
                )
        return to_response(response)


def make_client(options: dict[str, Any]) -> DjangoScenarioClient:
    """The harness entry point shared by the adapters' scenario tests."""
    return DjangoScenarioClient(options, "tests.django_adapter.harness", asynchronous=False)
