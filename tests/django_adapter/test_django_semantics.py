"""Where Django's own behaviour wins over express in this adapter (issue 9; DESIGN "Details
pinned down", Django): 5xx saves nothing, flush() stores nothing for a visitor who gets no new
data, SESSION_SAVE_EVERY_REQUEST, decorator_from_middleware, a logout elsewhere interrupts."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django.utils.decorators import decorator_from_middleware

from coatcheck.stores import MemoryStore
from coatcheck_django import SessionMiddleware, SessionStore

factory = RequestFactory()


def writes(status: int = 200) -> Any:
    def view(request: HttpRequest) -> HttpResponse:
        request.session["hello"] = "world"
        return HttpResponse(status=status)

    return view


def test_a_5xx_response_saves_nothing_and_sets_no_cookie(store: MemoryStore) -> None:
    request = factory.get("/")
    response = SessionMiddleware(writes(503))(request)
    assert store.length() == 0
    assert not response.cookies
    assert request.session.load() == {}  # Django's load(): what the store holds
    assert response["Vary"] == "Cookie"


def test_a_4xx_response_still_saves(store: MemoryStore) -> None:
    response = SessionMiddleware(writes(404))(factory.get("/"))
    assert store.length() == 1
    assert "sessionid" in response.cookies


def test_an_anonymous_logout_stores_nothing_and_sets_no_cookie(store: MemoryStore) -> None:
    def logout(request: HttpRequest) -> HttpResponse:
        request.session.flush()
        return HttpResponse()

    response = SessionMiddleware(logout)(factory.get("/"))
    assert store.length() == 0
    assert not response.cookies


def test_data_after_flush_is_a_new_session(store: MemoryStore) -> None:
    first = factory.get("/")
    SessionMiddleware(writes())(first)
    old_key = first.session.session_key

    def logout_with_a_message(request: HttpRequest) -> HttpResponse:
        request.session.flush()
        assert request.session.session_key is None
        request.session["bye"] = True
        return HttpResponse()

    again = factory.get("/", HTTP_COOKIE=f"sessionid={old_key}")
    response = SessionMiddleware(logout_with_a_message)(again)
    assert again.session.session_key not in (None, old_key)
    assert response.cookies["sessionid"].value == again.session.session_key
    assert store.length() == 1
    assert again.session.load() == {"bye": True}


def test_save_every_request_is_rolling_and_resave(store: MemoryStore) -> None:
    with override_settings(
        SESSION_SAVE_EVERY_REQUEST=True,
        COATCHECK={"store": store, "save_uninitialized": False},
    ):
        first = factory.get("/")
        SessionMiddleware(writes())(first)
        again = factory.get("/", HTTP_COOKIE=f"sessionid={first.session.session_key}")
        response = SessionMiddleware(lambda request: HttpResponse())(again)
    assert response.cookies["sessionid"].value == first.session.session_key


def test_decorator_from_middleware_runs_coatcheck(store: MemoryStore) -> None:
    view = decorator_from_middleware(SessionMiddleware)(writes())
    request = factory.get("/")
    response = view(request)
    assert isinstance(request.session, SessionStore)
    assert response.cookies["sessionid"].value.startswith("s%3A")  # express's signed id
    assert store.length() == 1


def test_a_session_deleted_elsewhere_is_not_resurrected(store: MemoryStore) -> None:
    s1 = SessionStore()
    s1["a"] = 1
    s1.save(must_create=True)
    SessionStore(s1.session_key).delete()  # a logout in another request
    s1["a"] = 2
    with pytest.raises(UpdateError):
        s1.save()
    assert store.length() == 0

    first = factory.get("/")
    SessionMiddleware(writes())(first)

    def logged_out_meanwhile(request: HttpRequest) -> HttpResponse:
        request.session["x"] = 1
        SessionStore(request.session.session_key).delete()
        return HttpResponse()

    again = factory.get("/", HTTP_COOKIE=f"sessionid={first.session.session_key}")
    with pytest.raises(SessionInterrupted):
        SessionMiddleware(logged_out_meanwhile)(again)
    assert store.length() == 0
