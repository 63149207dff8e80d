"""Sessions of a user in Django: ``user_key`` defaults to contrib.auth's ``_auth_user_id``, so
logins are indexed with no configuration; ``revoke_others()`` and ``logout_everywhere``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path

import coatcheck_django
from coatcheck import sessions_of
from coatcheck.stores import MemoryStore
from coatcheck_django._settings import load_config
from tests.django_adapter.app import login_view, session_of, whoami


def sessions(request: HttpRequest) -> JsonResponse:
    listed = session_of(request).sessions()
    return JsonResponse({"sessions": [[i.id_prefix, i.current] for i in listed]})


def others(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"revoked": session_of(request).revoke_others()})


def everywhere(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"revoked": coatcheck_django.logout_everywhere(request)})


async def aeverywhere(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"revoked": await coatcheck_django.alogout_everywhere(request)})


urlpatterns = [
    path("login/", login_view),
    path("whoami/", whoami),
    path("sessions/", sessions),
    path("others/", others),
    path("everywhere/", everywhere),
    path("aeverywhere/", aeverywhere),
]


@override_settings(ROOT_URLCONF=__name__)
def test_contrib_auth_logins_are_indexed_and_revocable(store: MemoryStore, user: Any) -> None:
    assert load_config().user_key == "_auth_user_id"
    laptop, phone, tablet = Client(), Client(), Client()
    for browser in (laptop, phone, tablet):
        browser.get("/login/", {"u": user.username, "p": "pw-1"})
    assert len(sessions_of(load_config(), user.pk)) == 3
    listed = laptop.get("/sessions/").json()["sessions"]
    assert [current for _, current in listed] == [True, False, False]
    assert laptop.get("/others/").json() == {"revoked": 2}
    assert phone.get("/whoami/").json() == {"user": None}
    assert laptop.get("/whoami/").json() == {"user": user.username}
    phone.get("/login/", {"u": user.username, "p": "pw-1"})
    assert phone.get("/everywhere/").json() == {"revoked": 2}
    assert laptop.get("/whoami/").json() == {"user": None}
    assert phone.get("/whoami/").json() == {"user": None}
    assert tablet.get("/whoami/").json() == {"user": None}
    assert sessions_of(load_config(), user.pk) == []


@override_settings(ROOT_URLCONF=__name__)
def test_async_logout_everywhere(store: MemoryStore, user: Any) -> None:
    laptop, phone = Client(), Client()
    laptop.get("/login/", {"u": user.username, "p": "pw-1"})
    phone.get("/login/", {"u": user.username, "p": "pw-1"})
    assert phone.get("/aeverywhere/").json() == {"revoked": 2}
    assert laptop.get("/whoami/").json() == {"user": None}
