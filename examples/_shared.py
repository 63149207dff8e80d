"""What the four examples share and what is not about sessions: the command line, the store,
the secret and the HTML. The session code itself stays in each example, where it is read.

Every example page is the same, so one test drives all four frameworks alike.
"""

from __future__ import annotations

import argparse
import html
import os
import signal
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from coatcheck.stores import MemoryStore, SQLiteStore

#: Where the secret comes from; the default is for development only (sessions signed with it
#: are forgeable by anyone who read this file).
SECRET_ENV = "COATCHECK_SECRET"
DEV_SECRET = "keyboard cat (development only: set $COATCHECK_SECRET)"
#: The cookie's lifetime in seconds (express's ``cookie.maxAge``, which is milliseconds).
MAX_AGE = 3600


def secret() -> str:
    """The signing secret: ``$COATCHECK_SECRET``, or the development default."""
    return os.environ.get(SECRET_ENV) or DEV_SECRET


def parse_args(
    description: str, *, port: int, db: str, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """``--port``, ``--store sqlite|memory`` and ``--db``; the server binds 127.0.0.1 only."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port, help=f"port on 127.0.0.1 ({port})")
    parser.add_argument(
        "--store",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="sqlite (default; sessions survive a restart) or memory",
    )
    parser.add_argument("--db", default=db, help=f"the SQLite file (default ./{db})")
    return parser.parse_args(argv)


@contextmanager
def open_store(args: argparse.Namespace) -> Iterator[MemoryStore | SQLiteStore]:
    """The store the command line asked for, closed at exit -- SIGTERM included -- so SQLite
    folds its ``-wal`` file back into the database and leaves no stray files behind."""
    if args.store == "memory":
        yield MemoryStore()
        return
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with SQLiteStore(args.db) as store:
        yield store


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def announce(title: str, args: argparse.Namespace) -> None:
    """Print the URL (flushed at once, so a supervising process sees it)."""
    where = "in memory" if args.store == "memory" else f"in SQLite at {args.db}"
    print(f"{title}: http://127.0.0.1:{args.port}/ (sessions {where})", flush=True)
    if uses_dev_secret():
        print(f"using a development secret: set ${SECRET_ENV} for anything real", flush=True)


def count_view(session: MutableMapping[str, Any], path: str) -> int:
    """express's "View counter": ``session.views[pathname] += 1``; returns the new count.

    The dict is assigned back so every framework sees a write (Django's ``SessionBase`` only
    notices ``__setitem__``; coatcheck's own sessions would also catch the nested change).
    """
    views: dict[str, int] = dict(session.get("views") or {})
    views[path] = views.get(path, 0) + 1
    session["views"] = views
    return views[path]


LOGIN_FORM = (
    '<form action="/login" method="post">'
    'Username: <input name="user"><br>'
    'Password: <input name="pass" type="password"><br>'
    '<input type="submit" value="Login"></form>'
)


def form_value(body: bytes, name: str) -> str:
    """One field of an urlencoded form body (Starlette's ``request.form()`` would need the
    python-multipart package even for urlencoded forms; the examples stay dependency-free)."""
    values = parse_qs(body.decode("utf-8", "replace")).get(name) or [""]
    return values[0].strip()


def uses_dev_secret() -> bool:
    """True when no ``$COATCHECK_SECRET`` is set: the pages and the console then say so."""
    return not os.environ.get(SECRET_ENV)


def counter_line(views: int) -> str:
    """The view count ("1 time", "2 times") plus the development-secret notice."""
    line = f"<p>you viewed this page {views} {'time' if views == 1 else 'times'}</p>"
    if uses_dev_secret():
        line += (
            f"<p><em>Sessions are signed with a development secret: set ${SECRET_ENV} "
            "before using this for anything real.</em></p>"
        )
    return line


def home_page(views: int, user: str | None) -> str:
    """``/``: the view count, then a greeting and logout link, or the login form."""
    counter = counter_line(views)
    if user:
        return f'{counter}<p>hello, {html.escape(user)}! <a href="/logout">Logout</a></p>'
    return counter + LOGIN_FORM


def login_page(views: int) -> str:
    """``GET /login``: the form (any user name and password work, as in express's example)."""
    return counter_line(views) + LOGIN_FORM
