"""A small Django app (views + URLconf) whose views use the session through Django's own
consumers: contrib.auth, contrib.messages, CSRF_USE_SESSIONS, the expiry API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth import (
    aauthenticate,
    alogin,
    alogout,
    authenticate,
    login,
    logout,
    update_session_auth_hash,
)
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path

from coatcheck_django import SessionStore, get_session


def session_of(request: HttpRequest) -> SessionStore:
    session = request.session
    assert isinstance(session, SessionStore)
    return session


def data(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


def put(request: HttpRequest) -> JsonResponse:
    for key, value in request.GET.items():
        request.session[key] = value
    return JsonResponse(dict(request.session.items()))


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


async def awhoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse({"user": user.get_username() if user.is_authenticated else None})


def login_view(request: HttpRequest) -> JsonResponse:
    user = authenticate(request, username=request.GET["u"], password=request.GET["p"])
    assert user is not None
    login(request, user)
    return JsonResponse({"id": session_of(request).id})


def logout_view(request: HttpRequest) -> JsonResponse:
    logout(request)
    return JsonResponse({"id": session_of(request).id})


async def alogin_view(request: HttpRequest) -> JsonResponse:
    user = await aauthenticate(request, username=request.GET["u"], password=request.GET["p"])
    assert user is not None
    await alogin(request, user)
    return JsonResponse({"id": session_of(request).id})


async def alogout_view(request: HttpRequest) -> JsonResponse:
    await alogout(request)
    return JsonResponse({"id": session_of(request).id})


def change_password(request: HttpRequest) -> JsonResponse:
    user: Any = request.user
    user.set_password(request.GET["p"])
    user.save()
    update_session_auth_hash(request, user)
    return JsonResponse({"id": session_of(request).id})


def add_message(request: HttpRequest) -> HttpResponse:
    messages.info(request, request.GET.get("text", "saved"))
    return redirect("/messages/")


def show_messages(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"messages": [str(m) for m in messages.get_messages(request)]})


def csrf_token(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": get_token(request)})


def csrf_post(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def expiry(request: HttpRequest) -> JsonResponse:
    session = session_of(request)
    if "s" in request.GET:
        session.set_expiry(int(request.GET["s"]))
    session["seen"] = True
    return JsonResponse(
        {
            "age": session.get_expiry_age(),
            "at_browser_close": session.get_expire_at_browser_close(),
            "date": session.get_expiry_date().isoformat(),
        }
    )


def long_cookie(request: HttpRequest) -> JsonResponse:
    """express's per-session cookie through the typed accessor (issue 10.21)."""
    session = get_session(request)
    session.cookie.max_age = 120
    session["long"] = True
    return JsonResponse({"max_age": session.cookie.max_age})


def replace(request: HttpRequest) -> JsonResponse:
    request.session = {"replaced": True}  # type: ignore[assignment]
    return JsonResponse({})


def unset(request: HttpRequest) -> JsonResponse:
    del request.session
    return JsonResponse({})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"first "
        request.session["streamed"] = True  # after the headers: saved when the body ends
        yield b"last"

    return StreamingHttpResponse(body())


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"first "
        await request.session.aset("streamed", True)
        yield b"last"

    return StreamingHttpResponse(body())


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no session here")


def vary(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(str(request.session.get("a")))
    response["Vary"] = "Accept-Language"
    return response


urlpatterns = [
    path("data/", data),
    path("put/", put),
    path("whoami/", whoami),
    path("awhoami/", awhoami),
    path("login/", login_view),
    path("logout/", logout_view),
    path("alogin/", alogin_view),
    path("alogout/", alogout_view),
    path("change-password/", change_password),
    path("message/", add_message),
    path("messages/", show_messages),
    path("csrf-token/", csrf_token),
    path("csrf-post/", csrf_post),
    path("expiry/", expiry),
    path("long-cookie/", long_cookie),
    path("replace/", replace),
    path("unset/", unset),
    path("stream/", stream),
    path("astream/", astream),
    path("plain/", plain),
    path("vary/", vary),
    path("inside/put/", put),
    path("outside/data/", data),
    path("outside/login/", login_view),
]
