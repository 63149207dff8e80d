"""``SessionDep``: the FastAPI dependency as one annotation (imports FastAPI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from coatcheck import AsyncSession

from ._dependency import get_session

#: ``async def view(session: SessionDep): ...`` gets the request's ``AsyncSession``.
SessionDep = Annotated[AsyncSession, Depends(get_session)]
