"""express-session's README examples, "View counter" and "User login", on FastAPI.

Run it (binds 127.0.0.1; sessions in ./coatcheck-fastapi.sqlite3 unless told otherwise)::

    python examples/fastapi_app.py --port 8002 [--store sqlite|memory] [--db PATH]

then open http://127.0.0.1:8002/ and log in with any name. The signing secret comes from
``$COATCHECK_SECRET`` (a development default otherwise).
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
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from coatcheck_asgi import SessionDep, SessionMiddleware


def create_app(store: Any) -> FastAPI:
    """The example app with its session middleware, on the given store."""
    app = FastAPI(title="coatcheck example", openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret=secret(),
        store=store,
        resave=False,
        save_uninitialized=False,
        cookie={"max_age": MAX_AGE},
    )

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request, session: SessionDep) -> str:
        return home_page(count_view(session, request.url.path), session.get("user"))

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, session: SessionDep) -> str:
        return login_page(count_view(session, request.url.path))

    @app.post("/login")
    async def login(request: Request, session: SessionDep) -> RedirectResponse:
        # The form is read by hand: FastAPI's Form() needs python-multipart, even for the
        # urlencoded forms browsers send. Checking the password would go here (any works).
        user = form_value(await request.body(), "user")
        if not user:
            return RedirectResponse("/login", status_code=303)
        # A new session id at login guards against session fixation: the id an attacker may
        # have planted is destroyed; keep_data=True carries the rest (the view counter) over.
        await session.regenerate(keep_data=True)
        session["user"] = user
        # Saved before the redirect, so the next page load cannot race the write.
        await session.save()
        return RedirectResponse("/", status_code=303)

    @app.get("/logout")
    async def logout(session: SessionDep) -> RedirectResponse:
        # Clear the user and save, so re-using the old id does not find a logged-in user ...
        session.pop("user", None)
        await session.save()
        # ... then a new id, again against fixation.
        await session.regenerate()
        return RedirectResponse("/", status_code=303)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args("coatcheck on FastAPI", port=8002, db="coatcheck-fastapi.sqlite3", argv=argv)
    with open_store(args) as store:
        announce("coatcheck FastAPI example", args)
        uvicorn.run(create_app(store), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
