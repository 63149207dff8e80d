"""coatcheck-asgi: express-session's server-side sessions for Starlette, FastAPI and raw ASGI.

The browser keeps a signed session id; the data lives in a store. ``request.session`` is a
coatcheck ``AsyncSession`` (a ``dict``) whose express methods are coroutines::

    from coatcheck_asgi import SessionMiddleware, SessionDep
    from fastapi import FastAPI
    from starlette.middleware import Middleware

    app = FastAPI(middleware=[Middleware(SessionMiddleware, secret="s3cret",
                                         resave=False, save_uninitialized=False)])

    @app.post("/login")
    async def login(session: SessionDep) -> dict[str, str]:
        await session.regenerate()          # fixation defence; the old id is destroyed
        session["user"] = "ada"             # saved before the response starts
        return {"id": session.id}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coatcheck import (
    AsyncSession,
    ConfigError,
    SessionBusy,
    SessionGone,
    SessionLockTimeout,
    StoreError,
)

from .__about__ import __version__
from ._middleware import SessionMiddleware

if TYPE_CHECKING:
    from ._dependency import SessionMissingError, get_session, logout_everywhere
    from ._fastapi import SessionDep

__all__ = [
    "AsyncSession",
    "ConfigError",
    "SessionBusy",
    "SessionDep",
    "SessionGone",
    "SessionLockTimeout",
    "SessionMiddleware",
    "SessionMissingError",
    "StoreError",
    "__version__",
    "get_session",
    "logout_everywhere",
]

# The package itself needs no framework: these import Starlette (and FastAPI) only when used.
_LAZY = {
    "get_session": "._dependency",
    "SessionMissingError": "._dependency",
    "logout_everywhere": "._dependency",
    "SessionDep": "._fastapi",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
