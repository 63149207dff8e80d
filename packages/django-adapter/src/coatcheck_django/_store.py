"""``SessionStore``: the ``SESSION_ENGINE`` class, and what ``request.session`` is.

Django's persistence API is mapped onto express's session methods:

============================  ===========================================================
Django                        coatcheck (express)
============================  ===========================================================
``save(must_create=False)``   ``save()``: written now, not repeated at the end
``cycle_key()``               ``regenerate(keep_data=True)``: new id, data kept (login)
``flush()``                   ``destroy()``; data added later gets a new id (logout)
``delete()``                  ``destroy()``; ``delete(key)`` destroys that (verified) id
``create()``                  a new id for the current data, saved now
``load()`` / ``exists(key)``  the store's ``get`` (``load()``: the stored data, or ``{}``)
``clear_expired()``           the store's ``prune()``, when it has one
============================  ===========================================================

Each has its native ``a``-prefixed coroutine. The class is composed by concept: express's
methods (``_express.py``), Django's expiry API (``_expiry.py``), sessions of a user
(``_users.py``), over the plumbing of ``_base.py``; this module is Django's persistence API.
"""

from __future__ import annotations

from typing import Any

from coatcheck import (
    destroy_by_cookie,
    destroy_by_cookie_async,
    read_record,
    read_record_async,
    session_exists,
    session_exists_async,
    stored_data,
)

from ._expiry import ExpiryMethods
from ._express import ExpressMethods
from ._settings import load_config
from ._users import UserSessions


class SessionStore(ExpressMethods, ExpiryMethods, UserSessions):
    """A Django session (``SessionBase``) backed by coatcheck: express's cookie, store and rules.

    Besides the whole Django API it has express's ``id`` (the bare id), ``cookie``,
    ``regenerate(keep_data=False)``, ``destroy()``, ``reload()``, ``touch()`` and ``save()``.
    """

    def cycle_key(self) -> None:
        self.regenerate(keep_data=True)

    async def acycle_key(self) -> None:
        await self.aregenerate(keep_data=True)

    def flush(self) -> None:
        """Logout: the record is destroyed now; unless the session gets data again in this
        request, nothing is stored and the cookie is expired (as Django)."""
        self.clear()
        self.destroy()
        self._flushed = True

    async def aflush(self) -> None:
        (await self._aget_session()).clear()
        self.modified = True
        await self.adestroy()
        self._flushed = True

    def clear(self) -> None:
        self._session.clear()
        self.modified = True

    def is_empty(self) -> bool:
        """Django's test: no ``session_key`` and no data."""
        if self.session_key is not None:
            return False
        return self._pending is not None or not self._data(self._cycle)

    def create(self) -> None:
        cycle = self._active()
        if cycle is not None:
            self._flushed = False
            cycle.regenerate(keep_data=True)  # Django's create() leaves the old record alone,
            self._settle(cycle.save())  # so its StoreDestroy is not run; cycle_key() does run it

    async def acreate(self) -> None:
        cycle = await self._aactive()
        if cycle is not None:
            self._flushed = False
            cycle.regenerate(keep_data=True)
            await self._asettle(cycle.save())

    def delete(self, session_key: str | None = None) -> None:
        cycle = self._active()
        if cycle is None:
            return
        if session_key is None or session_key == self.session_key:
            self._settle(cycle.destroy())
        else:
            destroy_by_cookie(cycle.config, session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        cycle = await self._aactive()
        if cycle is None:
            return
        if session_key is None or session_key == self.session_key:
            await self._asettle(cycle.destroy())
        else:
            await destroy_by_cookie_async(cycle.config, session_key)

    def exists(self, session_key: str | None) -> bool:
        config = self.config
        return config is not None and session_exists(config, session_key)

    async def aexists(self, session_key: str | None) -> bool:
        config = self.config
        return config is not None and await session_exists_async(config, session_key)

    def load(self) -> dict[str, Any]:
        """Django's ``load()``: the data stored for this session (``{}`` if none)."""
        if self._pending is not None:
            return self._get_session()  # the lazy first load
        cycle = self._cycle
        if cycle is None or not isinstance(cycle.session_id, str):
            return {}
        return stored_data(read_record(cycle.config, cycle.session_id))

    async def aload(self) -> dict[str, Any]:
        if self._pending is not None:
            return await self._aget_session()
        cycle = self._cycle
        if cycle is None or not isinstance(cycle.session_id, str):
            return {}
        return stored_data(await read_record_async(cycle.config, cycle.session_id))

    @classmethod
    def clear_expired(cls) -> None:
        """``manage.py clearsessions``: the store's ``prune()``; stores without one expire
        entries themselves (TTLs, expiry on read), so there is nothing to do."""
        prune = getattr(load_config().store, "prune", None)
        if callable(prune):
            prune()


def get_session(request: Any) -> SessionStore:
    """``request.session`` typed as what it is, so ``get_session(request).cookie.max_age = 60``
    and ``get_session(request).regenerate()`` type-check (Django ships no type hints).

    ``RuntimeError`` when the request has no coatcheck session (the middleware is not wired).
    """
    session = getattr(request, "session", None)
    if not isinstance(session, SessionStore):
        raise RuntimeError(
            "request.session is not a coatcheck session: add coatcheck_django.SessionMiddleware "
            'to MIDDLEWARE and set SESSION_ENGINE = "coatcheck_django"'
        )
    return session
