"""The session object the app sees: a ``dict`` of JSON values, plus ``id`` and ``cookie``.

Reads and writes are tracked (``accessed``) so the response can carry ``Vary: Cookie``; whether
the data *changed* is decided by hashing its JSON, as express does, so nested mutations count.
``SyncSession`` and ``AsyncSession`` (in ``_drivers``, next to what runs their store effects) add
express's methods as plain calls or coroutines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import CoatcheckError
from ._merge import RECORD_KEYS as _RESERVED  # express's cookie, coatcheck's own object

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._cycle import SessionCycle
    from ._session_cookie import SessionCookie


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
        # (no ``dict.__init__``: a new dict is already empty)
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

    @property
    def modified(self) -> bool:
        """express's ``isModified``, now: the id or the data changed since creation or load
        (found by hashing the data, so nested changes count; Starlette's ``Session.modified``)."""
        return self._cycle.is_modified()

    def mark_accessed(self) -> None:
        """Starlette's hook: the app read the session."""
        self.accessed = True

    def mark_modified(self) -> None:
        """Starlette's hook: the app wrote the session (changes are found by hashing anyway)."""
        self.accessed = True

    def _replace_data(self, data: Mapping[str, Any]) -> None:
        """Swap in new data without counting it as the app's access."""
        dict.clear(self)
        dict.update(self, data)
        for key in _RESERVED:
            if dict.__contains__(self, key):
                dict.__delitem__(self, key)

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
        # As Starlette counts it: popping a key that is not there is no use of the session.
        if dict.__contains__(self, key):
            self.accessed = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()  # KeyError on an empty session: not a use (Starlette)
        self.accessed = True
        return item

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
