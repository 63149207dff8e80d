"""The drivers: one request's session loaded from, and finished against, a real store.

Two drivers with one shape: ``SyncDriver`` for sync stores (Flask, Django, WSGI, http.server) and
``AsyncDriver`` for async code (ASGI), which runs a sync store in a worker thread unless it
declares ``never_blocks``. ``SyncSession``/``AsyncSession`` are the sessions whose express
methods (``regenerate()``, ``save()`` ...) run their store effects the same way. The store calls
themselves live in ``_run``.

    driver = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=now, cookie_header=header, path=path))
    if cycle is not None:               # None: outside the cookie path, no session
        try:
            handle(cycle.session)       # a SyncSession: a dict with regenerate(), save() ...
        except BaseException:
            driver.abort(cycle)         # releases the session's lock ("lock" mode)
            raise
        decision = driver.end(cycle)    # store writes done; send decision.set_cookie

``begin`` raises ``SessionLockTimeout`` in ``"lock"`` mode when the session stayed locked for
``lock_timeout``; ``end`` raises ``SessionConflict`` when every merge attempt met a newer
version. Both are ``SessionBusy``: adapters answer 503.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from ._config import SessionConfig
from ._cycle import SessionCycle
from ._operations import Decision
from ._request import RequestReceived
from ._run import (
    load_async,
    load_sync,
    release_async,
    release_sync,
    run_async,
    run_sync,
    settle_async,
    settle_sync,
)
from ._session import Session
from ._store_checks import require_sync_store
from ._users import SessionInfo, revoke, revoke_async, sessions_of, sessions_of_async

S = TypeVar("S", bound=Session)


class SyncSession(Session):
    """A session whose express methods are plain calls (Flask, Django, WSGI)."""

    def regenerate(self, *, keep_data: bool = False, renew: bool = False) -> None:
        """New id (fixation defence); the old one is destroyed. ``keep_data`` moves the data
        (and keeps the creation time for ``max_lifetime``, unless ``renew``)."""
        settle_sync(self._cycle, self._cycle.regenerate(keep_data=keep_data, renew=renew))

    def destroy(self) -> None:
        """Delete the session from the store now; the browser is told to forget the cookie."""
        settle_sync(self._cycle, self._cycle.destroy())

    def reload(self) -> None:
        """Replace the data with what the store holds now (``SessionNotFound`` if gone)."""
        (record,) = run_sync(self._cycle.config.store, self._cycle.reload())
        self._cycle.reloaded(record)

    def save(self, *, strict: bool = False) -> None:
        """Write the session to the store now (done automatically at the end when needed).

        A session deleted elsewhere meanwhile is not written back; ``strict=True`` raises
        ``SessionGone`` then.
        """
        settle_sync(self._cycle, self._cycle.save(strict=strict))

    def touch(self) -> None:
        """Reset ``cookie.max_age`` to its original value (no store call, as in express)."""
        self._cycle.touch()

    # -- sessions of this session's user (DESIGN "Sessions of a user") -------------------------
    def sessions(self) -> list[SessionInfo]:
        """This user's live sessions, this one marked ``current`` ([] without a user)."""
        user = self.user_id
        return [] if user is None else sessions_of(self._cycle.config, user, current=self.id)

    def revoke_others(self) -> int:
        """ "Log out my other devices": destroy every other session of this user."""
        user = self.user_id
        return 0 if user is None else revoke(self._cycle.config, user, keep=self.id)

    def revoke_all(self) -> int:
        """ "Log out everywhere" (after a password change): every session of this user, this
        one included (destroyed as ``destroy()`` does, so the browser forgets the cookie)."""
        user = self.user_id
        if user is None:
            return 0
        count = self.revoke_others()
        self.destroy()
        return count + 1


class AsyncSession(Session):
    """A session whose express methods are coroutines (ASGI)."""

    async def regenerate(self, *, keep_data: bool = False, renew: bool = False) -> None:
        """New id (fixation defence); the old one is destroyed. ``keep_data`` moves the data
        (and keeps the creation time for ``max_lifetime``, unless ``renew``)."""
        operations = self._cycle.regenerate(keep_data=keep_data, renew=renew)
        await settle_async(self._cycle, operations)

    async def destroy(self) -> None:
        """Delete the session from the store now; the browser is told to forget the cookie."""
        await settle_async(self._cycle, self._cycle.destroy())

    async def reload(self) -> None:
        """Replace the data with what the store holds now (``SessionNotFound`` if gone)."""
        (record,) = await run_async(self._cycle.config.async_store, self._cycle.reload())
        self._cycle.reloaded(record)

    async def save(self, *, strict: bool = False) -> None:
        """Write the session to the store now (done automatically at the end when needed).

        A session deleted elsewhere meanwhile is not written back; ``strict=True`` raises
        ``SessionGone`` then.
        """
        await settle_async(self._cycle, self._cycle.save(strict=strict))

    async def touch(self) -> None:
        """Reset ``cookie.max_age`` to its original value (no store call, as in express)."""
        self._cycle.touch()

    # -- sessions of this session's user (DESIGN "Sessions of a user") -------------------------
    async def sessions(self) -> list[SessionInfo]:
        """This user's live sessions, this one marked ``current`` ([] without a user)."""
        user = self.user_id
        if user is None:
            return []
        return await sessions_of_async(self._cycle.config, user, current=self.id)

    async def revoke_others(self) -> int:
        """ "Log out my other devices": destroy every other session of this user."""
        user = self.user_id
        return 0 if user is None else await revoke_async(self._cycle.config, user, keep=self.id)

    async def revoke_all(self) -> int:
        """ "Log out everywhere" (after a password change): every session of this user, this
        one included (destroyed as ``destroy()`` does, so the browser forgets the cookie)."""
        user = self.user_id
        if user is None:
            return 0
        count = await self.revoke_others()
        await self.destroy()
        return count + 1


class SyncDriver(Generic[S]):
    """Loads and finishes sessions against ``config.store`` with blocking calls.

    An async store is refused here (``ConfigError``), so every sync adapter refuses it alike.
    """

    # The overloads type ``SyncDriver(config)`` as ``SyncDriver[SyncSession]`` (no annotation).
    @overload
    def __init__(self: SyncDriver[SyncSession], config: SessionConfig) -> None: ...
    @overload
    def __init__(self, config: SessionConfig, session_class: type[S]) -> None: ...
    def __init__(self, config: SessionConfig, session_class: type[Any] = SyncSession) -> None:
        require_sync_store(config.store, "SyncDriver")
        self.config = config
        self.session_class: type[S] = session_class

    def begin(self, request: RequestReceived) -> SessionCycle[S] | None:
        """Load (or create) the session; ``None`` outside the cookie path.

        In ``"lock"`` mode a request with a valid cookie takes the session's lock here
        (``SessionLockTimeout`` after ``lock_timeout``); ``end`` or ``abort`` releases it.
        """
        cycle = SessionCycle(self.config, request, self.session_class, locking=True)
        if not cycle.in_scope:
            return None
        op = cycle.begin()
        if op is not None:
            load_sync(cycle, op)
        return cycle

    def end(self, cycle: SessionCycle[S], now: datetime | None = None) -> Decision:
        """Decide, and finish the store operations before the response is sent."""
        try:
            settle_sync(cycle, cycle.decide(now).operations)
        except BaseException:
            release_sync(cycle)
            raise
        return cycle.decision

    def end_late(self, cycle: SessionCycle[S]) -> None:
        """After a streamed body: save changes made after the headers went out."""
        settle_sync(cycle, cycle.late_operations())

    def abort(self, cycle: SessionCycle[S]) -> None:
        """The app failed: write nothing, release the session's lock if this request holds it.

        Harmless after ``end`` (or twice), so adapters can call it from any error path.
        """
        release_sync(cycle)


class AsyncDriver(Generic[S]):
    """Loads and finishes sessions against ``config.async_store`` with awaits."""

    @overload
    def __init__(self: AsyncDriver[AsyncSession], config: SessionConfig) -> None: ...
    @overload
    def __init__(self, config: SessionConfig, session_class: type[S]) -> None: ...
    def __init__(self, config: SessionConfig, session_class: type[Any] = AsyncSession) -> None:
        self.config = config
        self.session_class: type[S] = session_class

    async def begin(self, request: RequestReceived) -> SessionCycle[S] | None:
        """Load (or create) the session; ``None`` outside the cookie path (see ``SyncDriver``)."""
        cycle = SessionCycle(self.config, request, self.session_class, locking=True)
        if not cycle.in_scope:
            return None
        op = cycle.begin()
        if op is not None:
            await load_async(cycle, op)
        return cycle

    async def end(self, cycle: SessionCycle[S], now: datetime | None = None) -> Decision:
        """Decide, and finish the store operations before the response is sent."""
        try:
            await settle_async(cycle, cycle.decide(now).operations)
        except BaseException:
            await release_async(cycle)
            raise
        return cycle.decision

    async def end_late(self, cycle: SessionCycle[S]) -> None:
        """After a streamed body: save changes made after the headers went out."""
        await settle_async(cycle, cycle.late_operations())

    async def abort(self, cycle: SessionCycle[S]) -> None:
        """The app failed: write nothing, release the session's lock if this request holds it."""
        await release_async(cycle)
