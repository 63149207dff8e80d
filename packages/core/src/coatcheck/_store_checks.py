"""Start-up checks of the ``store`` option and of what depends on it: a store instance with
express's methods, sync where only blocking calls are made, ids at rest a Node app can read,
the user index handed over once. Each refusal is a ``ConfigError`` naming the option."""

from __future__ import annotations

import warnings
from typing import Any

from ._errors import ConfigError


def check_id_at_rest(id_at_rest: Any, store: Any) -> None:
    """``"plain"`` or ``"hmac"``; ``"hmac"`` is refused for a store shared with Node.

    An Express app looks sessions up by their plain id, so with ``"hmac"`` it would find none
    of ours (and we none of its). A store declares the sharing with ``shared_with_node = True``.
    """
    if id_at_rest not in ("plain", "hmac"):
        raise ConfigError("id_at_rest", f'must be "plain" or "hmac", not {id_at_rest!r}')
    if id_at_rest == "hmac" and getattr(store, "shared_with_node", False) is True:
        raise ConfigError(
            "id_at_rest",
            '"hmac" stores sessions under keys an Express app cannot compute; this store is '
            'shared with Node (shared_with_node=True): use id_at_rest="plain"',
        )


def check_store(store: Any) -> Any:
    """The store to use: a default MemoryStore, or one with express's required methods."""
    from .stores.memory import MemoryStore, looks_like_production

    if store is None:
        store = MemoryStore()
    if isinstance(store, type):  # ``store=SQLiteStore``: its methods exist but are unbound
        raise ConfigError(
            "store", f"pass an instance: {store.__name__}(...), not the class {store.__name__}"
        )
    missing = [m for m in ("get", "set", "destroy") if not callable(getattr(store, m, None))]
    if missing:
        raise ConfigError("store", f"store must implement get, set and destroy; lacks {missing}")
    if isinstance(store, MemoryStore) and looks_like_production():
        warnings.warn(
            "coatcheck MemoryStore is not designed for a production environment, as it will "
            "leak memory, and will not scale past a single process.",
            RuntimeWarning,
            stacklevel=5,
        )
    return store


def index_users_of(store: Any, user_key: Any) -> None:
    """Validate ``user_key`` and hand it, once, to a store that keeps a user index.

    A store without ``index_users`` is accepted: ``sessions_of``/``revoke`` then raise
    ``NotImplementedError`` naming it, so an app that never lists sessions is not refused.
    """
    from .stores._users import check_user_key

    key = check_user_key(user_key)
    index_users = getattr(store, "index_users", None)
    if callable(index_users):
        index_users(key)


def require_sync_store(store: Any, where: str = "this adapter") -> None:
    """Refuse an async store where only blocking calls are made: every write would be a
    coroutine never awaited, lost behind a 200."""
    from .stores._async import is_async_store

    if is_async_store(store):
        raise ConfigError(
            "store",
            f"{type(store).__name__} is an async store and {where} runs sync code: use its "
            "sync twin (RedisStore, not AsyncRedisStore; PostgresStore, not AsyncPostgresStore)",
        )
