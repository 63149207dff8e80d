"""The scenario routes as *async* views, served by Django's ASGI handler (``AsyncClient``), so
the middleware runs its ``__acall__`` path and the views use the native ``a*`` methods.

``tests/django_adapter/test_scenarios_async.py`` runs the shared scenario table through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import re_path

from coatcheck_django import SessionStore
from tests.django_adapter.harness import DjangoScenarioClient, route_of, session_of


async def _data(session: SessionStore) -> dict[str, Any]:
    return dict(await session.aitems())


async def _noop(request: HttpRequest, session: SessionStore) -> Any:
    return {}


async def _write(request: HttpRequest, session: SessionStore) -> Any:
    for key, values in request.GET.lists():
        for value in values:
            await session.aset(key, value)
    return await _data(session)


async def _incr(request: HttpRequest, session: SessionStore) -> Any:
    await session.aset("n", await session.aget("n", 0) + 1)
    return await _data(session)


async def _regenerate(request: HttpRequest, session: SessionStore) -> Any:
    await session.aregenerate()
    await session.aset("r", 1)
    return await _data(session)


async def _cycle_key(request: HttpRequest, session: SessionStore) -> Any:
    await session.aregenerate(keep_data=True, renew=request.GET.get("renew") == "1")
    return await _data(session)


async def _destroy(request: HttpRequest, session: SessionStore) -> Any:
    await session.adestroy()
    return {}


async def _reload(request: HttpRequest, session: SessionStore) -> Any:
    await session.aset("tmp", 1)
    await session.areload()
    return await _data(session)


async def _save(request: HttpRequest, session: SessionStore) -> Any:
    await session.aset("s", 1)
    await session.asave()
    return await _data(session)


async def _touch(request: HttpRequest, session: SessionStore) -> Any:
    session.touch()
    return await _data(session)


async def _unset(request: HttpRequest, session: SessionStore) -> Any:
    del request.session
    return {}


async def _cookie_max_age(request: HttpRequest, session: SessionStore) -> Any:
    seconds = float(request.GET["s"])
    assert session.cookie is not None
    session.cookie.max_age = int(seconds) if seconds.is_integer() else seconds
    return await _data(session)


ROUTES: dict[str, Callable[[HttpRequest, SessionStore], Awaitable[Any]]] = {
    "noop": _noop,
    "read": lambda request, session: _data(session),
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


async def dispatch(request: HttpRequest) -> HttpResponse:
    if request.path == "/outside":
        return JsonResponse({"has_session": request.session.session_key is not None})
    handler = ROUTES.get(route_of(request))
    if handler is None:
        return JsonResponse({"error": "no such route"}, status=404)
    return JsonResponse(await handler(request, session_of(request)))


urlpatterns = [re_path(r"^.*$", dispatch)]


def make_client(options: dict[str, Any]) -> DjangoScenarioClient:
    return DjangoScenarioClient(
        options, "tests.django_adapter.async_stack.harness", asynchronous=True
    )
