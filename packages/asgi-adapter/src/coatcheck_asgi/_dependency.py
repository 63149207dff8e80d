"""Typed access to the session for Starlette and FastAPI handlers (imports Starlette).

FastAPI injects the connection into ``get_session`` because of its annotation, so it serves
HTTP routes and WebSocket routes alike; ``SessionDep`` (in ``_fastapi``) wraps it in
``Annotated`` for the one-word parameter FastAPI users expect.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from coatcheck import AsyncSession, CoatcheckError


class SessionMissingError(CoatcheckError, RuntimeError):
    """The handler asked for the session but this connection has none."""


def get_session(request: HTTPConnection) -> AsyncSession:
    """The connection's session, typed; a clear error when there is none.

    Like Starlette's ``request.session`` it counts as reading the session (``Vary: Cookie``).
    """
    session = request.scope.get("session")
    if isinstance(session, AsyncSession):
        session.mark_accessed()
        return session
    if "session" not in request.scope:
        raise SessionMissingError(
            "no session on this request: add coatcheck_asgi.SessionMiddleware to the app, "
            "and check that the path is inside the session cookie's path"
        )
    raise SessionMissingError(
        'scope["session"] is no coatcheck session here: it was unset, replaced, or set by '
        "another session middleware"
    )


async def logout_everywhere(request: HTTPConnection) -> int:
    """ "Log out everywhere" (e.g. after a password change): destroy every session of this
    session's user, this one included (its cookie is cleared); returns how many ended.
    ``await get_session(request).revoke_others()`` keeps this one."""
    return await get_session(request).revoke_all()
