"""The apps the real-server concurrency tests (and ``benchmarks/bench_concurrency.py``) run under
uvicorn and gunicorn: the same four routes on coatcheck-asgi and on coatcheck-flask.

Configured by environment variables, because the server process imports them by name:
``CONCURRENCY_STORE`` (``memory``, or a ``redis://`` / ``postgresql://`` URL),
``CONCURRENCY_MODE`` (``merge``/``lock``/``none``), ``CONCURRENCY_PREFIX`` (Redis key prefix or
PostgreSQL table, so runs never see each other's sessions).

- ``/incr?key=k`` adds 1 to ``session[k]`` (read, await/yield, write: the racy part) and
  answers the new value;
- ``/slow?pause=s&marker=path`` reads the session, creates the file ``marker`` (so the test
  knows the session is loaded), waits until the file ``marker.done`` exists (the test's logout
  finished) or ``s`` seconds passed, then writes ``slow``;
- ``/logout`` destroys the session; ``/read`` answers the data as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

SECRET = "the concurrency tests' secret, long enough to sign!"


def options() -> dict[str, Any]:
    return {
        "secret": SECRET,
        "resave": False,
        "save_uninitialized": False,
        "concurrency": os.environ.get("CONCURRENCY_MODE", "merge"),
    }


def sync_store() -> Any:
    url = os.environ.get("CONCURRENCY_STORE", "memory")
    prefix = os.environ.get("CONCURRENCY_PREFIX", "conc")
    if url.startswith("redis"):
        from coatcheck.stores import RedisStore

        return RedisStore.from_url(url, prefix=f"{prefix}:")
    if url.startswith("postgres"):
        from coatcheck.stores import PostgresStore

        return PostgresStore(url, table=prefix, create_table=True)
    from coatcheck.stores import MemoryStore

    return MemoryStore()


def async_store() -> Any:
    url = os.environ.get("CONCURRENCY_STORE", "memory")
    prefix = os.environ.get("CONCURRENCY_PREFIX", "conc")
    if url.startswith("redis"):
        from coatcheck.stores import AsyncRedisStore

        return AsyncRedisStore.from_url(url, prefix=f"{prefix}:")
    if url.startswith("postgres"):
        from coatcheck.stores import AsyncPostgresStore

        return AsyncPostgresStore(url, table=prefix, create_table=True)
    return sync_store()


def loaded(marker: str | None) -> None:
    """Tell the test (through the file system: any process) that the session is loaded."""
    if marker:
        Path(marker).touch()


def done(marker: str | None) -> bool:
    """The test says the racing request is over."""
    return bool(marker) and Path(f"{marker}.done").exists()


# -- ASGI (uvicorn --factory tests.concurrency.apps:asgi_app) -------------------------------
def asgi_app() -> Any:
    import coatcheck_asgi

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        session = scope["session"]
        path = scope["path"]
        if path == "/incr":
            key = query.get("key", "n")
            value = session.get(key, 0)
            await asyncio.sleep(0)  # another request of the session may run here
            session[key] = value + 1
            body: Any = session[key]
        elif path == "/slow":
            session.get("slow")
            marker = query.get("marker")
            loaded(marker)
            deadline = time.monotonic() + float(query.get("pause", "0.3"))
            while not done(marker) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            session["slow"] = session.get("slow", 0) + 1
            body = "written"
        elif path == "/logout":
            await session.destroy()
            body = "bye"
        else:
            body = dict(session)
        payload = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": payload})

    return coatcheck_asgi.SessionMiddleware(app, store=async_store(), **options())


# -- Flask (gunicorn -k gthread 'tests.concurrency.apps:flask_app()') --------------------------
def flask_app() -> Any:
    from flask import Flask, jsonify, request

    import coatcheck_flask

    app = Flask(__name__)
    coatcheck_flask.Session(app, store=sync_store(), **options())

    @app.route("/incr")
    def incr() -> Any:
        session = coatcheck_flask.current_session()
        key = request.args.get("key", "n")
        value = session.get(key, 0)
        time.sleep(0)  # another thread may run here
        session[key] = value + 1
        return jsonify(session[key])

    @app.route("/slow")
    def slow() -> Any:
        session = coatcheck_flask.current_session()
        session.get("slow")
        marker = request.args.get("marker")
        loaded(marker)
        deadline = time.monotonic() + float(request.args.get("pause", "0.3"))
        while not done(marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        session["slow"] = session.get("slow", 0) + 1
        return jsonify("written")

    @app.route("/logout")
    def logout() -> Any:
        coatcheck_flask.current_session().destroy()
        return jsonify("bye")

    @app.route("/read")
    def read() -> Any:
        return jsonify(dict(coatcheck_flask.current_session()))

    return app
