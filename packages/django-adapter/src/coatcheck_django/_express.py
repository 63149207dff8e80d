"""express's session methods on a Django session: ``id``, ``cookie``, ``regenerate``,
``destroy``, ``reload``, ``touch`` and ``save`` (which also serves Django's ``must_create``), each
with its ``a``-prefixed coroutine. Every store effect runs through the core (``_base.py``)."""

from __future__ import annotations

from django.contrib.sessions.backends.base import CreateError, UpdateError

from coatcheck import SessionCookie, SessionGone, read_record, read_record_async

from ._base import BoundSession


class ExpressMethods(BoundSession):
    """express's ``req.session`` API, as plain calls and as coroutines."""

    @property
    def id(self) -> str | None:
        """The bare session id (express's ``req.session.id``); ``None`` when detached."""
        cycle = self._active()
        return None if cycle is None else cycle.session_id

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings (``max_age`` in seconds, ``expires`` ...).

        ``RuntimeError`` outside the cookie path, where the session is never saved (as Flask's
        null session refuses writes): there is no cookie to change.
        """
        cycle = self._active()
        if cycle is None:
            raise RuntimeError("no session cookie outside the cookie path (cookie.path option)")
        return cycle.cookie

    def regenerate(self, *, keep_data: bool = False, renew: bool = False) -> None:
        """New id (fixation defence); the old one is destroyed. ``keep_data`` moves the data
        (and the creation time ``max_lifetime`` counts from, unless ``renew``)."""
        cycle = self._active()
        if cycle is not None:
            self._settle(cycle.regenerate(keep_data=keep_data, renew=renew))
        self.modified, self._flushed = True, False

    async def aregenerate(self, *, keep_data: bool = False, renew: bool = False) -> None:
        cycle = await self._aactive()
        if cycle is not None:
            await self._asettle(cycle.regenerate(keep_data=keep_data, renew=renew))
        self.modified, self._flushed = True, False

    def destroy(self) -> None:
        """Delete the session from the store now; the browser is told to forget the cookie."""
        cycle = self._active()
        if cycle is not None:
            self._settle(cycle.destroy())

    async def adestroy(self) -> None:
        cycle = await self._aactive()
        if cycle is not None:
            await self._asettle(cycle.destroy())

    def reload(self) -> None:
        """Replace the data with the stored copy (``coatcheck.SessionNotFound`` if gone)."""
        cycle = self._active()
        if cycle is not None:
            (record,) = self._run(cycle.reload())
            cycle.reloaded(record)

    async def areload(self) -> None:
        cycle = await self._aactive()
        if cycle is not None:
            (record,) = await self._arun(cycle.reload())
            cycle.reloaded(record)

    def touch(self) -> None:
        """Reset ``cookie.max_age`` to its original value (no store call, as in express)."""
        cycle = self._active()
        if cycle is not None:
            cycle.touch()

    def save(self, must_create: bool = False) -> None:
        """Write the session now (express's ``save``); ``must_create`` refuses an existing id."""
        cycle = self._active()
        if cycle is None:
            return
        self._revive(always=True)
        if must_create and read_record(cycle.config, cycle.session_id) is not None:
            raise CreateError
        try:
            self._settle(cycle.save(strict=True))
        except SessionGone as exc:  # deleted elsewhere (a logout): never resurrected
            raise UpdateError from exc

    async def asave(self, must_create: bool = False) -> None:
        cycle = await self._aactive()
        if cycle is None:
            return
        self._revive(always=True)
        if must_create and await read_record_async(cycle.config, cycle.session_id) is not None:
            raise CreateError
        try:
            await self._asettle(cycle.save(strict=True))
        except SessionGone as exc:
            raise UpdateError from exc
