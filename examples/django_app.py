"""express-session's README examples, "View counter" and "User login", on Django (one file).

Run it (binds 127.0.0.1; sessions in ./coatcheck-django.sqlite3 unless told otherwise)::

    python examples/django_app.py --port 8004 [--store sqlite|memory] [--db PATH]

then open http://127.0.0.1:8004/ and log in with any name. coatcheck signs with Django's
``SECRET_KEY``, taken here from ``$COATCHECK_SECRET`` (a development default otherwise).

The wiring is three settings: ``MIDDLEWARE`` gets ``coatcheck_django.SessionMiddleware`` in place
of Django's, ``SESSION_ENGINE = "coatcheck_django"``, and ``COATCHECK`` holds the options. Views
use ``request.session`` as any Django code does: ``cycle_key()`` and ``flush()`` are Django's
names for express's ``regenerate(keep_data=True)`` and "clear, then a new id".
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from _shared import (
    MAX_AGE,
    announce,
    count_view,
    home_page,
    login_page,
    open_store,
    parse_args,
    secret,
)
from django.conf import settings
from django.core.management import execute_from_command_line
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path


def see_other(url: str) -> HttpResponseRedirect:
    """A 303 redirect: after a POST the browser GETs the next page."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def home(request: HttpRequest) -> HttpResponse:
    views = count_view(request.session, request.path)
    return HttpResponse(home_page(views, request.session.get("user")))


def login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(login_page(count_view(request.session, request.path)))
    # Checking the user name and password would go here; as in express's example, any works.
    # (A real project also keeps CsrfViewMiddleware and puts {% csrf_token %} in the form.)
    user = request.POST.get("user", "").strip()
    if not user:
        return see_other("/login")
    # A new session id at login guards against session fixation: the id an attacker may have
    # planted is destroyed. cycle_key() is what django.contrib.auth's login() calls; coatcheck's
    # request.session.regenerate() is the same with the data dropped, as in express.
    request.session.cycle_key()
    request.session["user"] = user
    # Saved before the redirect, so the next page load cannot race the write.
    request.session.save()
    return see_other("/")


def logout(request: HttpRequest) -> HttpResponse:
    # What django.contrib.auth's logout() calls: the data is cleared, the stored session is
    # deleted and a new id is made, so re-using the old id finds no logged-in user.
    request.session.flush()
    return see_other("/")


urlpatterns = [path("", home), path("login", login), path("logout", logout)]


def configure(store: Any) -> None:
    """A whole Django project's settings: no database, just sessions (and coatcheck's app, for
    its system checks: ``runserver`` reports a store that cannot be opened before serving)."""
    settings.configure(
        DEBUG=False,
        SECRET_KEY=secret(),  # coatcheck's secret: [SECRET_KEY, *SECRET_KEY_FALLBACKS]
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["coatcheck_django"],
        MIDDLEWARE=["coatcheck_django.SessionMiddleware"],
        SESSION_ENGINE="coatcheck_django",
        SESSION_COOKIE_AGE=MAX_AGE,  # coatcheck's cookie max_age defaults to Django's setting
        COATCHECK={"store": store, "resave": False, "save_uninitialized": False},
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args("coatcheck on Django", port=8004, db="coatcheck-django.sqlite3", argv=argv)
    with open_store(args) as store:
        configure(store)
        announce("coatcheck Django example", args)
        execute_from_command_line(
            [sys.argv[0], "runserver", "--noreload", f"127.0.0.1:{args.port}"]
        )


if __name__ == "__main__":
    main()
