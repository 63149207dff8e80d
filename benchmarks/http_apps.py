"""The apps ``bench_http.py`` serves, one per contender, chosen by ``$BENCH_CONTENDER``.

Every app answers ``GET /`` the same way: the session's counter ``n`` goes up by one and the
response is its new value (the bare apps answer a constant of the same size). Options as a user
would pick them for that: ``resave=False, save_uninitialized=False``, each framework's default
cookie lifetime. Loaded by the real servers::

    uvicorn --factory http_apps:asgi_app      (Starlette / FastAPI contenders)
    gunicorn 'http_apps:wsgi_app()'           (Flask / Django contenders)

``/_bench/ops`` (answered *outside* every session middleware) reports and resets how many SQLite
statements the process ran since the last call: the harness counts store round trips, it does
not assume them. Not part of any package; never imported by the tests.
"""

import contextlib
import os
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SECRET = "benchmark secret, not for production"
CONTENDER = os.environ.get("BENCH_CONTENDER", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKDIR = Path(os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="coatcheck-bench-"))
BODY_BARE = b"1"

# -- counting SQLite statements (sqlite3's trace callback, switched on only while counting) -----
_sql_statements = 0
_tracing = False
_original_connect = sqlite3.connect


class _TrackedConnection(sqlite3.Connection):
    """A plain connection that can be found again (the base class takes no weak references)."""


_connections: weakref.WeakSet[_TrackedConnection] = weakref.WeakSet()


def _count_statement(_statement: str) -> None:
    global _sql_statements
    _sql_statements += 1


def _tracked_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    kwargs.setdefault("factory", _TrackedConnection)
    conn: sqlite3.Connection = _original_connect(*args, **kwargs)
    if isinstance(conn, _TrackedConnection):
        _connections.add(conn)
        if _tracing:
            conn.set_trace_callback(_count_statement)
    return conn


# Django's backend calls ``sqlite3.dbapi2.connect``; the stores call ``sqlite3.connect``.
sqlite3.connect = sqlite3.dbapi2.connect = _tracked_connect  # type: ignore[assignment]


def ops_probe(query: str) -> bytes:
    """``/_bench/ops?trace=1`` starts counting, ``?trace=0`` stops; both answer the count
    since the last call (and reset it)."""
    global _sql_statements, _tracing
    if "trace=" in query:
        _tracing = query.endswith("1")
        for conn in list(_connections):
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                conn.set_trace_callback(_count_statement if _tracing else None)
    count, _sql_statements = _sql_statements, 0
    return str(count).encode()


def unbounded_memory_store() -> Any:
    """coatcheck's MemoryStore without its 10,000-session cap, as the peers' in-memory stores
    (starsessions') have none: the new-visitor runs store tens of thousands of sessions, and
    with the cap they would evict the returning visitors' (the least recently used while they
    ran), turning the next returning run into new sessions."""
    from coatcheck.stores import MemoryStore

    return MemoryStore(max_sessions=None)


def count(session: Any) -> bytes:
    n = int(session.get("n", 0)) + 1
    session["n"] = n
    return str(n % 10).encode()


# -- ASGI (uvicorn) -------------------------------------------------------------------------------


def _starlette(middleware: list[Any], *, bare: bool = False) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if bare:

        async def home(request: Request) -> Response:
            return Response(BODY_BARE, media_type="text/plain")

    elif CONTENDER.startswith("starlette-starsessions"):
        from starsessions import load_session

        async def home(request: Request) -> Response:
            await load_session(request)
            return Response(count(request.session), media_type="text/plain")

    else:

        async def home(request: Request) -> Response:
            return Response(count(request.session), media_type="text/plain")

    return Starlette(routes=[Route("/", home)], middleware=middleware)


def _fastapi(middleware: list[Any], *, bare: bool = False) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI(middleware=middleware, openapi_url=None, docs_url=None, redoc_url=None)
    if bare:

        @app.get("/")
        async def home_bare() -> PlainTextResponse:
            return PlainTextResponse(BODY_BARE)

    else:
        from coatcheck_asgi import SessionDep

        @app.get("/")
        async def home(session: SessionDep) -> PlainTextResponse:
            return PlainTextResponse(count(session))

    return app


def _coatcheck_asgi(store: Any) -> Any:
    from starlette.middleware import Middleware

    from coatcheck_asgi import SessionMiddleware

    return Middleware(
        SessionMiddleware, secret=SECRET, store=store, resave=False, save_uninitialized=False
    )


def _asgi_contenders() -> dict[str, Callable[[], Any]]:
    from starlette.middleware import Middleware

    def starlette_cookie() -> Any:
        from starlette.middleware.sessions import SessionMiddleware

        return _starlette([Middleware(SessionMiddleware, secret_key=SECRET)])

    def starsessions(store: Callable[[], Any]) -> Callable[[], Any]:
        def make() -> Any:
            from starsessions import SessionMiddleware

            return _starlette(
                [Middleware(SessionMiddleware, store=store(), cookie_https_only=False)]
            )

        return make

    def starsessions_memory() -> Any:
        from starsessions import InMemoryStore

        return InMemoryStore()

    def starsessions_redis() -> Any:
        from starsessions.stores.redis import RedisStore

        return RedisStore(REDIS_URL)

    def memory() -> Any:
        return unbounded_memory_store()

    def sqlite() -> Any:
        from coatcheck.stores import SQLiteStore

        return SQLiteStore(WORKDIR / f"{CONTENDER}.sqlite3")

    def redis() -> Any:
        from coatcheck.stores import AsyncRedisStore

        return AsyncRedisStore.from_url(REDIS_URL)

    return {
        "starlette-bare": lambda: _starlette([], bare=True),
        "starlette-cookie": starlette_cookie,
        "starlette-starsessions-memory": starsessions(starsessions_memory),
        "starlette-starsessions-redis": starsessions(starsessions_redis),
        "starlette-coatcheck-memory": lambda: _starlette([_coatcheck_asgi(memory())]),
        "starlette-coatcheck-sqlite": lambda: _starlette([_coatcheck_asgi(sqlite())]),
        "starlette-coatcheck-redis": lambda: _starlette([_coatcheck_asgi(redis())]),
        "fastapi-bare": lambda: _fastapi([], bare=True),
        "fastapi-coatcheck-memory": lambda: _fastapi([_coatcheck_asgi(memory())]),
    }


def asgi_app() -> Any:
    """The ASGI contender named by ``$BENCH_CONTENDER`` behind the ``/_bench/ops`` probe."""
    inner = _asgi_contenders()[CONTENDER]()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/ops":
            body = ops_probe(bytes(scope.get("query_string") or b"").decode())
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    return app


# -- WSGI (gunicorn sync) -------------------------------------------------------------------------


def _flask(contender: str) -> Any:
    from flask import Flask, session

    app = Flask(__name__)
    app.secret_key = SECRET
    if contender == "flask-bare":

        @app.get("/")
        def home_bare() -> bytes:
            return BODY_BARE

        return app
    if contender == "flask-flask-session-redis":
        import redis
        from flask_session import Session as FlaskSessionExt

        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(REDIS_URL))
        FlaskSessionExt(app)
    elif contender.startswith("flask-coatcheck-"):
        from coatcheck.stores import RedisStore, SQLiteStore
        from coatcheck_flask import Session

        kind = contender.removeprefix("flask-coatcheck-")
        stores: dict[str, Callable[[], Any]] = {
            "memory": unbounded_memory_store,
            "sqlite": lambda: SQLiteStore(WORKDIR / f"{contender}.sqlite3"),
            "redis": lambda: RedisStore.from_url(REDIS_URL),
        }
        store = stores[kind]()
        Session(app, store=store, resave=False, save_uninitialized=False)
    # "flask-cookie": Flask's own signed-cookie session, nothing to add

    @app.get("/")
    def home() -> bytes:
        return count(session)

    return app


def _django(contender: str) -> Any:
    import django
    from django.conf import settings
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    def home(request: HttpRequest) -> HttpResponse:
        return HttpResponse(count(request.session), content_type="text/plain")

    def home_bare(request: HttpRequest) -> HttpResponse:
        return HttpResponse(BODY_BARE, content_type="text/plain")

    global urlpatterns
    urlpatterns = [path("", home_bare if contender == "django-bare" else home)]
    options: dict[str, Any] = {}
    middleware: list[str] = []
    database = WORKDIR / f"{contender}.sqlite3"
    if contender == "django-db":
        middleware = ["django.contrib.sessions.middleware.SessionMiddleware"]
        options["SESSION_ENGINE"] = "django.contrib.sessions.backends.db"
    elif contender == "django-cache-redis":
        middleware = ["django.contrib.sessions.middleware.SessionMiddleware"]
        options["SESSION_ENGINE"] = "django.contrib.sessions.backends.cache"
        options["CACHES"] = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
            }
        }
    elif contender.startswith("django-coatcheck-"):
        from coatcheck.stores import RedisStore, SQLiteStore

        kind = contender.removeprefix("django-coatcheck-")
        stores: dict[str, Callable[[], Any]] = {
            "memory": unbounded_memory_store,
            "sqlite": lambda: SQLiteStore(WORKDIR / f"{contender}-store.sqlite3"),
            "redis": lambda: RedisStore.from_url(REDIS_URL),
        }
        store = stores[kind]()
        middleware = ["coatcheck_django.SessionMiddleware"]
        options["SESSION_ENGINE"] = "coatcheck_django"
        options["COATCHECK"] = {"store": store, "resave": False, "save_uninitialized": False}
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.sessions"] if contender == "django-db" else [],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        MIDDLEWARE=middleware,
        USE_TZ=True,
        **options,
    )
    django.setup()
    if contender == "django-db":
        from django.core.management import call_command

        call_command("migrate", "sessions", verbosity=0)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


urlpatterns: list[Any] = []


def wsgi_app() -> Any:
    """The WSGI contender named by ``$BENCH_CONTENDER`` behind the ``/_bench/ops`` probe."""
    inner = _django(CONTENDER) if CONTENDER.startswith("django-") else _flask(CONTENDER)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bench/ops":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [ops_probe(environ.get("QUERY_STRING", ""))]
        result: Iterable[bytes] = inner(environ, start_response)
        return result

    return app


ASGI_CONTENDERS = tuple(_asgi_contenders())
WSGI_CONTENDERS = (
    "flask-bare",
    "flask-cookie",
    "flask-flask-session-redis",
    "flask-coatcheck-memory",
    "flask-coatcheck-sqlite",
    "flask-coatcheck-redis",
    "django-bare",
    "django-db",
    "django-cache-redis",
    "django-coatcheck-memory",
    "django-coatcheck-sqlite",
    "django-coatcheck-redis",
)
