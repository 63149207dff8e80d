"""express-session's README examples, "View counter" and "User login", on Starlette.

Run it (binds 127.0.0.1; sessions in ./coatcheck-starlette.sqlite3 unless told otherwise)::

    python examples/starlette_app.py --port 8001 [--store sqlite|memory] [--db PATH]

then open http://127.0.0.1:8001/ and log in with any name. The signing secret comes from
``$COATCHECK_SECRET`` (a development default otherwise). ``examples/demo.py`` serves this app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import uvicorn
from _shared import (
    MAX_AGE,
    announce,
    count_view,
    form_value,
    home_page,
    login_page,
    open_store,
    parse_args,
    secret,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from coatcheck import AsyncSession
from coatcheck_asgi import SessionMiddleware, get_session


async def home(request: Request) -> HTMLResponse:
    session = get_session(request)
    views = count_view(session, request.url.path)
    return HTMLResponse(home_page(views, session.get("user")))


async def login_form(request: Request) -> HTMLResponse:
    return HTMLResponse(login_page(count_view(get_session(request), request.url.path)))


async def log_in(session: AsyncSession, user: str, **extra: Any) -> None:
    """Log ``user`` in (and store ``extra`` beside it); ``examples/demo.py`` logs in so too."""
    # A new session id at login guards against session fixation: the id an attacker may have
    # planted is destroyed; keep_data=True carries the rest (the view counter) over.
    await session.regenerate(keep_data=True)
    session["user"] = user
    for key, value in extra.items():
        session[key] = value
    # Saved before the redirect, so the next page load cannot race the write.
    await session.save()


async def log_out(session: AsyncSession, *keys: str) -> None:
    """Log the user out (forgetting ``keys`` too); ``examples/demo.py`` logs out so too."""
    # Clear the user and save, so re-using the old id does not find a logged-in user ...
    for key in ("user", *keys):
        session.pop(key, None)
    await session.save()
    # ... then a new id, again against fixation.
    await session.regenerate()


async def login(request: Request) -> RedirectResponse:
    # Checking the user name and password would go here; as in express's example, any works.
    user = form_value(await request.body(), "user")
    if not user:
        return RedirectResponse("/login", status_code=303)
    await log_in(get_session(request), user)
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> RedirectResponse:
    await log_out(get_session(request))
    return RedirectResponse("/", status_code=303)


def session_middleware(store: Any, **options: Any) -> Middleware:
    """The example's session middleware on ``store``; ``options`` add to (or replace) its own
    (``examples/demo.py`` adds ``rolling``, ``user_key`` and its cookie)."""
    options = {"cookie": {"max_age": MAX_AGE}, **options}
    return Middleware(
        SessionMiddleware,
        secret=secret(),
        store=store,
        resave=False,
        save_uninitialized=False,
        **options,
    )


def create_app(store: Any, *, debug: bool = False) -> Starlette:
    """The example app with its session middleware, on the given store."""
    return Starlette(
        debug=debug,
        routes=[
            Route("/", home),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout),
        ],
        middleware=[session_middleware(store)],
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(
        "coatcheck on Starlette", port=8001, db="coatcheck-starlette.sqlite3", argv=argv
    )
    with open_store(args) as store:
        announce("coatcheck Starlette example", args)
        uvicorn.run(create_app(store), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
