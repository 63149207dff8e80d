"""Sessions of a user for Django (``user_key``, ``"_auth_user_id"`` by default): list them,
revoke them through the core, and "log out everywhere" (after a password change, or a "sign out
of all devices" button): every other session is revoked, then this request is logged out the way
Django does it (``django.contrib.auth.logout``: signal, flush, new id)."""

from __future__ import annotations

from typing import Any

from coatcheck import SessionInfo, revoke, revoke_async, sessions_of, sessions_of_async

from ._base import BoundSession


class UserSessions(BoundSession):
    """``user_id``, ``sessions()`` and ``revoke_others()`` (and their ``a``-prefixed twins)."""

    @property
    def user_id(self) -> str | None:
        """The logged-in user's id under ``user_key`` (``None``: anonymous)."""
        cycle = self._active()
        return None if cycle is None else cycle.session.user_id

    def sessions(self) -> list[SessionInfo]:
        """This user's live sessions, this one marked ``current`` ([] when anonymous)."""
        user, cycle = self.user_id, self._active()
        if user is None or cycle is None:
            return []
        return sessions_of(cycle.config, user, current=cycle.session_id)

    async def asessions(self) -> list[SessionInfo]:
        cycle = await self._aactive()
        user = self.user_id
        if user is None or cycle is None:
            return []
        return await sessions_of_async(cycle.config, user, current=cycle.session_id)

    def revoke_others(self) -> int:
        """ "Log out my other devices": destroy every other session of this user."""
        user, cycle = self.user_id, self._active()
        if user is None or cycle is None:
            return 0
        return revoke(cycle.config, user, keep=cycle.session_id)

    async def arevoke_others(self) -> int:
        cycle = await self._aactive()
        user = self.user_id
        if user is None or cycle is None:
            return 0
        return await revoke_async(cycle.config, user, keep=cycle.session_id)


def logout_everywhere(request: Any) -> int:
    """Destroy every session of ``request.user`` and log this request out; returns how many
    sessions ended (this one included). To stay logged in here after a password change, use
    ``request.session.revoke_others()`` and Django's ``update_session_auth_hash`` instead."""
    from django.contrib.auth import logout

    session = request.session
    others = session.revoke_others() if isinstance(session, UserSessions) else 0
    had_user = isinstance(session, UserSessions) and session.user_id is not None
    logout(request)
    return others + int(had_user)


async def alogout_everywhere(request: Any) -> int:
    """``logout_everywhere`` for async views."""
    from django.contrib.auth import alogout

    session = request.session
    others = await session.arevoke_others() if isinstance(session, UserSessions) else 0
    had_user = isinstance(session, UserSessions) and session.user_id is not None
    await alogout(request)
    return others + int(had_user)
