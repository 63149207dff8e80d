"""The scenario harness for Flask (contract: ``tests/scenarios/harness.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from flask import Flask, jsonify, request, session
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue

import coatcheck_flask
from coatcheck_flask import FlaskSession
from tests.scenarios.harness import Response


def _session() -> FlaskSession:
    return cast(FlaskSession, session)


def _data() -> ResponseReturnValue:
    return jsonify(dict(_session()))


def make_app(
    options: Mapping[str, Any],
    extension: type[coatcheck_flask.Session] = coatcheck_flask.Session,
    configure: Callable[[Flask], None] | None = None,
) -> Flask:
    """A tiny app with the scenario routes, wired with ``options`` by ``extension``.

    ``configure(app)`` runs first (the adapter's own tests set Flask settings there).
    """
    app = Flask(__name__)
    if configure is not None:
        configure(app)
    extension(app, **options)

    @app.get("/noop")
    def noop() -> ResponseReturnValue:
        return {}

    @app.get("/read")
    def read() -> ResponseReturnValue:
        return _data()

    @app.get("/write")
    def write() -> ResponseReturnValue:
        for key, value in request.args.items():
            session[key] = value
        return _data()

    @app.get("/incr")
    def incr() -> ResponseReturnValue:
        session["n"] = session.get("n", 0) + 1
        return _data()

    @app.get("/regenerate")
    def regenerate() -> ResponseReturnValue:
        _session().regenerate()
        session["r"] = 1
        return _data()

    @app.get("/cycle-key")
    def cycle_key() -> ResponseReturnValue:
        _session().regenerate(keep_data=True, renew=request.args.get("renew") == "1")
        return _data()

    @app.get("/destroy")
    def destroy() -> ResponseReturnValue:
        _session().destroy()
        return {}

    @app.get("/reload")
    def reload() -> ResponseReturnValue:
        session["tmp"] = 1
        _session().reload()
        return _data()

    @app.get("/save")
    def save() -> ResponseReturnValue:
        session["s"] = 1
        _session().save()
        return _data()

    @app.get("/touch")
    def touch() -> ResponseReturnValue:
        _session().touch()
        return _data()

    @app.get("/unset")
    def unset() -> ResponseReturnValue:
        coatcheck_flask.unset_session()
        return {}

    @app.get("/cookie-max-age")
    def cookie_max_age() -> ResponseReturnValue:
        _session().cookie.max_age = float(request.args["s"])
        return _data()

    @app.get("/outside")
    def outside() -> ResponseReturnValue:
        return {"has_session": isinstance(request_ctx.session, FlaskSession)}

    return app


class FlaskScenarioClient:
    """Flask's test client without a cookie jar: every cookie is passed explicitly."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client(use_cookies=False)

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
        base_url = "https://localhost" if https else "http://localhost"
        resp = self.client.get(path, headers=sent, base_url=base_url)
        body = resp.get_json(silent=True)
        return Response(
            status=resp.status_code,
            set_cookies=resp.headers.getlist("Set-Cookie"),
            vary=resp.headers.get("Vary"),
            body=body if body is not None else resp.get_data(as_text=True),
        )


def express_refresh(app: Flask) -> None:
    """Flask's SESSION_REFRESH_EACH_REQUEST (default on) re-sends permanent cookies on every
    response; the scenarios pin express's rules, so it is off here."""
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False


def make_client(options: dict[str, Any]) -> FlaskScenarioClient:
    """The harness entry point: a client over a fresh app wired with ``options``."""
    return FlaskScenarioClient(make_app(options, configure=express_refresh))
