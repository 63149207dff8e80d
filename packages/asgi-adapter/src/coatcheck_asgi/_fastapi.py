"""``SessionDep``: the FastAPI dependency as one annotation (imports FastAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from coatcheck import AsyncSession

from ._dependency import get_session


async def session_dependency(request: HTTPConnection) -> AsyncSession:
    """``get_session`` as a coroutine: FastAPI runs a plain-function dependency in its thread
    pool (a thread hop on every request), an ``async def`` one inline on the event loop."""
    return get_session(request)


#: ``async def view(session: SessionDep): ...`` gets the request's ``AsyncSession``.
SessionDep = Annotated[AsyncSession, Depends(session_dependency)]
