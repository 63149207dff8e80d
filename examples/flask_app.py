"""express-session's README examples, "View counter" and "User login", on Flask.

Run it (binds 127.0.0.1; sessions in ./coatcheck-flask.sqlite3 unless told otherwise)::

    python examples/flask_app.py --port 8003 [--store sqlite|memory] [--db PATH]

then open http://127.0.0.1:8003/ and log in with any name. The signing secret is Flask's
``SECRET_KEY``, taken from ``$COATCHECK_SECRET`` (a development default otherwise).
"""

from __future__ import annotations

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
from flask import Flask, redirect, request, session
from werkzeug.wrappers import Response

from coatcheck_flask import FlaskSession, Session, current_session


def express_session() -> FlaskSession:
    """``flask.session`` typed as coatcheck's: it has ``regenerate()``, ``save()`` ..."""
    return current_session()


def create_app(store: Any) -> Flask:
    """The example app; coatcheck signs with ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``)."""
    app = Flask(__name__)
    app.secret_key = secret()
    Session(
        app,
        store=store,
        resave=False,
        save_uninitialized=False,
        cookie={"max_age": MAX_AGE},
    )

    @app.get("/")
    def home() -> str:
        return home_page(count_view(session, request.path), session.get("user"))

    @app.get("/login")
    def login_form() -> str:
        return login_page(count_view(session, request.path))

    @app.post("/login")
    def login() -> Response:
        # Checking the user name and password would go here; as in express's example, any works.
        user = request.form.get("user", "").strip()
        if not user:
            return redirect("/login", code=303)
        # A new session id at login guards against session fixation: the id an attacker may
        # have planted is destroyed; keep_data=True carries the rest (the view counter) over.
        express_session().regenerate(keep_data=True)
        session["user"] = user
        # Saved before the redirect, so the next page load cannot race the write.
        express_session().save()
        return redirect("/", code=303)

    @app.get("/logout")
    def logout() -> Response:
        # Clear the user and save, so re-using the old id does not find a logged-in user ...
        session.pop("user", None)
        express_session().save()
        # ... then a new id, again against fixation.
        express_session().regenerate()
        return redirect("/", code=303)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args("coatcheck on Flask", port=8003, db="coatcheck-flask.sqlite3", argv=argv)
    with open_store(args) as store:
        announce("coatcheck Flask example", args)
        create_app(store).run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
