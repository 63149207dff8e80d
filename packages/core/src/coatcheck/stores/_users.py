"""The user index shared by every shipped store (DESIGN "Sessions of a user").

A store learns which top-level session key holds the user's id once, from ``SessionConfig``
(``store.index_users(user_key)``), and from then on keeps a user -> session ids index in step
with every write. These helpers say what "the user of a record" is, so that all stores agree:
a non-empty string, or an integer (indexed as its decimal string, so ``5`` and ``"5"`` are the
same user, as they are in PostgreSQL's ``->>``). Anything else (missing, ``None``, a bool, a
list ...) is "no user": such a session is not indexed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._errors import ConfigError

#: What a user key may look like: it is spliced into SQL index expressions and JSON paths, so
#: it is kept to characters that need no quoting anywhere.
USER_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")


def check_user_key(user_key: Any) -> str:
    """``user_key`` validated (``ConfigError`` naming the option otherwise)."""
    if not isinstance(user_key, str) or not USER_KEY_RE.fullmatch(user_key):
        raise ConfigError(
            "user_key",
            f"must be a top-level session key matching [A-Za-z_][A-Za-z0-9_-]*, not {user_key!r}",
        )
    if user_key == "cookie":
        raise ConfigError("user_key", "'cookie' is the session cookie, not a user id")
    return user_key


def user_id(value: Any) -> str | None:
    """A stored user value as the index spells it, or ``None`` when it is no user id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    return None


def record_user(record: Mapping[str, Any], user_key: str | None) -> str | None:
    """The user a record belongs to under ``user_key`` (``None``: not indexed)."""
    if user_key is None or not isinstance(record, Mapping):
        return None
    return user_id(record.get(user_key))


def check_user(user: Any) -> str:
    """A user argument (``sessions_of``, ``revoke``, the CLI) as the index spells it."""
    found = user_id(user)
    if found is None:
        raise TypeError(f"a user id is a non-empty str or an int, not {user!r}")
    return found


class UserKeyHolder:
    """``index_users`` for a store: remembers the key once; a second, different key is refused
    (two configurations sharing one store must agree on what the user is)."""

    _user_key: str | None = None

    @property
    def user_key(self) -> str | None:
        """The session key this store indexes users by (``None``: no index)."""
        return self._user_key

    def index_users(self, user_key: str) -> None:
        """Keep a user -> sessions index by ``record[user_key]`` from now on (idempotent)."""
        key = check_user_key(user_key)
        if self._user_key is not None and self._user_key != key:
            raise ConfigError(
                "user_key",
                f"{type(self).__name__} already indexes users by {self._user_key!r}, "
                f"not {key!r}: every configuration sharing a store must use one user_key",
            )
        if self._user_key is None:
            self._user_key = key
            self._user_index_enabled(key)

    def _user_index_enabled(self, user_key: str) -> None:
        """Hook: build what the index needs (an SQL index ...). Called once."""

    def _require_user_key(self) -> str:
        if self._user_key is None:
            raise NotImplementedError(
                f"{type(self).__name__} keeps no user index: set the user_key option "
                "(or call store.index_users(key)) before asking for a user's sessions"
            )
        return self._user_key
