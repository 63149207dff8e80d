"""``revoke_others()`` and "log out everywhere" in each adapter, over its own HTTP stack: two
browsers (clients with their own cookie jars) of one user, one of them revokes."""

from __future__ import annotations

from typing import Any

import httpx
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import coatcheck_asgi
import coatcheck_flask
from coatcheck.stores import MemoryStore

OPTIONS: dict[str, Any] = {
    "secret": "s",
    "resave": False,
    "save_uninitialized": False,
    "user_key": "user",
}


def starlette_app(store: MemoryStore) -> Starlette:
    async def login(request: Request) -> JSONResponse:
        session = coatcheck_asgi.get_session(request)
        await session.regenerate()
        session["user"] = request.query_params["u"]
        return JSONResponse({"id": session.id[:6]})

    async def me(request: Request) -> JSONResponse:
        session = coatcheck_asgi.get_session(request)
        listed = await session.sessions()
        return JSONResponse(
            {"user": session.get("user"), "sessions": [[i.id_prefix, i.current] for i in listed]}
        )

    async def others(request: Request) -> JSONResponse:
        return JSONResponse({"revoked": await coatcheck_asgi.get_session(request).revoke_others()})

    async def everywhere(request: Request) -> JSONResponse:
        return JSONResponse({"revoked": await coatcheck_asgi.logout_everywhere(request)})

    routes = [
        Route("/login", login),
        Route("/me", me),
        Route("/others", others),
        Route("/everywhere", everywhere),
    ]
    middleware = [Middleware(coatcheck_asgi.SessionMiddleware, store=store, **OPTIONS)]
    return Starlette(routes=routes, middleware=middleware)


async def test_starlette_two_browsers() -> None:
    store = MemoryStore()
    transport = httpx.ASGITransport(app=starlette_app(store))
    base = "http://testserver"
    async with (
        httpx.AsyncClient(transport=transport, base_url=base) as laptop,
        httpx.AsyncClient(transport=transport, base_url=base) as phone,
        httpx.AsyncClient(transport=transport, base_url=base) as tablet,
    ):
        for browser in (laptop, phone, tablet):
            await browser.get("/login", params={"u": "ada"})
        seen = (await laptop.get("/me")).json()
        assert seen["user"] == "ada"
        assert [current for _, current in seen["sessions"]] == [True, False, False]
        assert (await laptop.get("/others")).json() == {"revoked": 2}
        assert (await phone.get("/me")).json()["user"] is None  # logged out on reload
        assert (await laptop.get("/me")).json()["user"] == "ada"
        await phone.get("/login", params={"u": "ada"})
        response = await phone.get("/everywhere")
        assert response.json() == {"revoked": 2}  # the laptop and the phone itself
        assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in response.headers["set-cookie"]
        assert (await laptop.get("/me")).json()["user"] is None
        assert (await tablet.get("/me")).json()["user"] is None


def test_flask_two_browsers() -> None:
    app = Flask(__name__)
    coatcheck_flask.Session(app, store=MemoryStore(), **OPTIONS)

    @app.get("/login")
    def login() -> dict[str, Any]:
        from flask import request

        session = coatcheck_flask.current_session()
        session.regenerate()
        session["user"] = request.args["u"]
        return {"ok": True}

    @app.get("/me")
    def me() -> dict[str, Any]:
        session = coatcheck_flask.current_session()
        return {"user": session.get("user"), "n": len(session.sessions())}

    @app.get("/others")
    def others() -> dict[str, Any]:
        return {"revoked": coatcheck_flask.current_session().revoke_others()}

    @app.get("/everywhere")
    def everywhere() -> dict[str, Any]:
        return {"revoked": coatcheck_flask.logout_everywhere()}

    laptop, phone = app.test_client(), app.test_client()
    laptop.get("/login?u=ada")
    phone.get("/login?u=ada")
    assert laptop.get("/me").json == {"user": "ada", "n": 2}
    assert laptop.get("/others").json == {"revoked": 1}
    assert phone.get("/me").json == {"user": None, "n": 0}
    phone.get("/login?u=ada")
    assert phone.get("/everywhere").json == {"revoked": 2}
    assert laptop.get("/me").json == {"user": None, "n": 0}
