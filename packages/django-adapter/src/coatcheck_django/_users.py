""" "Log out everywhere" for Django: after a password change, or a "sign out of all devices"
button. Every other session of the user is revoked through the core, then this request is
logged out the way Django does it (``django.contrib.auth.logout``: signal, flush, new id)."""

from __future__ import annotations

from typing import Any

from ._store import SessionStore


def logout_everywhere(request: Any) -> int:
    """Destroy every session of ``request.user`` and log this request out; returns how many
    sessions ended (this one included). To stay logged in here after a password change, use
    ``request.session.revoke_others()`` and Django's ``update_session_auth_hash`` instead."""
    from django.contrib.auth import logout

    session = request.session
    others = session.revoke_others() if isinstance(session, SessionStore) else 0
    had_user = isinstance(session, SessionStore) and session.user_id is not None
    logout(request)
    return others + int(had_user)


async def alogout_everywhere(request: Any) -> int:
    """``logout_everywhere`` for async views."""
    from django.contrib.auth import alogout

    session = request.session
    others = await session.arevoke_others() if isinstance(session, SessionStore) else 0
    had_user = isinstance(session, SessionStore) and session.user_id is not None
    await alogout(request)
    return others + int(had_user)
