"""The session object the app sees: a ``dict`` of JSON values, plus ``id`` and ``cookie``.

Reads and writes are tracked (``accessed``) so the response can carry ``Vary: Cookie``; whether
the data *changed* is decided by hashing its JSON, as express does, so nested mutations count.
``SyncSession`` and ``AsyncSession`` add express's methods as plain calls or coroutines; their
store effects run through the drivers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import CoatcheckError

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._cycle import SessionCycle
    from ._session_cookie import SessionCookie
    from ._users import SessionInfo

#: Record keys that are not session data: express's cookie, and coatcheck's own object.
_RESERVED = frozenset({"cookie", "_coatcheck"})


class SessionNotFound(CoatcheckError, LookupError):
    """``reload()`` found nothing in the store (express: "failed to load session")."""


def _check_key(key: Any) -> None:
    if key == "cookie":
        raise KeyError("'cookie' is reserved for the session cookie; use session.cookie")
    if key == "_coatcheck":
        raise KeyError("'_coatcheck' is reserved for coatcheck's own bookkeeping")


class Session(dict[str, Any]):
    """Session data (a ``dict``) with express's ``id`` and ``cookie``."""

    def __init__(self, cycle: SessionCycle[Any]) -> None:
        super().__init__()
        self._cycle = cycle
        self.accessed = False

    # -- express's properties ---------------------------------------------------------------
    @property
    def id(self) -> str:
        """The session id (express's ``req.session.id`` / ``req.sessionID``)."""
        return self._cycle.session_id

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings; changes apply to this session only."""
        return self._cycle.cookie

    @property
    def cycle(self) -> SessionCycle[Any]:
        """The request cycle that owns this session (for adapters)."""
        return self._cycle

    def mark_accessed(self) -> None:
        """Starlette's hook: the app read the session."""
        self.accessed = True

    def mark_modified(self) -> None:
        """Starlette's hook: the app wrote the session (changes are found by hashing anyway)."""
        self.accessed = True

    def _replace_data(self, data: Mapping[str, Any]) -> None:
        """Swap in new data without counting it as the app's access."""
        dict.clear(self)
        dict.update(self, ((k, v) for k, v in data.items() if k not in _RESERVED))

    # -- the dict interface, tracked -------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        _check_key(key)
        self.accessed = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.accessed = True
        super().__delitem__(key)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return super().__iter__()

    def __len__(self) -> int:
        self.accessed = True
        return super().__len__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._cycle.id_prefix} {dict.__repr__(self)}>"

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def keys(self) -> Any:
        self.accessed = True
        return super().keys()

    def values(self) -> Any:
        self.accessed = True
        return super().values()

    def items(self) -> Any:
        self.accessed = True
        return super().items()

    def setdefault(self, key: str, default: Any = None) -> Any:
        _check_key(key)
        self.accessed = True
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self.accessed = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.accessed = True
        return super().popitem()

    def clear(self) -> None:
        self.accessed = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        incoming = dict(*args, **kwargs)
        for key in _RESERVED.intersection(incoming):
            _check_key(key)
        self.accessed = True
        super().update(incoming)

    # ``session |= {...}``: dict's own ``|=`` skips update(), so tracking and the reserved key.
    # (mypy insists an in-place operator match dict.__or__'s generic overload.)
    def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> dict[str, Any]:
        self.accessed = True
        return dict(self)

    # dict's default equality and hashing stay: a session equals a dict with the same data.
    __hash__ = None

    @property
    def user_id(self) -> str | None:
        """The user id under the ``user_key`` option (``None``: no user, or no user_key)."""
        from .stores._users import user_id

        key = self._cycle.config.user_key
        return None if key is None else user_id(dict.get(self, key))


class SyncSession(Session):
    """A session whose express methods are plain calls (Flask, Django, WSGI)."""

    def regenerate(self, *, keep_data: bool = False, renew: bool = False) -> None:
        """New id (fixation defence); the old one is destroyed. ``keep_data`` moves the data
        (and keeps the creation time for ``max_lifetime``, unless ``renew``)."""
        from ._drivers import run_sync

        run_sync(self._cycle.config.store, self._cycle.regenerate(keep_data=keep_data, renew=renew))

    def destroy(self) -> None:
        """Delete the session from the store now; the browser is told to forget the cookie."""
        from ._drivers import run_sync

        run_sync(self._cycle.config.store, self._cycle.destroy())

    def reload(self) -> None:
        """Replace the data with what the store holds now (``SessionNotFound`` if gone)."""
        from ._drivers import run_sync

        (record,) = run_sync(self._cycle.config.store, self._cycle.reload())
        self._cycle.reloaded(record)

    def save(self) -> None:
        """Write the session to the store now (done automatically at the end when needed)."""
        from ._drivers import run_sync

        run_sync(self._cycle.config.store, self._cycle.save())

    def touch(self) -> None:
        """Reset ``cookie.max_age`` to its original value (no store call, as in express)."""
        self._cycle.touch()

    # -- sessions of this session's user (DESIGN "Sessions of a user") -------------------------
    def sessions(self) -> list[SessionInfo]:
        """This user's live sessions, this one marked ``current`` ([] without a user)."""
        from ._users import sessions_of

        user = self.user_id
        return [] if user is None else sessions_of(self._cycle.config, user, current=self.id)

    def revoke_others(self) -> int:
        """ "Log out my other devices": destroy every other session of this user."""
        from ._users import revoke

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
        from ._drivers import run_async

        operations = self._cycle.regenerate(keep_data=keep_data, renew=renew)
        await run_async(self._cycle.config.async_store, operations)

    async def destroy(self) -> None:
        """Delete the session from the store now; the browser is told to forget the cookie."""
        from ._drivers import run_async

        await run_async(self._cycle.config.async_store, self._cycle.destroy())

    async def reload(self) -> None:
        """Replace the data with what the store holds now (``SessionNotFound`` if gone)."""
        from ._drivers import run_async

        (record,) = await run_async(self._cycle.config.async_store, self._cycle.reload())
        self._cycle.reloaded(record)

    async def save(self) -> None:
        """Write the session to the store now (done automatically at the end when needed)."""
        from ._drivers import run_async

        await run_async(self._cycle.config.async_store, self._cycle.save())

    async def touch(self) -> None:
        """Reset ``cookie.max_age`` to its original value (no store call, as in express)."""
        self._cycle.touch()

    # -- sessions of this session's user (DESIGN "Sessions of a user") -------------------------
    async def sessions(self) -> list[SessionInfo]:
        """This user's live sessions, this one marked ``current`` ([] without a user)."""
        from ._users import sessions_of_async

        user = self.user_id
        if user is None:
            return []
        return await sessions_of_async(self._cycle.config, user, current=self.id)

    async def revoke_others(self) -> int:
        """ "Log out my other devices": destroy every other session of this user."""
        from ._users import revoke_async

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
