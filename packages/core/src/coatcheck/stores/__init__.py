"""Session stores: the protocols, and the stores coatcheck ships.

``MemoryStore`` is for development and tests; ``SQLiteStore`` is the embedded persistent
default; ``RedisStore``/``AsyncRedisStore`` (extra ``coatcheck[redis]``) and
``PostgresStore``/``AsyncPostgresStore`` (extra ``coatcheck[postgres]``) are for production and
read/write connect-redis and connect-pg-simple formats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._async import to_async
from ._codec import (
    decode_record,
    encode_record,
    expires_at,
    is_expired,
    store_expiry,
    ttl_seconds,
)
from ._protocol import (
    AsyncLockingStore,
    AsyncStore,
    AsyncVersionedStore,
    ExpiryReportingStore,
    LockingStore,
    Record,
    Store,
    Versioned,
    VersionedStore,
)
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import AsyncPostgresStore, PostgresStore
    from .redis import AsyncRedisStore, RedisStore

__all__ = [
    "AsyncLockingStore",
    "AsyncPostgresStore",
    "AsyncRedisStore",
    "AsyncStore",
    "AsyncVersionedStore",
    "ExpiryReportingStore",
    "LockingStore",
    "MemoryStore",
    "PostgresStore",
    "Record",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "Versioned",
    "VersionedStore",
    "decode_record",
    "encode_record",
    "expires_at",
    "is_expired",
    "store_expiry",
    "to_async",
    "ttl_seconds",
]

_LAZY = {
    "RedisStore": ".redis",
    "AsyncRedisStore": ".redis",
    "PostgresStore": ".postgres",
    "AsyncPostgresStore": ".postgres",
}


def __getattr__(name: str) -> Any:
    """Import the driver-backed stores only when asked, so their extras stay optional."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
